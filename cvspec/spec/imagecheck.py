"""Image checks before any upload: what the service would refuse, found offline.

Format and size come from the header; a file cut short is recognised by a missing end
marker and a PNG's chunk CRCs are verified (all cheap). Then the pixel data is decoded
with Pillow, as the service (and cvspec's emulator) decodes it: a file whose header and
checksums are right but whose pixel data is garbage or ends early is refused. A JPEG is
decoded in draft mode (every coefficient is entropy-decoded, so truncation and garbage are
found, but the inverse DCT runs at 1/8 scale). The decode is the costly part (see
docs/benchmarks-spec.md); the hash cache keeps its verdict, so a file is decoded once per
version. The service's limits are in service-behavior.md §3.
"""

from __future__ import annotations

import io
import struct
from typing import NamedTuple

from PIL import Image

ACCEPTED_FORMATS = ("JPEG", "PNG", "BMP", "GIF")
MAX_FILE_BYTES = 6 * 1024 * 1024
"""The service's 6 MB limit on a training image, read as 6 MiB."""
MAX_SIDE = 10_240
MAX_ASPECT = 25.0
_TAIL = 4096

DECODE = True
"""Decode the pixel data of every complete file (bench/hash_bench.py turns it off to time
hashing and header checks alone)."""

NOT_AN_IMAGE = "not an image (the service accepts JPEG, PNG, BMP and GIF)"


class ImageFacts(NamedTuple):
    """What a file's bytes say about it; `defect` is empty for a usable image."""

    format: str
    width: int
    height: int
    defect: str


def inspect_image(data: bytes, *, complete: bool = True) -> ImageFacts:
    """Read format and size from the header; when `data` is the whole file, check its end
    and decode its pixel data."""
    if not data:
        return ImageFacts("", 0, 0, "")
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt, (width, height) = image.format or "", image.size
    except Exception:  # Pillow raises many kinds of errors on malformed headers
        return ImageFacts("", 0, 0, NOT_AN_IMAGE)
    if fmt not in ACCEPTED_FORMATS:
        defect = f"unsupported image format {fmt} (the service accepts JPEG, PNG, BMP and GIF)"
        return ImageFacts(fmt, width, height, defect)
    if not complete:
        return ImageFacts(fmt, width, height, "")
    defect = _truncation(fmt, data) or _corrupt_png(fmt, data)
    in_limits = max(width, height) <= MAX_SIDE and _aspect_of(width, height) <= MAX_ASPECT
    if DECODE and not defect and in_limits:  # an image refused for its size is not decoded
        defect = _undecodable(fmt, data)
    return ImageFacts(fmt, width, height, defect)


def _undecodable(fmt: str, data: bytes) -> str:
    """Decode the pixel data (the first frame of a GIF) as the service does."""
    try:  # no warnings.catch_warnings() here: it is not thread-safe (a thread pool calls this)
        with Image.open(io.BytesIO(data)) as image:
            if fmt == "JPEG":
                image.draft(None, (1, 1))
            image.load()
    except Exception as exc:  # Pillow's decoders raise OSError, ValueError, struct.error, ...
        if "truncated" in str(exc):
            return f"truncated {fmt} (the pixel data ends early)"
        return f"corrupt {fmt} (the pixel data cannot be decoded)"
    return ""


def _corrupt_png(fmt: str, data: bytes) -> str:
    """PNG chunks carry CRCs: Pillow's verify() checks them without decompressing."""
    if fmt != "PNG":
        return ""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except Exception as exc:  # verify() raises SyntaxError, OSError, struct.error, ...
        if "truncated" in str(exc).lower():  # a chunk runs past the end, an IEND follows
            return "truncated PNG (a chunk ends early)"
        return f"corrupt PNG ({exc})"
    return ""


def _truncation(fmt: str, data: bytes) -> str:
    tail = data[-_TAIL:]
    if fmt == "JPEG" and b"\xff\xd9" not in tail:
        return "truncated JPEG (no end-of-image marker)"
    if fmt == "PNG" and b"IEND" not in tail:
        return "truncated PNG (no IEND chunk)"
    if fmt == "GIF" and not data.rstrip(b"\x00").endswith(b";"):
        return "truncated GIF (no trailer)"
    if fmt == "BMP" and len(data) < struct.unpack_from("<I", data, 2)[0]:
        return "truncated BMP (shorter than its header says)"
    return ""


def image_problems(facts: ImageFacts, size: int) -> list[str]:
    """Every reason the service would refuse this file as a training image."""
    if size == 0:
        return ["empty file (0 bytes)"]
    problems = [facts.defect] if facts.defect else []
    if size > MAX_FILE_BYTES:
        problems.append(f"{size:,} bytes is over the 6 MB limit ({MAX_FILE_BYTES:,} bytes)")
    if facts.format and max(facts.width, facts.height) > MAX_SIDE:
        problems.append(f"{facts.width}x{facts.height} pixels: a side is over {MAX_SIDE:,}")
    if facts.format and _aspect(facts) > MAX_ASPECT:
        problems.append(f"{facts.width}x{facts.height} pixels: aspect ratio is over 25:1")
    return problems


def _aspect(facts: ImageFacts) -> float:
    return _aspect_of(facts.width, facts.height)


def _aspect_of(width: int, height: int) -> float:
    short = min(width, height)
    return max(width, height) / short if short else float("inf")
