"""Many specs against one training resource: one `cvspec apply DIR` (one shared rate budget)
against the same specs applied by separate `cvspec apply SPEC` processes at the same moment
(one budget each), on an emulator server that enforces the S0 limit (10 calls/s, 429 beyond).

    python bench/many_specs_bench.py [--specs 4]

Prints, for each way, the wall time, the service calls and the calls retried after a 429.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cvspec.emulator.server import EmulatorServer

REPO = Path(__file__).resolve().parents[1]


def make_specs(folder: Path, count: int, prefix: str) -> list[Path]:
    folder.mkdir(parents=True)
    shutil.copytree(REPO / "specs" / "digits", folder / "digits")
    template = (REPO / "specs" / "digits.yaml").read_text()
    specs = []
    for n in range(count):
        spec = folder / f"s{n}.yaml"
        text = template.replace("name: digits-example", f"name: {prefix}-{n}")
        spec.write_text(text.replace("digits-latest", f"{prefix}-latest-{n}"))
        specs.append(spec)
    return specs


def environment(server: EmulatorServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CVSPEC_", "VISION_"))}
    env |= {
        "CVSPEC_TRAINING_ENDPOINT": server.training_endpoint,
        "CVSPEC_TRAINING_KEY": server.training_key,
        "CVSPEC_PREDICTION_ENDPOINT": server.prediction_endpoint,
        "CVSPEC_PREDICTION_KEY": server.prediction_key,
        "CVSPEC_PREDICTION_RESOURCE_ID": server.prediction_resource_id,
    }
    return env


def summary(stdout: str) -> dict[str, object]:
    events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    found: dict[str, object] = next(e for e in reversed(events) if e["event"] == "summary")
    return found


def together(specs_dir: Path, env: dict[str, str]) -> tuple[float, int, int]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "cvspec", "apply", str(specs_dir), "--auto-approve", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.monotonic() - started
    found = summary(done.stdout)
    return seconds, int(str(found["calls"])), int(str(found["retries"]))


def separately(specs: list[Path], env: dict[str, str]) -> tuple[float, int, int]:
    started = time.monotonic()
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "cvspec", "apply", str(s), "--auto-approve", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for s in specs
    ]
    outputs = [run.communicate()[0] for run in runs]
    seconds = time.monotonic() - started
    found = [summary(out) for out in outputs]
    calls = sum(int(str(f["calls"])) for f in found)
    retries = sum(_retries_429(f) for f in found)
    return seconds, calls, retries


def _retries_429(found: dict[str, object]) -> int:
    retries = found["retries"]
    return int(retries.get("429", 0)) if isinstance(retries, dict) else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--specs", type=int, default=4)
    count = parser.parse_args().specs
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with EmulatorServer(data_dir=root / "emulator", tps_limit=True) as server:
            env = environment(server)
            make_specs(root / "together", count, "together")
            one = together(root / "together", env)
            many = separately(make_specs(root / "apart", count, "apart"), env)
    print(f"{count} specs, emulator enforcing S0 (10 training calls/s):")
    print(f"  cvspec apply DIR (one budget):     {one[0]:6.1f}s  {one[1]} calls  {one[2]} retried")
    print(
        f"  {count} x cvspec apply SPEC at once:  {many[0]:6.1f}s  {many[1]} calls  "
        f"{many[2]} retried after 429"
    )


if __name__ == "__main__":
    main()
