"""Publishing never takes the published model down, and the plan says what apply does to
publish names (issue 9): names move in place, a dropped name is removed only after the new
one is published, a refused publish leaves the previous publication serving, a gate failure
is remembered in the service, and an interrupted training is adopted, never piled up.

cvspec runs as a user runs it (CLI subprocesses) against an emulator served from the test
process; the tests read the service back through the official SDK.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cvspec.emulator.faults import FaultConfig, Stalls
from cvspec.sdk import call
from tests.apply_support import Emulator, SpecModel, emulator, png, snapshot
from tests.helpers import run_cli

BAD_RESOURCE = (
    "/subscriptions/0/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/nope"
)


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with emulator(tmp_path_factory.mktemp("emulator")) as running:
        yield running


def _model(name: str, **kw: Any) -> SpecModel:
    seeds = iter(range(10_000))
    return SpecModel(
        name=name,
        tags={"red": "", "blue": ""},
        images={t: [next(seeds) for _ in range(6)] for t in ("red", "blue")},
        learnable=True,
        **kw,
    )


def _write(model: SpecModel, root: Path, **publish: Any) -> Path:
    """Write the spec, with extra `publish` settings (e.g. prediction_resource)."""
    spec = model.write(root)
    if publish:
        doc = yaml.safe_load(spec.read_text())
        doc["publish"].update(publish)
        spec.write_text(yaml.safe_dump(doc, sort_keys=False))
    return spec


def _cli(emu: Emulator, spec: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=spec.parent, env=emu.env())


def _apply(emu: Emulator, spec: Path) -> subprocess.CompletedProcess[str]:
    return _cli(emu, spec, "apply", spec.name, "--auto-approve")


def _serves(emu: Emulator, model: SpecModel, publish_name: str) -> bool:
    """A prediction client calling `publish_name` gets an answer (not "Invalid iteration")."""
    snap = snapshot(emu.service, model.name)
    assert emu.service.prediction is not None
    try:
        call(
            emu.service.prediction.classify_image_with_no_store,
            snap.project_id,
            publish_name,
            png(1, hue=10),
        )
    except Exception:
        return False
    return True


def _published(emu: Emulator, model: SpecModel) -> dict[str, str]:
    return {pub: name for name, _, pub in snapshot(emu.service, model.name).iterations if pub}


def test_a_changed_publish_name_is_planned_as_removal_and_done_after_the_new_one(
    emu: Emulator, tmp_path: Path
) -> None:
    model = _model("rename-publish", publish="model-v1")
    spec = model.write(tmp_path)
    assert _apply(emu, spec).returncode == 0
    trained = _published(emu, model)["model-v1"]
    model.publish = "model-v2"
    spec = model.write(tmp_path)
    plan = _cli(emu, spec, "plan", spec.name, "--detailed-exitcode", "--no-color")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert "publish.model-v1" in plan.stdout and "publish.model-v2" in plan.stdout
    assert "clients calling 'model-v1' will fail" in plan.stdout
    result = _apply(emu, spec)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _published(emu, model) == {"model-v2": trained}
    assert _serves(emu, model, "model-v2") and not _serves(emu, model, "model-v1")
    assert _cli(emu, spec, "plan", spec.name, "--detailed-exitcode").returncode == 0


@pytest.mark.parametrize("retrain", [False, True], ids=["same iteration", "new iteration"])
def test_a_refused_publish_name_leaves_the_old_name_serving(
    emu: Emulator, tmp_path: Path, retrain: bool
) -> None:
    model = _model(f"refused-name-{retrain}", publish="model-v1")
    spec = model.write(tmp_path)
    assert _apply(emu, spec).returncode == 0
    before = _published(emu, model)
    model.publish = "digits:latest"  # the service refuses this name
    if retrain:
        model.images["red"].append(700)
    spec = model.write(tmp_path)
    result = _apply(emu, spec)
    assert result.returncode == 1
    assert "Invalid publish name" in result.stderr
    assert "Traceback" not in result.stderr
    assert _published(emu, model) == before
    assert _serves(emu, model, "model-v1")


@pytest.mark.parametrize("retrain", [False, True], ids=["same iteration", "new iteration"])
def test_a_refused_prediction_resource_leaves_the_old_publication_serving(
    emu: Emulator, tmp_path: Path, retrain: bool
) -> None:
    model = _model(f"refused-resource-{retrain}", publish="latest")
    spec = model.write(tmp_path)
    assert _apply(emu, spec).returncode == 0
    before = _published(emu, model)
    if retrain:
        model.images["blue"].append(701)
    spec = _write(model, tmp_path, prediction_resource=BAD_RESOURCE)
    result = _apply(emu, spec)
    assert result.returncode == 1
    assert "Invalid prediction resource" in result.stderr
    assert _published(emu, model) == before
    assert _serves(emu, model, "latest")


def test_retention_waits_for_the_new_iteration_to_be_published(
    emu: Emulator, tmp_path: Path
) -> None:
    model = _model("retention-after", publish="latest", keep=1)
    spec = model.write(tmp_path)
    assert _apply(emu, spec).returncode == 0
    before = _published(emu, model)
    model.images["red"].append(702)
    spec = _write(model, tmp_path, prediction_resource=BAD_RESOURCE)
    plan = _cli(emu, spec, "plan", spec.name, "--format", "json")
    kinds = [c["operations"] for c in __import__("json").loads(plan.stdout)["resource_changes"]]
    flat = [op for ops in kinds for op in ops]
    assert flat.index("DeleteIteration") > flat.index("Publish"), flat
    assert _apply(emu, spec).returncode == 1  # the publish is refused ...
    assert _published(emu, model) == before  # ... so nothing old was deleted
    assert _serves(emu, model, "latest")


def test_a_gate_failure_is_remembered_and_not_retried_until_the_gates_change(
    emu: Emulator, tmp_path: Path
) -> None:
    model = _model("gates-remembered", publish="latest")
    spec = model.write(tmp_path)
    assert _apply(emu, spec).returncode == 0
    before = _published(emu, model)
    model.images["red"] += [800, 801]
    model.gates = {"min_precision": 1.0, "min_recall": 1.0, "per_tag": {"red": {"min_ap": 1.0}}}
    model.learnable = False  # the new images are noise
    spec = model.write(tmp_path)
    failed = _apply(emu, spec)
    assert failed.returncode == 1 and "quality gate failed" in failed.stderr
    names = [name for name, _, _ in snapshot(emu.service, model.name).iterations]
    assert any("-failed-" in name for name in names), names
    plan = _cli(emu, spec, "plan", spec.name, "--detailed-exitcode", "--no-color")
    assert plan.returncode == 3, plan.stdout + plan.stderr
    assert "failed the quality gates" in plan.stdout
    assert "No changes to apply, but the spec is not met" in plan.stdout
    markdown = _cli(emu, spec, "plan", spec.name, "--format", "markdown").stdout
    assert "### No changes to apply: the quality gates failed" in markdown
    again = _apply(emu, spec)
    assert again.returncode == 0 and "Publish" not in again.stdout
    assert _published(emu, model) == before
    model.gates = {}  # the team accepts the model
    spec = model.write(tmp_path)
    plan = _cli(emu, spec, "plan", spec.name, "--detailed-exitcode", "--no-color")
    assert plan.returncode == 2 and "publish.latest" in plan.stdout
    assert _apply(emu, spec).returncode == 0
    published = _published(emu, model)["latest"]
    assert published != before["latest"] and "-failed-" not in published
    assert _cli(emu, spec, "plan", spec.name, "--detailed-exitcode").returncode == 0


def test_a_publish_move_under_faults_never_unpublishes_the_serving_iteration(
    tmp_path: Path,
) -> None:
    """Throttled, failing and dropped calls (30 %): the name still moves in one call, so the
    service never sees an UnpublishIteration, and the new iteration ends up serving."""
    faults = FaultConfig(rate=0.3, kinds=("429", "503", "drop"), retry_after_seconds=0, seed=7)
    with emulator(tmp_path / "emulator", record=True) as emu:
        model = _model("publish-under-faults", publish="latest")
        spec = model.write(tmp_path)
        assert _apply(emu, spec).returncode == 0
        before = _published(emu, model)["latest"]
        model.images["red"].append(703)
        spec = model.write(tmp_path)
        assert emu.server.recorder is not None
        emu.server.recorder.clear()
        emu.server.set_faults(faults)
        result = _apply(emu, spec)
        emu.server.set_faults(None)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "retried" in result.stdout
        calls = [c.operation for c in emu.server.recorder.calls()]
        assert "UnpublishIteration" not in calls, calls
        assert calls.count("PublishIteration") == 1, calls
        after = _published(emu, model)["latest"]
        assert after != before and _serves(emu, model, "latest")


@pytest.fixture
def stalled(tmp_path: Path) -> Iterator[tuple[Emulator, Stalls]]:
    stalls = Stalls()
    with emulator(tmp_path / "emulator", faults=FaultConfig(stalls=stalls)) as running:
        yield running, stalls


def _kill_after_train_project(emu: Emulator, stalls: Stalls, spec: Path) -> None:
    """Start an apply and SIGKILL it between TrainProject and the naming of the iteration
    (the emulator holds the naming call unprocessed until the kill)."""
    stalls.arm("PATCH", "/iterations/[^/]+$", seconds=3.0, after=("POST", "/train$"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "cvspec", "apply", spec.name, "--auto-approve", "--json"],
        cwd=spec.parent,
        env=emu.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert stalls.wait_hit(120), "the apply never named an iteration"
        time.sleep(0.1)
    finally:
        proc.kill()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_applies_killed_after_train_project_again_and_again_never_pile_up_iterations(
    stalled: tuple[Emulator, Stalls], tmp_path: Path
) -> None:
    emu, stalls = stalled
    model = _model("killed-training", publish="latest", keep=2)
    spec = model.write(tmp_path)
    for round_ in range(5):
        model.images["red"].append(900 + round_)  # a new dataset every time
        spec = model.write(tmp_path)
        _kill_after_train_project(emu, stalls, spec)
        iterations = snapshot(emu.service, model.name).iterations
        assert any(name.startswith("Iteration ") for name, _, _ in iterations), iterations
        plan = _cli(emu, spec, "plan", spec.name, "--no-color")
        assert plan.returncode == 0, plan.stderr
        assert "interrupted apply" in plan.stdout
        leftovers = [name for name, _, _ in iterations if not name.startswith("cvspec-")]
        assert len(leftovers) == 1, iterations  # the previous rounds' were adopted
    result = _apply(emu, spec)
    assert result.returncode == 0, result.stdout + result.stderr
    snap = snapshot(emu.service, model.name)
    assert all(name.startswith("cvspec-") for name, _, _ in snap.iterations), snap.iterations
    assert len(snap.iterations) <= model.keep + 1, snap.iterations
    assert len(snap.published("latest")) == 1
    assert _cli(emu, spec, "plan", spec.name, "--detailed-exitcode").returncode == 0
