"""Fault injection: with 20% of the emulator's answers being a 429, a 503 or a dropped
connection, `cvspec apply` still converges in one run and nothing is lost or doubled."""

from __future__ import annotations

import json
from pathlib import Path

from cvspec.emulator.faults import FaultConfig
from tests.apply_support import SpecModel, assert_matches, emulator, snapshot
from tests.helpers import clean_env, copy_example, run_cli


def test_apply_converges_through_a_fifth_of_calls_failing(tmp_path: Path) -> None:
    faults = FaultConfig(rate=0.2, kinds=("429", "503", "drop"), seed=7)
    model = SpecModel(
        name="faulty",
        tags={"red": "", "blue": "", "green": ""},
        images={"red": list(range(50)), "blue": list(range(50, 100)), "green": [*range(100, 105)]},
        learnable=True,
    )
    spec = model.write(tmp_path / "spec")
    with emulator(tmp_path / "emulator", faults=faults, tps_limit=True) as emu:
        result = run_cli(
            "apply", spec.name, "--auto-approve", "--json", "--parallelism", "4",
            cwd=spec.parent, env=emu.env(),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout.splitlines()[-1])
        retried = summary["retries"]
        assert sum(retried.values()) >= 5, retried  # the faults did happen ...
        assert {"429", "503", "connection"} <= set(retried), retried
        snap = snapshot(emu.service, model.name)  # ... and nothing was lost or doubled
        assert_matches(snap, model)
        assert len(snap.iterations) == 1
        assert snap.published("latest") == [snap.iterations[0][0]]
        plan = run_cli("plan", spec.name, "--detailed-exitcode", cwd=spec.parent, env=emu.env())
        assert plan.returncode == 0, plan.stdout + plan.stderr


def test_the_built_in_emulator_injects_faults_from_the_environment(tmp_path: Path) -> None:
    """No endpoint set: `cvspec apply` starts its own emulator, faulty by environment."""
    spec = copy_example(tmp_path)
    faulty = clean_env(
        CVSPEC_EMULATOR_FAULT_RATE="0.2",
        CVSPEC_EMULATOR_FAULT_KINDS="429,503,drop",
        CVSPEC_EMULATOR_FAULT_SEED="3",
        CVSPEC_EMULATOR_TPS_LIMIT="1",
    )
    result = run_cli("apply", spec.name, "--auto-approve", "--json", cwd=tmp_path, env=faulty)
    assert result.returncode == 0, result.stderr[-2000:]
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert sum(events[-1]["retries"].values()) >= 1
    plan = run_cli("plan", spec.name, "--detailed-exitcode", cwd=tmp_path)  # no faults now
    assert plan.returncode == 0, plan.stdout + plan.stderr
