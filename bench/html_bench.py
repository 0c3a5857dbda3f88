"""Benchmark of `cvspec plan --format html` for a plan of 10,000 images.

It writes N unique 256x256 JPEGs (smooth gradients, a shape and noise, so the thumbnails
compress like photos rather than like flat colours) under ``images/{tag}/`` (10 tags) with a
spec, warms the spec's hash cache with a first text plan, and measures, each the best of
``--repeat`` runs:

* **html command**: ``python -m cvspec plan SPEC --format html`` in a fresh process, as a user
  runs it (interpreter start, imports, emulator start, spec load, live read, diff, the
  thumbnails and the rendering): wall time and the HTML's size;
* **text command**: the same with ``--format text``, the baseline the HTML adds to;
* **render**: ``render_plan_html`` alone in this process (thumbnails included), on the plan
  made once here;
* the number of thumbnails in the page (a bounded sample per tag: the size does not grow with
  the number of images).

Usage::

    python bench/html_bench.py [--images 10000] [--repeat 3] [--keep DIR] [--write FILE]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

TAGS = 10
SIDE = 256

SPEC = """\
version: 1
project:
  name: html-bench
tags: [{tags}]
images:
  - path: "images/{{tag}}/*.jpg"
training: null
"""


def write_images(root: Path, count: int) -> None:
    rng = np.random.default_rng(7)
    ramp = np.linspace(0, 1, SIDE)
    for n in range(count):
        tag = f"tag{n % TAGS}"
        path = root / "images" / tag / f"img{n:05d}.jpg"
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        base = rng.integers(0, 256, 3)
        grad = np.outer(ramp, 1 - ramp)[..., None] * (255 - base) + base
        noisy = grad + rng.normal(0, 12, (SIDE, SIDE, 3))
        image = Image.fromarray(noisy.clip(0, 255).astype(np.uint8), "RGB")
        x, y = (int(v) for v in rng.integers(20, SIDE - 100, 2))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        ImageDraw.Draw(image).ellipse((x, y, x + 80, y + 60), fill=fill)
        image.save(path, "JPEG", quality=85)
    tags = ", ".join(f"{{name: tag{k}}}" for k in range(TAGS))
    (root / "spec.yaml").write_text(SPEC.format(tags=tags))


def best(runs: int, action: Callable[[], float]) -> float:
    return min(action() for _ in range(runs))


def command(root: Path, fmt: str) -> tuple[float, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CVSPEC_", "VISION_"))}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "cvspec", "plan", "spec.yaml", "--format", fmt],
        cwd=root,
        env=env,
        capture_output=True,
        check=True,
    )
    return time.perf_counter() - started, len(done.stdout)


def render_only(root: Path, repeat: int) -> tuple[float, int]:
    from cvspec.commands.common import make_plan, state_dir
    from cvspec.html.report import render_plan_html
    from cvspec.service import connect
    from cvspec.spec import load_and_validate

    os.chdir(root)
    validated = load_and_validate(Path("spec.yaml"))
    with connect(state_dir(Path("spec.yaml"))) as service:
        plan = make_plan(validated, service)
    timings = []
    html = ""
    for _ in range(repeat):
        started = time.perf_counter()
        html = render_plan_html(plan, validated.base_dir)
        timings.append(time.perf_counter() - started)
    return min(timings), html.count("<img ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the images here")
    parser.add_argument("--write", type=Path, help="also write the report (Markdown) here")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="cvspec-html-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    write_images(root, args.images)
    written = time.perf_counter() - started
    command(root, "text")  # warm the hash cache
    text_seconds = best(args.repeat, lambda: command(root, "text")[0])
    html_runs = [command(root, "html") for _ in range(args.repeat)]
    html_seconds, size = min(html_runs)
    render_seconds, thumbs = render_only(root, args.repeat)
    lines = [
        f"# cvspec plan --format html, {args.images:,} images to upload ({TAGS} tags)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPU(s); best of {args.repeat}; images written in {written:.1f}s.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| HTML size | {size / 1e6:.2f} MB ({size:,} bytes) |",
        f"| thumbnails in the page | {thumbs} |",
        f"| `plan --format html` (fresh process) | {html_seconds:.2f} s |",
        f"| `plan --format text` (fresh process) | {text_seconds:.2f} s |",
        f"| `render_plan_html` alone | {render_seconds:.2f} s |",
    ]
    report = "\n".join(lines)
    print(report)
    if args.write:
        args.write.write_text(report + "\n")


if __name__ == "__main__":
    main()
