"""Property: for any sequence of spec edits (add, remove and retag images; add and remove
tags; change descriptions), every apply brings the service to exactly the spec, and a fresh
plan is then empty. cvspec runs in-process through click's CliRunner (fast), against an
emulator served from the test process."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from cvspec.cli import main
from tests.apply_support import Emulator, SpecModel, assert_matches, edit_images, emulator, snapshot

TAGS = ("ant", "bee", "cat", "dog")
SEEDS = range(40)
EDITS = ("add_image", "remove_image", "retag", "add_tag", "remove_tag", "describe")
_names = itertools.count()


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with emulator(tmp_path_factory.mktemp("emulator")) as running:
        yield running


def _edit(model: SpecModel, kind: str, a: int, b: int) -> None:
    """Apply one edit to the model; edits that do not fit the current model do nothing."""
    tag = TAGS[a % len(TAGS)]
    if edit_images(model, kind, tag, SEEDS[b % len(SEEDS)], b):
        return
    if kind == "add_tag":
        model.tags.setdefault(tag, "")
    elif kind == "remove_tag" and tag in model.tags:
        del model.tags[tag]
        model.images.pop(tag, None)
    elif kind == "describe":
        if tag in model.tags:
            model.tags[tag] = f"described {b}"
        model.description = f"edited {a}"


def _converged(runner: CliRunner, emu: Emulator, spec: Path, model: SpecModel) -> None:
    env = emu.env()
    result = runner.invoke(main, ["apply", str(spec), "--auto-approve", "--rate", "100"], env=env)
    assert result.exit_code == 0, result.output
    assert_matches(snapshot(emu.service, model.name), model)
    plan = runner.invoke(main, ["plan", str(spec), "--detailed-exitcode"], env=env)
    assert plan.exit_code == 0, plan.output


@pytest.mark.slow
@settings(
    max_examples=6,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # a failure prints its example
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(
        st.tuples(st.sampled_from(EDITS), st.integers(0, 100), st.integers(0, 100)),
        min_size=1,
        max_size=4,
    )
)
def test_every_apply_converges_to_the_spec(
    emu: Emulator, tmp_path_factory: pytest.TempPathFactory, edits: list[tuple[str, int, int]]
) -> None:
    root = tmp_path_factory.mktemp("converge")
    model = SpecModel(
        name=f"converge-{next(_names)}",
        tags={"ant": "", "bee": ""},
        images={"ant": [0, 1, 2], "bee": [3, 4]},
        training=False,
        publish=None,
    )
    runner = CliRunner()
    _converged(runner, emu, model.write(root), model)
    for kind, a, b in edits:
        before = copy.deepcopy(model)
        _edit(model, kind, a, b)
        if not any(model.images.values()):
            model = before  # a spec whose image source matches no file is refused: skip
            continue
        _converged(runner, emu, model.write(root), model)


def _trainable(model: SpecModel) -> bool:
    """The service trains only with at least 2 tags of at least 5 images each."""
    counts = [len(seeds) for seeds in model.images.values()]
    return len(counts) >= 2 and min(counts) >= 5 and set(model.tags) == set(model.images)


@pytest.mark.slow
@settings(
    max_examples=3,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(("add_image", "remove_image", "retag")),
            st.integers(0, 1),
            st.integers(0, 100),
        ),
        min_size=2,
        max_size=3,
    )
)
def test_training_publishing_and_retention_converge(
    emu: Emulator, tmp_path_factory: pytest.TempPathFactory, edits: list[tuple[str, int, int]]
) -> None:
    root = tmp_path_factory.mktemp("converge-train")
    model = SpecModel(
        name=f"converge-train-{next(_names)}",
        tags={"ant": "", "bee": ""},
        images={"ant": [0, 1, 2, 3, 4, 5], "bee": [6, 7, 8, 9, 10, 11]},
        keep=2,
    )
    runner = CliRunner()
    _converged(runner, emu, model.write(root), model)
    for kind, a, b in edits:
        before = {tag: list(seeds) for tag, seeds in model.images.items()}
        _edit(model, kind, a, b)
        if not _trainable(model):
            model.images = before  # the spec would be refused: skip this edit
            continue
        _converged(runner, emu, model.write(root), model)
        snap = snapshot(emu.service, model.name)
        assert len(snap.iterations) <= 2  # publish.keep
        assert len(snap.published("latest")) == 1
