"""Figures for docs/hand-written.md: hand-written code against the library that could replace it.

    python bench/hand_written_bench.py

* the plan-file codec (cvspec.planfile) against pydantic's TypeAdapter, 10,000 images;
* the image diff's set algebra against deepdiff on the same 10,000 records;
* the spec's YAML parse (cvspec.spec.yamldoc) against PyYAML's pure-Python and libyaml
  loaders, and ruamel.yaml when it is installed (it is not a dependency), on a 540 KB spec
  listing 12,000 image URLs.

Best of 5 (3 for ruamel.yaml), wall time.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable
from typing import Any

import yaml
from pydantic import TypeAdapter

from cvspec import ops, planfile
from cvspec.plan import Plan
from cvspec.spec.yamldoc import parse_yaml


def best(fn: Callable[[], Any], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def row(label: str, fn: Callable[[], Any], runs: int = 5) -> None:
    print(f"  {label:<30}{best(fn, runs):7.1f} ms")


def codec() -> None:
    images = tuple(
        ops.ImageUpload(sha256=f"{i:064x}", path=f"photos/cat/{i}.jpg", tags=("cat", "pet"))
        for i in range(10_000)
    )
    upload = ops.UploadImages(images=images, reason="new", reason_code=ops.Reason.MISSING)
    plan = Plan(project_name="p", operations=(upload,), drift=(), live_fingerprint="x")
    text = json.dumps(planfile.encode(plan))
    adapter = TypeAdapter(tuple[ops.ImageUpload, ...])
    data = json.loads(text)["operations"][0]["images"]
    assert adapter.validate_python(data) == images
    print("plan-file codec, 10,000 images")
    row("planfile.encode", lambda: planfile.encode(plan))
    row("planfile.decode", lambda: planfile.decode(Plan, json.loads(text)))
    row("TypeAdapter.dump_python", lambda: adapter.dump_python(images, mode="json"))
    row("TypeAdapter.validate_python", lambda: adapter.validate_python(data))


def image_diff() -> None:
    # by name: a benchmark must not be what makes deptry count deepdiff as used
    deepdiff = importlib.import_module("deepdiff")
    live = {f"{i:064x}": {"tags": ["cat", "pet"], "path": f"p/{i}.jpg"} for i in range(10_000)}
    desired = dict(live)
    desired[f"{5:064x}"] = {"tags": ["dog"], "path": "p/5.jpg"}

    def set_algebra() -> list[str]:
        return [k for k in live.keys() & desired.keys() if live[k] != desired[k]]

    print("image diff, 10,000 records, one changed")
    row("set algebra on keys", set_algebra)
    row("deepdiff.DeepDiff", lambda: deepdiff.DeepDiff(live, desired), 3)


def yaml_parse() -> None:
    lines = ["project:", "  name: fruit", "tags:", "  - name: apple", "images:", "  - urls:"]
    lines += [f"      - https://example.com/photos/{i:05d}.jpg" for i in range(12_000)]
    lines += ["    tags: [apple]"]
    text = "\n".join(lines) + "\n"
    print(f"YAML parse, {len(text):,} bytes, 12,000 URLs")
    row("cvspec parse_yaml", lambda: parse_yaml(text))
    row("yaml.load SafeLoader", lambda: yaml.load(text, Loader=yaml.SafeLoader))
    row("yaml.compose CSafeLoader", lambda: yaml.compose(text, Loader=yaml.CSafeLoader))
    try:  # imported by name: ruamel.yaml is not a dependency, only measured when present
        ruamel = importlib.import_module("ruamel.yaml")
    except ImportError:
        print("  ruamel.yaml: not installed")
        return
    round_trip = ruamel.YAML()
    booleans = dict(round_trip.load("a: no\nb: yes\nc: on\n"))
    row("ruamel.yaml round-trip", lambda: round_trip.load(text), 3)
    print(f"  ruamel.yaml reads no/yes/on as {booleans}")


if __name__ == "__main__":
    codec()
    image_diff()
    yaml_parse()
