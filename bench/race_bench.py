"""Benchmark: racing `cvspec apply` processes on one project (docs/concurrency.md).

One emulator server runs in this process; each round changes the spec (adds images) and
starts RUNS `cvspec apply SPEC --auto-approve --lock-timeout 5m` processes at the same
moment, as two merges in quick succession would. Reported per round: how long each run took,
how long the runs that waited for the lock waited (from their `after waiting Xs` line), what
they did (applied / found no changes / refused), then whether the project converged: no
duplicate image, exactly the spec's images, and an empty plan after all runs.

Usage::

    PYTHONPATH=. python bench/race_bench.py [--rounds 5] [--runs 2] [--new-project]

(run from the repository root: it writes specs with the tests' SpecModel).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cvspec.emulator.server import EmulatorServer
from cvspec.service import Settings, make_service
from tests.apply_support import SpecModel, snapshot
from tests.helpers import emulator_env

CLI = [sys.executable, "-m", "cvspec"]


def _apply(spec: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, "apply", str(spec), "--auto-approve", "--no-color", "--lock-timeout", "5m"],
        cwd=spec.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _outcome(code: int, out: str, err: str) -> str:
    if code == 0 and "Apply complete!" in out:
        return "applied"
    if code == 0 and "No changes" in out:
        return "no changes"
    return f"exit {code}: {(err.strip().splitlines() or [''])[-1][:90]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=2, help="apply processes per round")
    parser.add_argument("--new-project", action="store_true", help="race on a new project")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmulatorServer(data_dir=Path(tmp) / "emu") as srv:
        env = emulator_env(srv)
        service = make_service(Settings(srv.training_endpoint, srv.training_key), target="emulator")
        waits: list[float] = []
        converged = 0
        for round_ in range(args.rounds):
            root = Path(tmp) / f"round-{round_}"
            model = SpecModel(
                name=f"race-{round_}" if args.new_project else "race",
                tags={"red": "", "blue": ""},
                images={"red": list(range(6)), "blue": list(range(6, 12))},
                keep=2,
            )
            if not args.new_project:
                root = Path(tmp) / "shared"
                model.images["red"] += [100 + round_ * 2]
                model.images["blue"] += [101 + round_ * 2]
            spec = model.write(root)
            started = time.monotonic()
            runs = [_apply(spec, env) for _ in range(args.runs)]
            print(f"round {round_}:")
            for run in runs:
                out, err = run.communicate(timeout=600)
                found = re.search(r"after waiting (\d+\.\d)s", err)
                if found:
                    waits.append(float(found[1]))
                seconds = time.monotonic() - started
                waited = f"waited {found[1]}s" if found else "did not wait"
                did = _outcome(run.returncode, out, err)
                print(f"  pid {run.pid}: {seconds:5.1f}s, {waited}, {did}")
            state = snapshot(service, model.name)
            plan = subprocess.run(
                [*CLI, "plan", str(spec), "--detailed-exitcode"],
                cwd=root,
                env=env,
                capture_output=True,
                text=True,
            )
            ok = (
                not state.duplicates()
                and state.managed() == model.expected()
                and len(state.images) == len(model.expected())
                and plan.returncode == 0
            )
            converged += ok
            print(f"  converged: {ok} ({len(state.images)} images, plan exit {plan.returncode})")
        if waits:
            print(
                f"\nwaits: n={len(waits)} median {statistics.median(waits):.1f}s "
                f"max {max(waits):.1f}s; converged {converged}/{args.rounds}"
            )


if __name__ == "__main__":
    main()
