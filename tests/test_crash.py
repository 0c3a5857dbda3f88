"""Crash tests: `cvspec apply` is killed with SIGKILL at many points (between upload
batches, between an upload and its identity call, while training, before publishing) and
then run again. The second run must converge: the live state equals the spec, no image is
duplicated, no managed tag is orphaned, at most one extra iteration exists, and a fresh
plan is empty."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apply_support import Emulator, SpecModel, assert_matches, emulator, snapshot
from tests.helpers import run_cli


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with emulator(tmp_path_factory.mktemp("emulator"), tps_limit=True) as running:
        yield running


def _model(name: str, training: bool) -> SpecModel:
    """Many images (several batches) for kills during uploads; few when training matters."""
    per_tag = 8 if training else 110
    return SpecModel(
        name=name,
        tags={"red": "", "blue": ""},
        images={"red": list(range(per_tag)), "blue": list(range(per_tag, 2 * per_tag))},
        learnable=True,
        training=training,
        publish="latest" if training else None,
    )


def _apply_and_kill(spec: Path, emu: Emulator, event: str, nth: int, delay: float) -> bool:
    """Start an apply; SIGKILL it `delay` s after its `nth` `event` (JSON) line.

    Returns whether the kill landed before the apply finished by itself.
    """
    slowed = ["--rate", "5"]  # so that the kill lands mid-way, even on a fast machine
    proc = subprocess.Popen(
        [sys.executable, "-m", "cvspec", "apply", spec.name, "--auto-approve", "--json", *slowed],
        cwd=spec.parent,
        env=emu.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    seen = 0
    for line in proc.stdout:
        record = json.loads(line)
        if record["event"] == event or f"{record['event']}:{_op(record)}" == event:
            seen += 1
            if seen == nth:
                time.sleep(delay)
                break
    killed = proc.poll() is None
    proc.kill()
    proc.wait(timeout=30)
    return killed


def _op(record: dict[str, object]) -> str:
    op = record.get("op")
    return str(op.get("type")) if isinstance(op, dict) else ""


KILL_POINTS = [  # (event, nth, delay, training)
    ("upload_progress", 1, 0.0, False),  # between batches
    ("upload_progress", 2, 0.03, False),  # likely between an upload and its identity call
    ("op_start:UploadImages", 1, 0.15, False),  # during the first uploads
    ("op_start:Train", 1, 0.4, True),  # around TrainProject, before the iteration is named
    # while training: the `training` event itself is too racy to aim at (with cached features
    # the emulator may finish before the first poll), so aim just after TrainProject instead
    ("op_start:Train", 1, 0.15, True),
    ("op_start:Publish", 1, 0.0, True),  # trained, before the gates and the publish
]


@pytest.mark.slow
@pytest.mark.parametrize(("event", "nth", "delay", "training"), KILL_POINTS)
def test_a_killed_apply_converges_on_the_next_run(
    emu: Emulator, tmp_path: Path, event: str, nth: int, delay: float, training: bool
) -> None:
    model = _model(f"crash-{event.replace(':', '-')}-{nth}-{delay:g}", training)
    spec = model.write(tmp_path)
    assert _apply_and_kill(spec, emu, event, nth, delay), "the apply ended before the kill"
    result = run_cli("apply", spec.name, "--auto-approve", cwd=tmp_path, env=emu.env())
    assert result.returncode == 0, result.stdout + result.stderr
    snap = snapshot(emu.service, model.name)
    assert_matches(snap, model)
    if training:
        assert 1 <= len(snap.iterations) <= 2, snap.iterations  # at most one extra
        published = snap.published("latest")
        assert len(published) == 1 and published[0].startswith("cvspec-")
    plan = run_cli("plan", spec.name, "--detailed-exitcode", cwd=tmp_path, env=emu.env())
    assert plan.returncode == 0, plan.stdout + plan.stderr


@pytest.mark.slow
def test_killed_twice_during_uploads_then_edited_still_converges(
    emu: Emulator, tmp_path: Path
) -> None:
    model = _model("crash-twice", training=False)
    model.tags["spare"] = "a tag without images, pruned below"
    spec = model.write(tmp_path)
    assert _apply_and_kill(spec, emu, "upload_progress", 1, 0.02)
    _apply_and_kill(spec, emu, "upload_progress", 1, 0.0)
    model.images["red"] = [*model.images["red"][10:], 555]  # prune 10, add 1, retag 5
    for seed in model.images["blue"][:5]:
        model.images["blue"].remove(seed)
        model.images["red"].append(seed)
    del model.tags["spare"]
    spec = model.write(tmp_path)
    result = run_cli("apply", spec.name, "--auto-approve", cwd=tmp_path, env=emu.env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert_matches(snapshot(emu.service, model.name), model)
    plan = run_cli("plan", spec.name, "--detailed-exitcode", cwd=tmp_path, env=emu.env())
    assert plan.returncode == 0, plan.stdout + plan.stderr


@pytest.mark.slow
def test_ctrl_c_stops_with_status_130_and_the_next_run_converges(
    emu: Emulator, tmp_path: Path
) -> None:
    model = _model("crash-sigint", training=False)
    spec = model.write(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cvspec", "apply", spec.name, "--auto-approve", "--json"],
        cwd=tmp_path,
        env=emu.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    for line in proc.stdout:
        if json.loads(line)["event"] == "upload_progress":
            proc.send_signal(signal.SIGINT)
            break
    proc.stdout.read()
    assert proc.wait(timeout=60) == 130
    assert "Interrupted. What was done is kept" in proc.stderr.read()
    result = run_cli("apply", spec.name, "--auto-approve", cwd=tmp_path, env=emu.env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert_matches(snapshot(emu.service, model.name), model)
