"""Benchmark of a no-op `cvspec plan` against the built-in emulator, at 1k, 10k and 50k images.

For each size it writes N unique small PNGs under ``images/{tag}/`` (10 tags) with a spec,
seeds the emulator by running ``cvspec apply --auto-approve`` once (the real upload path,
identity manifests included; training and publishing are left out of the spec so that
seeding time is upload time), warms the spec's hash cache with a first plan, and then
measures a no-op plan two ways:

* **command**: ``python -m cvspec plan SPEC --detailed-exitcode`` in a fresh process, as a
  user runs it: wall time (interpreter start, imports, emulator start, spec load with the
  warm hash cache, live read, diff, render) and the child's peak RSS (the in-process
  emulator included). Exit status must be 0.
* **phases**: the same steps in this process with the emulator already running: spec load,
  live read (and the part of it spent inside the emulator), diff, render; and the number
  of HTTP requests the live read sends (counted under msrest, so retries would count too).

Each figure is the best of ``--repeat`` runs (peak RSS: the worst), since the machine may
be shared. ``--keep DIR`` keeps the seeded datasets and reuses them on the next run.

Usage::

    /work/venv/bin/python bench/plan_bench.py [--sizes 1000 10000 50000] [--keep DIR]
        [--repeat 3] [--write FILE]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

TAGS = 10
PROJECT = "plan-bench"


@dataclass(frozen=True)
class Result:
    images: int
    seed_seconds: float
    command_seconds: float
    command_rss_mb: float
    load_seconds: float
    read_seconds: float
    emulator_seconds: float
    diff_seconds: float
    render_seconds: float
    calls: int


def write_dataset(root: Path, count: int) -> Path:
    """N unique 32x32 PNGs spread over TAGS tags, and a spec that lists them by glob."""
    rng = np.random.default_rng(count)
    for n in range(count):
        folder = root / "images" / f"tag{n % TAGS:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
        pixels[0, 0] = [n % 256, (n // 256) % 256, (n // 65536) % 256]  # never a duplicate
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        (folder / f"{n:06d}.png").write_bytes(buffer.getvalue())
    spec = root / "spec.yaml"
    spec.write_text(
        f"version: 1\nproject:\n  name: {PROJECT}\n  classification: multiclass\n"
        + "tags:\n"
        + "".join(f"  - name: tag{t:02d}\n" for t in range(TAGS))
        + 'images:\n  - path: "images/{tag}/*.png"\ntraining: null\n'
    )
    return spec


def cli(spec: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """Run cvspec in a child process: (result, wall seconds, that child's peak RSS in MB)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CVSPEC_", "VISION_"))}
    command = [sys.executable, "-m", "cvspec", *args]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=spec.parent, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(command, child.returncode, out.read(), err.read())
    return result, seconds, usage.ru_maxrss / 1024  # Linux reports kilobytes


@contextmanager
def counted_requests() -> Iterator[list[str]]:
    """Count every HTTP request the SDK sends (msrest's ServiceClient.send)."""
    from msrest.service_client import ServiceClient

    sent: list[str] = []
    original = ServiceClient.send

    def send(self: ServiceClient, request: object, *args: object, **kwargs: object) -> object:
        sent.append(f"{getattr(request, 'method', '?')} {getattr(request, 'url', '?')}")
        return original(self, request, *args, **kwargs)

    ServiceClient.send = send  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        ServiceClient.send = original  # type: ignore[method-assign]


def phases(spec: Path) -> tuple[float, float, float, float, float, int]:
    """(load, read, emulator share of read, diff, render) seconds and HTTP requests of one
    in-process no-op plan, with the emulator's own time per request measured in its backend."""
    from cvspec import sdk
    from cvspec.desired import desired_state
    from cvspec.diff import diff
    from cvspec.emulator.server import EmulatorServer
    from cvspec.live import read_live
    from cvspec.render import render_text
    from cvspec.service import Settings, make_service
    from cvspec.spec import load_and_validate

    with EmulatorServer(data_dir=spec.parent / ".cvspec" / "emulator") as server:
        inside = _time_backend(server.backend)
        settings = Settings(server.training_endpoint, server.training_key)
        service = make_service(settings, target="emulator")
        sdk.configure(service.endpoint, rate=10_000)  # as `cvspec plan` does for the emulator
        started = time.perf_counter()
        validated = load_and_validate(spec)
        loaded = time.perf_counter()
        desired = desired_state(validated, service.prediction_resource_id)
        loaded = time.perf_counter()  # spec load includes the desired state (fingerprint)
        with counted_requests() as sent:
            live = read_live(service, desired.project_name)
        read = time.perf_counter()
        plan = diff(desired, live)
        diffed = time.perf_counter()
        text = render_text(plan)
        rendered = time.perf_counter()
    if not plan.is_empty() or "No changes." not in text:
        raise SystemExit(f"expected a no-op plan at {spec}, got:\n{text}")
    return (
        loaded - started,
        read - loaded,
        sum(inside),
        diffed - read,
        rendered - diffed,
        len(sent),
    )


def _time_backend(backend: object) -> list[float]:
    """Record the seconds the emulator spends in each read the live reader makes."""
    spent: list[float] = []
    for name in ("get_domains", "get_projects", "get_tags", "get_images", "get_iterations"):
        original = getattr(backend, name)

        def timed(*args: object, _original: object = original, **kwargs: object) -> object:
            started = time.perf_counter()
            try:
                return _original(*args, **kwargs)  # type: ignore[operator]
            finally:
                spent.append(time.perf_counter() - started)

        setattr(backend, name, timed)
    return spent


def run(size: int, root: Path, repeat: int) -> Result:
    """Seed (unless `root` already holds a seeded dataset, from --keep) and measure; each
    figure is the best of `repeat` runs (the machine may be shared)."""
    spec = root / "spec.yaml"
    seed_seconds = float("nan")
    if not spec.exists():
        write_dataset(root, size)
        seeded, seed_seconds, _ = cli(spec, "apply", "spec.yaml", "--auto-approve")
        if seeded.returncode != 0:
            raise SystemExit(f"seeding {size} images failed:\n{seeded.stdout}\n{seeded.stderr}")
    cli(spec, "plan", "spec.yaml")  # warms the hash cache
    commands = []
    for _ in range(repeat):
        result, seconds, rss = cli(spec, "plan", "spec.yaml", "--detailed-exitcode")
        if result.returncode != 0:
            raise SystemExit(
                f"no-op plan exited {result.returncode}:\n{result.stdout}{result.stderr}"
            )
        commands.append((seconds, rss))
    measured = [phases(spec) for _ in range(repeat)]
    best = [min(column) for column in zip(*measured, strict=True)]
    return Result(
        images=size,
        seed_seconds=seed_seconds,
        command_seconds=min(c[0] for c in commands),
        command_rss_mb=max(c[1] for c in commands),
        load_seconds=best[0],
        read_seconds=best[1],
        emulator_seconds=best[2],
        diff_seconds=best[3],
        render_seconds=best[4],
        calls=int(max(m[5] for m in measured)),
    )


def deserialisation_cost(rounds: int = 20) -> tuple[float, float, int]:
    """Milliseconds to turn one full image page (256 images, each with a 64-image identity
    manifest) into msrest models vs json.loads, and the page's size in bytes."""
    import json
    import uuid

    import requests
    from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
    from msrest.authentication import ApiKeyCredentials

    from cvspec.identity import encode_manifest

    client = CustomVisionTrainingClient(
        "https://emulator.invalid", ApiKeyCredentials(in_headers={"Training-key": "k"})
    )
    ids = [str(uuid.UUID(int=n + 1)) for n in range(256)]
    page = []
    for start in range(0, 256, 64):
        metadata = encode_manifest((i, "ab" * 32) for i in ids[start : start + 64])
        page += [
            {
                "id": i,
                "created": "2026-01-01T00:00:00Z",
                "width": 32,
                "height": 32,
                "resizedImageUri": f"https://emulator.invalid/r/{i}",
                "thumbnailUri": f"https://emulator.invalid/t/{i}",
                "originalImageUri": f"https://emulator.invalid/o/{i}",
                "tags": [{"tagId": i, "tagName": "tag00", "created": "2026-01-01T00:00:00Z"}],
                "regions": None,
                "metadata": metadata,
            }
            for i in ids[start : start + 64]
        ]
    response = requests.Response()
    response._content = json.dumps(page).encode()
    response.status_code = 200
    response.headers["Content-Type"] = "application/json"
    started = time.perf_counter()
    for _ in range(rounds):
        client._deserialize("[Image]", response)
    models = (time.perf_counter() - started) / rounds * 1000
    started = time.perf_counter()
    for _ in range(rounds):
        json.loads(response.content)
    plain = (time.perf_counter() - started) / rounds * 1000
    return models, plain, len(response.content)


def report(results: list[Result]) -> str:
    lines = [
        "| images | seed (apply) s | `cvspec plan` wall s | peak RSS MB | spec load + desired s "
        "| live read s | of which emulator s | diff s | render s | service calls |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.images:,} | {r.seed_seconds:.1f} | {r.command_seconds:.2f} | "
            f"{r.command_rss_mb:.0f} | {r.load_seconds:.3f} | {r.read_seconds:.3f} | "
            f"{r.emulator_seconds:.3f} | {r.diff_seconds:.3f} | {r.render_seconds:.3f} | "
            f"{r.calls} |"
        )
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [*lines, "", f"Measured {stamp} on {machine}; load average at the end {load}."]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument(
        "--keep", type=Path, help="work in this directory and keep it (reused when seeded)"
    )
    parser.add_argument("--write", type=Path, help="also write the table to this file")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (best is kept)")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="plan-bench-") as scratch:
        base = args.keep or Path(scratch)
        for size in args.sizes:
            root = base / f"n{size}"
            root.mkdir(parents=True, exist_ok=True)
            result = run(size, root, args.repeat)
            print(result, flush=True)
            results.append(result)
    models, plain, size = deserialisation_cost()
    table = report(results) + (
        f"\n\nOne page of 256 images ({size:,} bytes): msrest models {models:.1f} ms, "
        f"json.loads {plain:.1f} ms."
    )
    print(table)
    if args.write:
        args.write.write_text(table + "\n")


if __name__ == "__main__":
    main()
