"""Benchmark: `cvspec import` of a 5,000-image project at S0 limits, with its service calls.

The emulator runs as its own process (`cvspec emulator serve --tps-limit`: 10 Training API
calls per second, 429 + Retry-After beyond), so that it does not share this process's GIL.
A project is built in it with the official SDK as a portal user's script would (64 images
per CreateImagesFromFiles call, 2 tags, small generated PNGs, one trained and published
iteration), then imported in this process with cvspec's own rate limits (10 Training API
calls per second; image downloads at --download-rate, default 50 per second). Calls are
counted by cvspec.sdk's statistics; downloads by the files written. Then `cvspec plan`'s
reading of the written spec is timed, and checked to be a no-op.

Usage::

    python bench/import_bench.py [--images 5000] [--download-rate 50]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from azure.cognitiveservices.vision.customvision.training.models import (
    ImageFileCreateBatch,
    ImageFileCreateEntry,
)
from PIL import Image

from cvspec.importing.download import DOWNLOAD_RATE
from cvspec.importing.run import Options, _plan, run_import
from cvspec.sdk import call, configure
from cvspec.service import Settings, make_service

NAME = "bench-import"


def serve(data: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """`cvspec emulator serve` in its own process; its NAME=value settings."""
    command = [sys.executable, "-m", "cvspec", "emulator", "serve", "--data", str(data)]
    proc = subprocess.Popen(
        [*command, "--port", "0", "--tps-limit"], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    settings: dict[str, str] = {}
    while "VISION_PREDICTION_RESOURCE_ID" not in settings:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("the emulator did not start")
        if "=" in line:
            key, _, value = line.strip().partition("=")
            settings[key] = value
    return proc, settings


def png(rng: random.Random, shade: int) -> bytes:
    image = Image.frombytes("RGB", (32, 32), rng.randbytes(32 * 32 * 3))
    image.paste((shade, 255 - shade, 128), (0, 0, 16, 32))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def build(service: object, count: int) -> float:
    """The portal's project: two tags, `count` images, one iteration trained and published."""
    trainer = service.training  # type: ignore[attr-defined]
    started = time.monotonic()
    project = call(trainer.create_project, NAME, classification_type="Multiclass")
    tags = [call(trainer.create_tag, project.id, name) for name in ("light", "dark")]
    rng = random.Random(5000)
    for start in range(0, count, 64):
        entries = [
            ImageFileCreateEntry(
                name=f"{n}.png",
                contents=bytearray(png(rng, 220 if n % 2 else 30)),
                tag_ids=[tags[n % 2].id],
            )
            for n in range(start, min(count, start + 64))
        ]
        call(trainer.create_images_from_files, project.id, ImageFileCreateBatch(images=entries))
    iteration = call(trainer.train_project, project.id)
    while iteration.status == "Training":
        time.sleep(1)
        iteration = call(trainer.get_iteration, project.id, iteration.id)
    resource = service.prediction_resource_id  # type: ignore[attr-defined]
    call(trainer.publish_iteration, project.id, iteration.id, "bench", resource)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--download-rate", type=float, default=DOWNLOAD_RATE)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        proc, env = serve(root / "emulator")
        try:
            service = make_service(
                Settings(
                    env["VISION_TRAINING_ENDPOINT"],
                    env["VISION_TRAINING_KEY"],
                    env["VISION_PREDICTION_ENDPOINT"],
                    env["VISION_PREDICTION_KEY"],
                    env["VISION_PREDICTION_RESOURCE_ID"],
                ),
                target="emulator",
            )
            configure(service.endpoint, rate=10.0)
            setup = build(service, args.images)
            print(f"setup (SDK uploads, training, publish): {setup:.1f} s")
            policy = configure(service.endpoint, rate=10.0)
            started = time.monotonic()
            result = run_import(
                service,
                NAME,
                root / "out",
                lambda done, total: None,
                Options(download_rate=args.download_rate),
            )
            elapsed = time.monotonic() - started
            calls = dict(sorted(policy.stats.calls.items()))
            files = sum(1 for p in (root / "out").rglob("*.png"))
            policy = configure(service.endpoint, rate=10.0)
            plan_started = time.monotonic()
            plan = _plan(service, result.spec)
            plan_seconds = time.monotonic() - plan_started
        finally:
            proc.terminate()
            proc.wait()
    print(f"images: {args.images}, downloaded: {result.downloaded}, files: {files}")
    print(f"import: {elapsed:.1f} s ({args.images / elapsed:.0f} images/s)")
    print(f"Training API calls: {sum(calls.values())} {calls}")
    print(f"image downloads: {result.downloaded} (one GET each, at most {args.download_rate}/s)")
    print(f"identity recorded on {result.marked} images; iteration named: {result.naming}")
    print(
        f"plan afterwards: {'no-op' if plan.is_empty() else 'CHANGES'}, {plan_seconds:.1f} s, "
        f"{policy.stats.total_calls} calls"
    )
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
