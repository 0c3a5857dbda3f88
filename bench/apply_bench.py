"""Benchmark: the initial apply of 5,000 images against the emulator with S0 rate limits on,
side by side with a straightforward script that uploads one image per call with the SDK.

Both run in the same process run, against the same kind of emulator (in this process, TPS
limits on: 10 Training API calls per second, 429 + Retry-After beyond). The ceiling for
batched uploads is 10 calls/s x 64 images / 2 calls = 320 images/s.

* **cvspec**: `cvspec apply SPEC --auto-approve --json` as a subprocess (as a user runs it),
  with a spec listing the images under 10 tags. The upload phase is timed from the
  `upload_start` event to the last `upload_progress` event; calls come from the `summary`.
* **one per call**: the loop found in many samples: for each image, one
  CreateImagesFromFiles call with that image; a 429 is waited out (Retry-After) and retried,
  as the SDK does not retry POSTs. It is run on a subset (`--naive-images`, default 500): at
  one image per call its rate is the rate limit itself, so a subset measures it exactly.

Usage::

    /work/venv/bin/python bench/apply_bench.py [--images 5000] [--naive-images 500] \
        [--parallelism 4] [--write docs/benchmarks-apply.md]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from azure.cognitiveservices.vision.customvision.training import models as m
from azure.cognitiveservices.vision.customvision.training.models import (
    CustomVisionErrorException,
)
from PIL import Image

from cvspec.emulator.server import EmulatorServer
from cvspec.service import Settings, make_service

TAGS = 10
RATE = 10.0  # S0 Training API calls per second
CEILING = RATE * 64 / 2  # images per second at 2 calls per 64 images


@dataclass(frozen=True)
class Result:
    name: str
    images: int
    upload_seconds: float
    total_seconds: float
    upload_calls: int
    total_calls: int
    throttled: int

    @property
    def rate(self) -> float:
        return self.images / self.upload_seconds

    def row(self) -> str:
        return (
            f"| {self.name} | {self.images} | {self.upload_seconds:.1f} | {self.rate:.1f} | "
            f"{self.rate / CEILING:.0%} | {self.upload_calls / self.images:.4f} | "
            f"{self.total_calls / self.images:.4f} | {self.throttled} | {self.total_seconds:.1f} |"
        )


def make_images(root: Path, count: int) -> list[Path]:
    """`count` distinct 32x32 PNGs under root/images/tagN/."""
    rng = random.Random(5000)
    paths = []
    for n in range(count):
        folder = root / "images" / f"tag{n % TAGS}"
        folder.mkdir(parents=True, exist_ok=True)
        image = Image.frombytes("RGB", (32, 32), rng.randbytes(32 * 32 * 3))
        out = io.BytesIO()
        image.save(out, format="PNG")
        path = folder / f"{n:05d}.png"
        path.write_bytes(out.getvalue())
        paths.append(path)
    return paths


def write_spec(root: Path) -> Path:
    doc = {
        "version": 1,
        "project": {"name": "bench-cvspec"},
        "tags": [{"name": f"tag{i}"} for i in range(TAGS)],
        "images": [{"path": "images/{tag}/*.png"}],
        "training": None,
    }
    spec = root / "bench.yaml"
    spec.write_text(yaml.safe_dump(doc, sort_keys=False))
    return spec


def env_for(server: EmulatorServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CVSPEC_", "VISION_"))}
    env.update(
        CVSPEC_TRAINING_ENDPOINT=server.training_endpoint,
        CVSPEC_TRAINING_KEY=server.training_key,
        CVSPEC_PREDICTION_ENDPOINT=server.prediction_endpoint,
        CVSPEC_PREDICTION_KEY=server.prediction_key,
        CVSPEC_PREDICTION_RESOURCE_ID=server.prediction_resource_id,
    )
    return env


def run_cvspec(server: EmulatorServer, spec: Path, count: int, parallelism: int) -> Result:
    command = [sys.executable, "-m", "cvspec", "apply", spec.name, "--auto-approve", "--json"]
    command += ["--parallelism", str(parallelism)]
    started = time.monotonic()
    proc = subprocess.Popen(
        command, cwd=spec.parent, env=env_for(server), stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    upload_start = upload_end = 0.0
    summary: dict[str, Any] = {}
    for line in proc.stdout:
        event = json.loads(line)
        if event["event"] == "upload_start":
            upload_start = time.monotonic()
        elif event["event"] == "upload_progress":
            upload_end = time.monotonic()
        elif event["event"] == "summary":
            summary = event
    if proc.wait() != 0:
        raise SystemExit("cvspec apply failed")
    by_op = summary["calls_by_operation"]
    uploads = by_op.get("create_images_from_files", 0) + by_op.get("update_image_metadata", 0)
    return Result(
        name=f"cvspec apply (--parallelism {parallelism})",
        images=count,
        upload_seconds=upload_end - upload_start,
        total_seconds=time.monotonic() - started,
        upload_calls=uploads,
        total_calls=summary["calls"],
        throttled=summary["retries"].get("429", 0),
    )


def run_one_per_call(server: EmulatorServer, paths: list[Path]) -> Result:
    """The samples' loop: one image per CreateImagesFromFiles call."""
    settings = Settings(server.training_endpoint, server.training_key)
    trainer = make_service(settings, target="emulator").training
    started = time.monotonic()
    calls = throttled = 0

    def send(fn: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls, throttled
        while True:
            calls += 1
            try:
                return fn(*args, **kwargs)
            except CustomVisionErrorException as exc:
                if exc.response.status_code != 429:
                    raise
                throttled += 1
                time.sleep(float(exc.response.headers.get("Retry-After", "1")))

    project = send(trainer.create_project, "bench-one-per-call")
    tags = {f"tag{i}": send(trainer.create_tag, project.id, f"tag{i}") for i in range(TAGS)}
    upload_started, setup_calls = time.monotonic(), calls
    for path in paths:
        entry = m.ImageFileCreateEntry(
            name=path.name, contents=path.read_bytes(), tag_ids=[tags[path.parent.name].id]
        )
        send(trainer.create_images_from_files, project.id, m.ImageFileCreateBatch(images=[entry]))
    end = time.monotonic()
    return Result(
        name="one image per call (SDK loop)",
        images=len(paths),
        upload_seconds=end - upload_started,
        total_seconds=end - started,
        upload_calls=calls - setup_calls,
        total_calls=calls,
        throttled=throttled,
    )


def report(results: list[Result], args: argparse.Namespace) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Run {stamp} on {platform.machine()} / {os.cpu_count()} CPUs / Python "
        f"{platform.python_version()}; emulator in-process with S0 TPS limits "
        f"({RATE:g} calls/s); ceiling {CEILING:.0f} images/s.",
        "",
        "| run | images | upload s | images/s | of ceiling | upload calls/image "
        "| all calls/image | 429s | wall s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(r.row() for r in results),
        "",
        f"Command: `python bench/apply_bench.py --images {args.images} "
        f"--naive-images {args.naive_images} --parallelism {args.parallelism}`",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--naive-images", type=int, default=500)
    parser.add_argument("--parallelism", type=int, default=4)
    parser.add_argument("--write", type=Path, help="Also write the table to this file.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print(f"generating {args.images} images ...", file=sys.stderr)
        paths = make_images(root, args.images)
        spec = write_spec(root)
        with EmulatorServer(data_dir=root / "emulator", tps_limit=True) as server:
            print("cvspec apply ...", file=sys.stderr)
            batched = run_cvspec(server, spec, args.images, args.parallelism)
            print("one image per call ...", file=sys.stderr)
            naive = run_one_per_call(server, paths[: args.naive_images])
    text = report([batched, naive], args)
    print(text)
    if args.write:
        args.write.write_text(text + "\n")


if __name__ == "__main__":
    main()
