"""Two of the service's limits, each with its own direct test.

* Training needs at least 5 images in every trained tag: a spec with 4 images in a tag is
  refused by `cvspec validate` (cvspec.spec.checks), one with 5 is not; and the planner's
  rule (cvspec.rules) at its boundary, counting the images kept outside the spec.
* An upload call carries at most 64 images (cvspec.upload): every CreateImagesFromFiles the
  emulator received (its call recorder, cvspec.emulator.recorder) holds 64 images or fewer,
  and none was refused, so no batch had to be split.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cvspec import rules
from cvspec.desired import DesiredImage
from tests.apply_support import Emulator, SpecModel, assert_matches, emulator, snapshot
from tests.helpers import run_cli


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with emulator(tmp_path_factory.mktemp("limits-emulator"), record=True) as running:
        yield running


def _model(name: str, red: int, blue: int, training: bool = True) -> SpecModel:
    return SpecModel(
        name=name,
        tags={"red": "", "blue": ""},
        images={"red": list(range(red)), "blue": list(range(1000, 1000 + blue))},
        training=training,
        publish=None,
    )


@pytest.mark.parametrize(
    ("red", "problem"),
    [
        (5, None),
        (4, "tag 'red' has 4 images; training needs at least 5 per tag"),
        (1, "tag 'red' has 1 image; training needs at least 5 per tag"),
    ],
)
def test_a_tag_needs_five_images_before_anything_is_planned(
    tmp_path: Path, red: int, problem: str | None
) -> None:
    spec = _model("rules-five", red=red, blue=5).write(tmp_path)
    checked = run_cli("validate", spec.name, cwd=tmp_path)
    if problem is None:
        assert checked.returncode == 0, checked.stderr
    else:
        assert checked.returncode == 1
        assert checked.stderr.splitlines() == [
            f"spec.yaml:8:9: tags[1].name: {problem}",
            "Error: the spec has 1 problem(s)",
        ]


def _image(n: int, *tags: str) -> DesiredImage:
    return DesiredImage(f"k{n}", f"s{n}", f"img/{n}.png", tags)


@pytest.mark.parametrize(
    ("spec", "kept", "unmanaged", "short"),
    [
        (5, 0, 0, None),
        (4, 0, 0, "'a' (4 images)"),
        (3, 1, 1, None),
        (
            2,
            1,
            1,
            "'a' (4 images: 2 in the spec, 1 uploaded by cvspec, no longer in the "
            "spec, kept, 1 not uploaded by cvspec)",
        ),
        (0, 0, 1, "'a' (1 image: 0 in the spec, 1 not uploaded by cvspec)"),
    ],
)
def test_the_five_image_minimum_counts_every_image_training_will_use(
    spec: int, kept: int, unmanaged: int, short: str | None
) -> None:
    images = [_image(n, "a") for n in range(spec)] + [_image(100 + n, "b") for n in range(5)]
    outside = [(f"kept{n}", ("a",), rules.KEPT) for n in range(kept)]
    outside += [(f"portal{n}", ("a",), rules.UNMANAGED) for n in range(unmanaged)]
    types = {"a": "Regular", "b": "Regular"}
    trained = rules.trained_set(types, {t for i in images for t in i.tags}, outside)
    found = rules.problems(trained, images, multiclass=True)
    if short is None:
        assert found == ()
    else:
        assert found == (
            f"tag {short} would have fewer than the 5 images every trained tag needs; give it "
            "more images in the spec, or remove it from the spec (tags the spec does not list "
            "are not trained)",
        )


def test_upload_calls_never_carry_more_than_64_images(emu: Emulator, tmp_path: Path) -> None:
    model = _model("batch-limit", red=65, blue=65, training=False)
    spec = model.write(tmp_path)
    assert emu.server.recorder is not None
    emu.server.recorder.clear()
    result = run_cli("apply", spec.name, "--auto-approve", cwd=tmp_path, env=emu.env())
    assert result.returncode == 0, result.stderr
    uploads = [c for c in emu.server.recorder.take() if c.operation == "CreateImagesFromFiles"]
    assert [c.status for c in uploads] == [200] * len(uploads)  # none refused, none split
    assert sorted(len(c.body["images"]) for c in uploads) == [2, 64, 64]
    assert_matches(snapshot(emu.service, model.name), model)
