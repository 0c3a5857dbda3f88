"""Benchmark: `cvspec export` of a 5,000-image project at S0 limits, against the emulator.

The emulator runs in this process with its TPS limits on (S0: 10 Training API calls per
second, 429 + Retry-After beyond); the project (10 tags, small generated PNGs) is uploaded
with the SDK first, 64 images a call, and is not trained (the export of a trained iteration
adds one GetIterationPerformance per iteration and, for compact domains, the model export).
Then the export runs as the CLI runs it (cvspec.export.export_project), and the figures come
from cvspec's own call statistics (cvspec.sdk) and the export's summary:

* Training API calls, by operation (listing: one GetImages per 256 images);
* image downloads (storage URLs, not Training API calls; limited by `--rate`, default 50/s);
* wall time of the whole export, and of a second run that resumes a half-done export.

Usage::

    python bench/export_bench.py [--images 5000] [--rate 50] [--workers 8]
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import tempfile
import time
from pathlib import Path

from azure.cognitiveservices.vision.customvision.training import models as m
from PIL import Image

from cvspec import sdk
from cvspec.emulator.server import EmulatorServer
from cvspec.export import ExportOptions, export_project
from cvspec.service import Service, Settings, make_service

TAGS = 10
RATE = 10.0  # S0: Training API calls per second


def png(rng: random.Random) -> bytes:
    image = Image.new("RGB", (32, 32), tuple(rng.randrange(256) for _ in range(3)))
    for _ in range(40):
        image.putpixel((rng.randrange(32), rng.randrange(32)), (rng.randrange(256),) * 3)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def populate(service: Service, count: int) -> str:
    """A project of `count` images under TAGS tags, uploaded 64 a call; returns its name."""
    client = service.training
    project = sdk.call(client.create_project, "export-bench", classification_type="Multiclass")
    tags = [sdk.call(client.create_tag, project.id, f"tag{n}").id for n in range(TAGS)]
    rng = random.Random(5000)
    for start in range(0, count, 64):
        entries = [
            m.ImageFileCreateEntry(
                name=f"{n}.png", contents=bytearray(png(rng)), tag_ids=[tags[n % TAGS]]
            )
            for n in range(start, min(count, start + 64))
        ]
        sdk.call(
            client.create_images_from_files, project.id, m.ImageFileCreateBatch(images=entries)
        )
    return str(project.name)


def run(service: Service, name: str, folder: Path, options: ExportOptions) -> tuple[float, int]:
    policy = sdk.configure(service.endpoint, rate=RATE)
    started = time.monotonic()
    summary = export_project(service, name, folder, options)
    elapsed = time.monotonic() - started
    calls = dict(policy.stats.calls)
    retries = dict(policy.stats.retries)
    print(
        f"  {summary.images} images ({summary.fetched} downloaded) in {elapsed:.1f}s "
        f"({summary.fetched / elapsed:.0f} downloads/s); Training API calls: "
        f"{policy.stats.total_calls} {calls}; retries {retries or 0}"
    )
    return elapsed, policy.stats.total_calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=50.0, help="image downloads per second")
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    options = ExportOptions(platforms=(), rate=args.rate, workers=args.workers)
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmulatorServer(Path(tmp) / "emulator", tps_limit=True) as server,
    ):
        service = make_service(
            Settings(training_endpoint=server.training_endpoint, training_key=server.training_key),
            target="azure",
        )
        sdk.configure(service.endpoint, rate=RATE)
        started = time.monotonic()
        name = populate(service, args.images)
        print(f"upload of {args.images} images: {time.monotonic() - started:.1f}s")
        print(f"export at S0 ({RATE:g} calls/s), downloads at {args.rate:g}/s:")
        run(service, name, Path(tmp) / "full", options)
        # a resumed export: half the files already there, the journal left by a killed run
        partial = Path(tmp) / "partial"
        shutil.copytree(Path(tmp) / "full" / "images", partial / "images")
        for path in sorted((partial / "images").iterdir())[::2]:
            path.unlink()
        (partial / ".cvspec-export.json").write_text(_journal(service, name))
        print("resumed export (half the images already downloaded):")
        run(service, name, partial, options)


def _journal(service: Service, name: str) -> str:
    import json

    (project,) = [p for p in sdk.call(service.training.get_projects) if p.name == name]
    return json.dumps({"format_version": 1, "project_id": project.id, "project_name": name})


if __name__ == "__main__":
    main()
