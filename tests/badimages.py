"""Images the service refuses although their headers (and a PNG's checksums) are right.

Shared by the emulator tests (the SDK against a running emulator) and the spec corpus
(cvspec's offline checks), so both refuse the very same bytes.
"""

from __future__ import annotations

import io
import random
import struct
import zlib

from PIL import Image


def noise(fmt: str, size: tuple[int, int] = (64, 48), seed: int = 1) -> bytes:
    """A valid image of random pixels (so its compressed data is long and incompressible)."""
    rng = random.Random(seed)
    image = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def png_garbage_idat(seed: int = 1) -> bytes:
    """A PNG whose IDAT holds garbage after a valid zlib header, with its CRC recomputed."""
    data = noise("PNG", seed=seed)
    rng = random.Random(seed)
    out, pos = bytearray(data[:8]), 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IDAT":
            body = body[:2] + rng.randbytes(len(body) - 2)
        out += struct.pack(">I", length) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        pos += 12 + length
    return bytes(out)


def png_truncated_idat(seed: int = 1) -> bytes:
    """A PNG cut in the middle of its IDAT, then given an IEND again: the end looks right."""
    data = noise("PNG", seed=seed)
    return data[: len(data) // 2] + data[-12:]


def jpeg_truncated(seed: int = 1) -> bytes:
    """A JPEG cut in the middle of its entropy-coded scan."""
    data = noise("JPEG", seed=seed)
    return data[: len(data) // 2]


def jpeg_garbage_scan(seed: int = 1) -> bytes:
    """A JPEG whose scan data is overwritten with random bytes from its middle on (EOI kept)."""
    data = bytearray(noise("JPEG", seed=seed))
    rng = random.Random(seed)
    start = len(data) // 2
    data[start:-2] = rng.randbytes(len(data) - 2 - start)
    return bytes(data)


def gif_truncated(seed: int = 1) -> bytes:
    """A GIF cut in the middle of its LZW data, then given its trailer again."""
    data = noise("GIF", seed=seed)
    return data[: len(data) // 2] + b";"


def webp(seed: int = 1) -> bytes:
    """A valid WebP image: a format the service does not accept."""
    return noise("WEBP", seed=seed)
