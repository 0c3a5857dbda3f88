"""Benchmark: resolve and hash a 10,000-image spec, cold and warm, against `sha256sum`.

    /work/venv/bin/python bench/hash_bench.py [--images 10000] [--repeat 3]

Generates a folder-per-tag tree of distinct JPEGs in a temporary directory, then times
(best of --repeat, page cache warm for every contender):
  * `sha256sum` over the same files (through xargs), the throughput reference;
  * `load_and_validate` with no hash cache (cold: every file read, hashed, checked and its
    pixel data decoded), with the thread pool and with one thread;
  * the same cold run with the decode turned off (hashing and header checks alone), and the
    decode's cost: the difference, in seconds and per image;
  * `load_and_validate` with the cache from the previous run (warm: no image bytes read,
    nothing decoded).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from cvspec.spec import hashcache, imagecheck, load_and_validate
from cvspec.spec.hashcache import CACHE_DIR

TAGS = 10
BASES = 24


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cvspec-bench-") as tmp:
        root = Path(tmp)
        total = make_tree(root, args.images)
        report(root, args.images, total, args.repeat)


def make_tree(root: Path, count: int) -> int:
    """Write `count` distinct JPEGs under images/t{n}/ and the spec; return the bytes written."""
    rng = random.Random(7)
    bases = [_jpeg(rng) for _ in range(BASES)]
    total = 0
    past = time.time() - 3600  # older than the cache's racy-mtime window
    for index in range(count):
        folder = root / "images" / f"t{index % TAGS}"
        folder.mkdir(parents=True, exist_ok=True)
        data = _unique(bases[index % BASES], index)
        path = folder / f"img{index:05d}.jpg"
        path.write_bytes(data)
        os.utime(path, (past, past))
        total += len(data)
    tags = "".join(f"  - name: t{n}\n" for n in range(TAGS))
    (root / "spec.yaml").write_text(
        "version: 1\nproject: {name: bench, classification: multiclass, domain: General}\n"
        f'tags:\n{tags}images:\n  - path: "images/{{tag}}/*.jpg"\ntraining: {{}}\n'
    )
    return total


def _jpeg(rng: random.Random) -> bytes:
    side = rng.choice((256, 320, 384, 448))
    image = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def _unique(base: bytes, index: int) -> bytes:
    # A COM segment right after SOI makes each file's content distinct and still a JPEG.
    comment = f"cvspec bench image {index:08d}".encode()
    return base[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + base[2:]


def best_of(repeat: int, run: Callable[[], object], before: Callable[[], None]) -> float:
    """The fastest of `repeat` timed runs, each after `before()`."""
    times = []
    for _ in range(repeat):
        before()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def report(root: Path, count: int, total: int, repeat: int) -> None:
    load = os.getloadavg()[0]
    spec = root / "spec.yaml"
    sha = "cd {} && find images -type f -print0 | xargs -0 sha256sum > /dev/null"
    command = sha.format(root)

    def sha256sum() -> None:
        subprocess.run(command, shell=True, check=True)

    def drop_cache() -> None:
        shutil.rmtree(root / CACHE_DIR, ignore_errors=True)

    sha256sum()  # warm the page cache for every contender
    reference = best_of(repeat, sha256sum, lambda: None)
    cold = best_of(repeat, lambda: load_and_validate(spec), drop_cache)
    workers, hashcache._WORKERS = hashcache._WORKERS, 1
    single = best_of(repeat, lambda: load_and_validate(spec), drop_cache)
    hashcache._WORKERS = workers
    imagecheck.DECODE = False
    no_decode = best_of(repeat, lambda: load_and_validate(spec), drop_cache)
    imagecheck.DECODE = True
    load_and_validate(spec)  # the cache the warm runs read holds decoded verdicts
    warm = best_of(max(repeat, 5), lambda: load_and_validate(spec), lambda: None)
    mb = total / 1e6
    print(f"images: {count:,}  bytes: {total:,} ({mb:.0f} MB)  cpus: {os.cpu_count()}")
    print(f"load average before the run: {load:.2f}")
    print(f"{'sha256sum:':29} {reference:.2f} s  ({mb / reference:.0f} MB/s)")
    rows = (
        (f"cold, {workers} threads", cold),
        ("cold, 1 thread", single),
        (f"cold, no decode, {workers} threads", no_decode),
    )
    for name, seconds in rows:
        share = reference / seconds
        print(
            f"{name + ':':29} {seconds:.2f} s  ({mb / seconds:.0f} MB/s, {share:.0%} of sha256sum)"
        )
    decode = cold - no_decode
    print(f"{'decode cost:':29} {decode:.2f} s  ({decode / count * 1000:.2f} ms per image)")
    print(f"{'warm:':29} {warm:.3f} s")


if __name__ == "__main__":
    main()
