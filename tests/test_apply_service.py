"""`cvspec apply` and `cvspec destroy` as a user runs them (CLI subprocesses) against an
emulator served from the test process: rate limits, per-image failures, adoption of what a
killed apply left behind, gates, publishing, retention, saved plans, JSON events."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.cognitiveservices.vision.customvision.training import models as m

from cvspec.apply import apply_plan
from cvspec.commands.common import make_plan
from cvspec.sdk import call
from cvspec.spec import load_and_validate
from tests.apply_support import Emulator, SpecModel, assert_matches, emulator, snapshot
from tests.helpers import run_cli


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with emulator(tmp_path_factory.mktemp("emulator"), tps_limit=True) as running:
        yield running


def _apply(emu: Emulator, spec: Path, *extra: str, stdin: str | None = None) -> Any:
    args = ["apply", spec.name, *(extra or ("--auto-approve",))]
    return run_cli(*args, cwd=spec.parent, env=emu.env())


def _events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def _two_tags(name: str, per_tag: int = 5, **kw: Any) -> SpecModel:
    seeds = iter(range(10_000))
    return SpecModel(
        name=name,
        tags={"red": "", "blue": ""},
        images={t: [next(seeds) for _ in range(per_tag)] for t in ("red", "blue")},
        **kw,
    )


def _plan_is_empty(emu: Emulator, spec: Path) -> None:
    result = run_cli("plan", spec.name, "--detailed-exitcode", cwd=spec.parent, env=emu.env())
    assert result.returncode == 0, result.stdout + result.stderr


def test_parallel_batches_stay_under_the_tier_rate_at_two_calls_per_64_images(
    emu: Emulator, tmp_path: Path
) -> None:
    model = _two_tags("rate", per_tag=200, training=False, publish=None)
    spec = model.write(tmp_path)
    result = _apply(emu, spec, "--auto-approve", "--json", "--parallelism", "8")
    assert result.returncode == 0, result.stderr
    summary = _events(result.stdout)[-1]
    assert summary["event"] == "summary"
    assert summary["retries"] == {}, "the emulator throttled: the client exceeded 10 calls/s"
    batches = math.ceil(400 / 64)  # full batches: 64 images (of both tags) per upload
    assert summary["calls_by_operation"]["create_images_from_files"] == batches
    assert summary["calls_by_operation"]["update_image_metadata"] == batches
    assert_matches(snapshot(emu.service, model.name), model)


def test_per_image_failures_are_reported_by_file_name_and_the_rest_lands(
    emu: Emulator, tmp_path: Path
) -> None:
    model = _two_tags("partial", per_tag=8, training=False, publish=None)
    spec = model.write(tmp_path)
    limits = emu.server.backend.limits
    emu.server.backend.limits = dataclasses.replace(limits, images_per_project=10)
    try:
        result = _apply(emu, spec)
    finally:
        emu.server.backend.limits = limits
    assert result.returncode == 1
    refused = [line for line in result.stderr.splitlines() if "ErrorLimitExceed" in line]
    assert len(refused) == 6
    assert all(line.startswith("images/") and ".png: upload refused" in line for line in refused)
    assert "apply finished with 6 failure(s)" in result.stderr
    assert len(snapshot(emu.service, model.name).managed()) == 10
    emu.server.backend.limits = dataclasses.replace(limits, images_per_project=10)
    try:  # full: the service refuses the whole batch; one call, six files named
        full = _apply(emu, spec, "--auto-approve", "--json")
    finally:
        emu.server.backend.limits = limits
    assert full.returncode == 1
    failed = [e for e in _events(full.stdout) if e["event"] == "image_failed"]
    assert len(failed) == 6 and all("No valid image files" in e["message"] for e in failed)
    summary = _events(full.stdout)[-1]  # one call (and its retry, should the rate limit hit it)
    uploads = summary["calls_by_operation"]["create_images_from_files"]
    assert 1 <= uploads <= 1 + summary["retries"].get("429", 0)
    again = _apply(emu, spec)  # the limit is lifted: the rest goes up, nothing twice
    assert again.returncode == 0, again.stderr
    assert_matches(snapshot(emu.service, model.name), model)


def test_images_uploaded_without_identity_are_adopted_not_duplicated(
    emu: Emulator, tmp_path: Path
) -> None:
    """An apply killed between an upload and its identity call left images unmarked."""
    model = _two_tags("adopt", training=False, publish=None)
    spec = model.write(tmp_path)
    client = emu.service.training
    project = call(client.create_project, model.name, classification_type="Multiclass")
    red = call(client.create_tag, project.id, "red")
    entries = [
        m.ImageFileCreateEntry(name=f"{seed}.png", contents=model.image("red", seed))
        for seed in model.images["red"]
    ]
    call(
        client.create_images_from_files,
        project.id,
        m.ImageFileCreateBatch(images=entries, tag_ids=[red.id]),
    )
    result = _apply(emu, spec)
    assert result.returncode == 0, result.stderr
    assert_matches(snapshot(emu.service, model.name), model)
    _plan_is_empty(emu, spec)


def test_a_training_started_outside_cvspec_on_the_same_dataset_is_announced_and_adopted(
    emu: Emulator, tmp_path: Path
) -> None:
    model = _two_tags("train-adopt", training=False, publish=None)
    spec = model.write(tmp_path)
    assert _apply(emu, spec).returncode == 0
    project_id = snapshot(emu.service, model.name).project_id
    call(emu.service.training.train_project, project_id)  # someone trains in the portal
    model.training, model.publish = True, "latest"
    spec = model.write(tmp_path)
    plan = run_cli("plan", spec.name, cwd=tmp_path, env=emu.env())
    assert "if the service finds 'Iteration 1' (trained outside cvspec) trained" in plan.stdout
    result = _apply(emu, spec)
    assert result.returncode == 0, result.stderr
    assert "adopting iteration 'Iteration 1'" in result.stdout
    snap = snapshot(emu.service, model.name)
    assert len(snap.iterations) == 1 and snap.iterations[0][0].startswith("cvspec-")
    assert snap.published("latest") == [snap.iterations[0][0]]
    _plan_is_empty(emu, spec)


def test_a_failing_gate_stops_before_publish_and_keeps_the_published_iteration(
    emu: Emulator, tmp_path: Path
) -> None:
    model = _two_tags("gates", learnable=True)
    spec = model.write(tmp_path)
    assert _apply(emu, spec).returncode == 0
    before = snapshot(emu.service, model.name).published("latest")
    model.images["red"] += list(range(500, 508))
    model.images["blue"] += list(range(600, 608))
    model.gates = {
        "min_precision": 1.0,
        "min_recall": 1.0,
        "per_tag": {"red": {"min_ap": 1.0}},
        "no_regression": True,
    }
    model.learnable = False  # the new images are noise, alike in both tags
    spec = model.write(tmp_path)
    result = _apply(emu, spec)
    assert result.returncode == 1
    assert "quality gate failed for 'cvspec-" in result.stderr
    assert f"'latest' stays on '{before[0]}'" in result.stderr
    assert "min_precision: 0." in result.stderr and "< 1.000" in result.stderr
    assert "no_regression.precision: 0." in result.stderr  # against the published one
    assert "quality gates failed for cvspec-" in result.stdout
    after = snapshot(emu.service, model.name)
    assert after.published("latest") == before
    assert len(after.iterations) == 2  # trained, evaluated, kept unpublished


def test_publish_moves_the_name_and_retention_keeps_at_most_n(
    emu: Emulator, tmp_path: Path
) -> None:
    model = _two_tags("publish", keep=2)
    for extra in range(3):
        model.images["blue"].append(900 + extra)
        spec = model.write(tmp_path)
        result = _apply(emu, spec)
        assert result.returncode == 0, result.stdout + result.stderr
        snap = snapshot(emu.service, model.name)
        assert len(snap.published("latest")) == 1
        assert len(snap.iterations) <= 2
    newest = max(snap.iterations, key=lambda it: it[0] if it[2] else "")
    assert newest[2] == "latest"
    _plan_is_empty(emu, spec)
    model.publish = "prod"  # the spec no longer publishes "latest"
    spec = model.write(tmp_path)
    assert _apply(emu, spec).returncode == 0
    snap = snapshot(emu.service, model.name)
    assert snap.published("latest") == [] and snap.published("prod") == [newest[0]]
    _plan_is_empty(emu, spec)


def test_names_created_meanwhile_are_adopted(emu: Emulator, tmp_path: Path) -> None:
    """The project and a tag appear between planning and applying (a retried create that
    had landed looks the same): apply adopts them instead of failing or duplicating."""
    model = _two_tags("adopt-names", training=False, publish=None)
    spec = model.write(tmp_path)
    validated = load_and_validate(spec)
    plan = make_plan(validated, emu.service)
    client = emu.service.training
    project = call(client.create_project, model.name, classification_type="Multiclass")
    call(client.create_tag, project.id, "red")
    result = apply_plan(plan, emu.service, validated.base_dir, lambda *_, **__: None)
    assert result.failures == ()
    assert [p.id for p in call(client.get_projects) if p.name == model.name] == [project.id]
    assert_matches(snapshot(emu.service, model.name), model)


def test_json_mode_streams_events(emu: Emulator, tmp_path: Path) -> None:
    model = _two_tags("json")
    spec = model.write(tmp_path)
    result = _apply(emu, spec, "--auto-approve", "--json")
    assert result.returncode == 0, result.stderr
    events = _events(result.stdout)
    assert len(events) == len(result.stdout.splitlines())  # nothing but JSON lines
    kinds = [e["event"] for e in events]
    for kind in ("op_start", "upload_progress", "training_done", "evaluation", "published"):
        assert kind in kinds
    assert kinds[-1] == "summary"


def test_json_needs_auto_approve(emu: Emulator, tmp_path: Path) -> None:
    spec = _two_tags("json-prompt").write(tmp_path)
    result = _apply(emu, spec, "--json")
    assert result.returncode == 1
    assert "--json needs --auto-approve" in result.stderr


def test_destroy_asks_honours_protect_and_unpublishes(emu: Emulator, tmp_path: Path) -> None:
    model = _two_tags("destroy", protect=True)
    spec = model.write(tmp_path)
    assert _apply(emu, spec).returncode == 0
    refused = run_cli("destroy", spec.name, "--auto-approve", cwd=tmp_path, env=emu.env())
    assert refused.returncode == 1
    assert "protected (protect: true); refusing to destroy it" in refused.stderr
    model.protect = False
    spec = model.write(tmp_path)
    declined = subprocess.run(
        [sys.executable, "-m", "cvspec", "destroy", spec.name],
        cwd=tmp_path,
        env=emu.env(),
        input="no\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert declined.returncode == 1 and "destroy cancelled" in declined.stderr
    assert "- publish.latest" in declined.stdout
    assert snapshot(emu.service, model.name).project_id is not None
    done = run_cli("destroy", spec.name, "--auto-approve", cwd=tmp_path, env=emu.env())
    assert done.returncode == 0, done.stderr
    assert "Destroy complete!" in done.stdout
    assert snapshot(emu.service, model.name).project_id is None
    again = run_cli("destroy", spec.name, "--auto-approve", cwd=tmp_path, env=emu.env())
    assert again.returncode == 0 and "Nothing to destroy" in again.stdout


def test_a_saved_plan_is_applied_and_refused_once_stale(emu: Emulator, tmp_path: Path) -> None:
    model = _two_tags("saved", training=False, publish=None)
    spec = model.write(tmp_path)
    made = run_cli("plan", spec.name, "-out", "plan.json", cwd=tmp_path, env=emu.env())
    assert made.returncode == 0, made.stderr
    applied = run_cli("apply", "plan.json", cwd=tmp_path, env=emu.env())
    assert applied.returncode == 0, applied.stderr
    assert_matches(snapshot(emu.service, model.name), model)
    model.tags["green"] = ""
    spec = model.write(tmp_path)
    assert (
        run_cli("plan", spec.name, "-out", "plan.json", cwd=tmp_path, env=emu.env()).returncode == 0
    )
    project_id = snapshot(emu.service, model.name).project_id
    call(emu.service.training.create_tag, project_id, "someone-else")  # live changes after the plan
    stale = run_cli("apply", "plan.json", cwd=tmp_path, env=emu.env())
    assert stale.returncode == 1
    assert "Saved plan is stale" in stale.stderr
    assert "green" not in snapshot(emu.service, model.name).tags  # nothing was changed


def test_pending_images_of_a_killed_apply_get_their_identity_then_are_pruned(
    emu: Emulator, tmp_path: Path
) -> None:
    """Uploaded with the `pending` mark, never given identity: some left the spec since."""
    model = _two_tags("pending", training=False, publish=None)
    spec = model.write(tmp_path)
    client = emu.service.training
    project = call(client.create_project, model.name, classification_type="Multiclass")
    red = call(client.create_tag, project.id, "red")
    seeds = [*model.images["red"], 7001, 7002, 7003]  # the last three are not in the spec
    entries = [
        m.ImageFileCreateEntry(name=f"{seed}.png", contents=model.image("red", seed))
        for seed in seeds
    ]
    batch = m.ImageFileCreateBatch(images=entries, tag_ids=[red.id], metadata={"cvspec": "pending"})
    call(client.create_images_from_files, project.id, batch)
    result = _apply(emu, spec)
    assert result.returncode == 0, result.stderr
    assert "images will be adopted" in result.stdout, result.stdout
    assert_matches(snapshot(emu.service, model.name), model)  # pruned, nothing unmanaged
    _plan_is_empty(emu, spec)


def test_a_training_of_an_older_dataset_is_waited_for_not_adopted(
    emu: Emulator, tmp_path: Path
) -> None:
    """Killed during TrainProject, then the spec changed: the old training is not renamed."""
    model = _two_tags("train-stale", training=False, publish=None)
    assert _apply(emu, model.write(tmp_path)).returncode == 0
    project_id = snapshot(emu.service, model.name).project_id
    call(emu.service.training.train_project, project_id)  # dataset A, then the apply died
    model.images["red"].append(4242)  # dataset B
    model.training, model.publish = True, "latest"
    spec = model.write(tmp_path)
    result = _apply(emu, spec)
    assert result.returncode == 0, result.stderr
    snap = snapshot(emu.service, model.name)
    names = sorted(name for name, _, _ in snap.iterations)
    assert names[0] == "Iteration 1" and names[1].startswith("cvspec-")  # one extra, unnamed
    assert snap.published("latest") == [names[1]]
    _plan_is_empty(emu, spec)
