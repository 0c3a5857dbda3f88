"""Thumbnails for HTML reports: small JPEGs (at most SIDE pixels a side) as data: URIs, so a
report is one self-contained file. Made with Pillow; a file that cannot be read or decoded
gets None (the report shows a placeholder tile)."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

SIDE = 96  # pixels
QUALITY = 70  # JPEG quality: a 96 px digit is about 2 KB
WORKERS = 4  # Pillow releases the GIL while decoding and resizing


def thumbnail_uri(path: Path | io.BytesIO, side: int = SIDE) -> str | None:
    """A `data:image/jpeg;base64,...` thumbnail of the image at `path` (or in a buffer), or
    None."""
    try:
        with Image.open(path) as image:
            image.draft("RGB", (side, side))  # JPEG: decode at a reduced scale, much faster
            small = ImageOps.exif_transpose(image).convert("RGB")
            small.thumbnail((side, side))
            out = io.BytesIO()
            small.save(out, "JPEG", quality=QUALITY, optimize=True)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def thumbnails(paths: Iterable[Path | None]) -> list[str | None]:
    """The thumbnails of `paths`, in order (None for a missing path or an unreadable file)."""
    items = list(paths)
    with ThreadPoolExecutor(WORKERS, "cvspec-thumbs") as pool:
        return list(pool.map(lambda p: thumbnail_uri(p) if p is not None else None, items))
