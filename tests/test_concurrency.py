"""Concurrent applies (issue 11, part 3): the project's lock lives in the service
(cvspec.lock, docs/concurrency.md). cvspec runs as separate processes, as two CI jobs or a
developer and CI would, against one emulator served from this test process.

    pytest tests/test_concurrency.py -p no:cacheprovider -s     # -s prints what was measured
"""

from __future__ import annotations

import itertools
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cvspec.reserved import LOCK_TAG
from cvspec.sdk import call
from tests.apply_support import Emulator, SpecModel, emulator, snapshot
from tests.helpers import run_cli

_names = itertools.count()
WAIT = "2m"  # --lock-timeout of the racing runs: generous, the host may be loaded


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with emulator(tmp_path_factory.mktemp("emulator")) as running:
        yield running


def _model(per_tag: int = 6, training: bool = True) -> SpecModel:
    seeds = iter(range(10_000))
    return SpecModel(
        name=f"race-{next(_names)}",
        tags={"red": "", "blue": ""},
        images={t: [next(seeds) for _ in range(per_tag)] for t in ("red", "blue")},
        keep=2,
        training=training,
        publish="latest" if training else None,
    )


def _start(emu: Emulator, spec: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "cvspec", "apply", str(spec), "--auto-approve", "--no-color"]
    return subprocess.Popen(
        [*command, *args],
        cwd=spec.parent,
        env=emu.env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=300)
    return process.returncode, out, err


def _converged(emu: Emulator, model: SpecModel, spec: Path) -> None:
    """No duplicate image, exactly the spec's images, and an empty plan."""
    state = snapshot(emu.service, model.name)
    assert state.duplicates() == []
    assert len(state.images) == len(model.expected())
    assert state.managed() == model.expected()
    assert LOCK_TAG not in state.tags  # released
    plan = run_cli("plan", str(spec), "--detailed-exitcode", cwd=spec.parent, env=emu.env())
    assert plan.returncode == 0, plan.stdout + plan.stderr


def _waited(stderr: str) -> float | None:
    found = re.search(r"after waiting (\d+\.\d)s", stderr)
    return float(found[1]) if found else None


Run = tuple[int, str, str, float, int]  # exit status, stdout, stderr, seconds, pid


def _race(emu: Emulator, spec: Path) -> list[Run]:
    started = time.monotonic()
    runs = [_start(emu, spec, "--lock-timeout", WAIT) for _ in range(2)]
    results = []
    for run in runs:
        code, out, err = _finish(run)
        results.append((code, out, err, time.monotonic() - started, run.pid))
    return results


def _report(title: str, results: list[Run]) -> None:
    print(f"\n{title}")
    for i, (code, out, err, seconds, _) in enumerate(results):
        last = (out.strip().splitlines() or [""])[-1]
        print(f"  run {i}: exit {code} after {seconds:.1f}s, waited {_waited(err) or 0}s")
        print(f"    stdout: {last}")
        for line in err.strip().splitlines():
            print(f"    stderr: {line}")


def test_two_applies_racing_on_a_changed_project_converge(emu: Emulator, tmp_path: Path) -> None:
    """The merge-after-merge case: the project exists, the spec gains images, two applies
    start at once. One applies, the other waits for its lock, plans again, finds nothing."""
    model = _model()
    spec = model.write(tmp_path)
    first = run_cli("apply", str(spec), "--auto-approve", cwd=tmp_path, env=emu.env())
    assert first.returncode == 0, first.stderr
    model.images["red"] += [500, 501, 502]
    model.images["blue"] += [600, 601]
    model.write(tmp_path)

    results = _race(emu, spec)
    _report("racing applies on an existing project:", results)

    assert [code for code, *_ in results] == [0, 0]
    applied = [r for r in results if "Apply complete!" in r[1]]
    waited = [r for r in results if "Waiting for the lock" in r[2]]
    assert len(applied) == 1  # the other found nothing left to do
    assert len(waited) == 1 and "No changes" in waited[0][1]
    assert f"(pid {applied[0][4]}, lock ID " in waited[0][2]  # names the run it waits for
    assert _waited(waited[0][2]) is not None
    _converged(emu, model, spec)


def test_two_applies_racing_on_a_new_project_converge(emu: Emulator, tmp_path: Path) -> None:
    """Neither run finds the project: both plan to create it. The service keeps one
    project; whichever run gets the lock second finds it filled and stops, naming the
    other, without having changed anything (or, if it planned after the first took the
    lock, it waits and finds nothing to do)."""
    model = _model()
    spec = model.write(tmp_path)

    results = _race(emu, spec)
    _report("racing applies on a new project:", results)

    applied = [r for r in results if r[0] == 0 and "Apply complete!" in r[1]]
    assert len(applied) == 1
    other = next(r for r in results if r is not applied[0])
    refused = "was created and changed by another apply" in other[2]
    assert (other[0] == 1 and refused) or (other[0] == 0 and "No changes" in other[1]), other
    _converged(emu, model, spec)


def _lock_of(emu: Emulator, project: str, within: float = 60) -> str:
    """Wait until the project's lock tag exists; returns its description."""
    client = emu.service.training
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = [p for p in call(client.get_projects) if p.name == project]
        if found:
            tags = [t for t in call(client.get_tags, found[0].id) if t.name == LOCK_TAG]
            if tags:
                return str(tags[0].description)
        time.sleep(0.05)
    raise AssertionError("the apply never took the lock")


def _killed_holder(emu: Emulator, tmp_path: Path, **env: str) -> tuple[SpecModel, Path, str]:
    """A project whose lock was left by an apply killed (SIGKILL) while it held it."""
    model = _model(per_tag=5, training=False)
    spec = model.write(tmp_path)
    first = run_cli("apply", str(spec), "--auto-approve", cwd=tmp_path, env=emu.env())
    assert first.returncode == 0, first.stderr
    model.images["red"] += [700, 701]
    model.write(tmp_path)
    victim = _start(emu, spec, "--rate", "1", **env)  # slow: one call a second
    description = _lock_of(emu, model.name)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=60)
    assert f"pid={victim.pid}" in description
    return model, spec, description


ELSEWHERE = "another-runner"  # CVSPEC_LOCK_MACHINE: the killed run was on another machine


def test_a_killed_applys_lock_expires(emu: Emulator, tmp_path: Path) -> None:
    model, spec, _ = _killed_holder(
        emu, tmp_path, CVSPEC_LOCK_TTL="2", CVSPEC_LOCK_MACHINE=ELSEWHERE
    )
    code, _, err = _finish(_start(emu, spec, "--lock-timeout", WAIT))
    print(f"\nafter a killed apply (TTL 2s, on another machine):\n{err}")
    assert code == 0, err
    assert "Breaking the lock (expired)" in err
    _converged(emu, model, spec)


def test_a_lock_left_by_a_dead_process_of_this_machine_is_broken_at_once(
    emu: Emulator, tmp_path: Path
) -> None:
    model, spec, _ = _killed_holder(emu, tmp_path)  # the default TTL: 300 s
    code, _, err = _finish(_start(emu, spec))  # --lock-timeout 0s
    print(f"\nafter a killed apply on this machine:\n{err}")
    assert code == 0, err
    assert "Breaking the lock (of a run that is no longer running)" in err
    _converged(emu, model, spec)


def test_force_unlock_releases_a_killed_applys_lock(emu: Emulator, tmp_path: Path) -> None:
    model, spec, description = _killed_holder(emu, tmp_path, CVSPEC_LOCK_MACHINE=ELSEWHERE)
    lock_id = re.search(r"run=(\S+)", description)
    assert lock_id is not None

    refused = _finish(_start(emu, spec))  # --lock-timeout 0s: refuses at once
    print(f"\nwhile a killed apply's lock is held:\n{refused[2]}")
    assert refused[0] == 1
    assert lock_id[1] in refused[2] and "force-unlock" in refused[2]
    assert refused[2].count("\n") == 1  # one clean line

    wrong = run_cli("force-unlock", str(spec), "not-the-lock", cwd=tmp_path, env=emu.env())
    assert wrong.returncode == 1 and lock_id[1] in wrong.stderr
    unlocked = run_cli("force-unlock", str(spec), lock_id[1], cwd=tmp_path, env=emu.env())
    assert unlocked.returncode == 0 and "Released the lock" in unlocked.stdout
    again = run_cli("force-unlock", str(spec), cwd=tmp_path, env=emu.env())
    assert again.returncode == 0 and "not locked" in again.stdout

    code, _, err = _finish(_start(emu, spec))
    assert code == 0, err
    _converged(emu, model, spec)


def test_apply_of_a_folder_takes_each_projects_lock(emu: Emulator, tmp_path: Path) -> None:
    """`apply DIR` holds every project's lock as `apply SPEC` does: a project locked by
    another run is refused, naming the lock, and left as it was; once the lock is
    released, the same command converges."""
    model, spec, description = _killed_holder(emu, tmp_path, CVSPEC_LOCK_MACHINE=ELSEWHERE)
    lock_id = re.search(r"run=(\S+)", description)
    assert lock_id is not None
    before = snapshot(emu.service, model.name)
    folder = ["apply", str(tmp_path), "--auto-approve", "--no-color"]
    refused = run_cli(*folder, cwd=tmp_path, env=emu.env())
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert lock_id[1] in refused.stderr and "force-unlock" in refused.stderr
    assert snapshot(emu.service, model.name).images == before.images
    unlocked = run_cli("force-unlock", str(spec), lock_id[1], cwd=tmp_path, env=emu.env())
    assert unlocked.returncode == 0, unlocked.stderr
    applied = run_cli(*folder, cwd=tmp_path, env=emu.env())
    assert applied.returncode == 0, applied.stdout + applied.stderr
    _converged(emu, model, spec)
