"""Downloading a project's images, resumably.

The list comes from cvspec.importing.source (GetImages, 256 a call, under the Training
API's rate limit). The files come from each image's `originalImageUri`, which the real service
gives as a storage URL with a SAS token: such a URL is a secret, so it is never printed,
logged or written; a failure names the image id. Downloads go through their own rate limiter
(`rate` per second, `workers` at a time) and the import's retries
(cvspec.importing.download.fetch_image); each file is written to a
temporary name and renamed once complete, so a file present under its final name is whole,
and an interrupted export continues where it stopped (files already there are kept).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import requests

from cvspec.export_layout import IMAGES_DIR, ExportImage
from cvspec.identity import MARKER_KEY, MARKER_VALUE
from cvspec.importing.download import ImageGone, fetch_image
from cvspec.importing.source import SourceImage
from cvspec.ratelimit import RateLimiter

DOWNLOAD_RATE = 50.0  # downloads per second (storage, not the Training API)
WORKERS = 8
_EXTENSIONS = ((b"\xff\xd8\xff", ".jpg"), (b"\x89PNG", ".png"), (b"GIF8", ".gif"), (b"BM", ".bmp"))


@dataclass(frozen=True)
class Listed:
    """An image as listed, with the URL of its original file (a secret on Azure)."""

    image: ExportImage
    uri: str

    def __repr__(self) -> str:  # the URI may carry a SAS token
        return f"Listed(image={self.image!r}, uri=<hidden>)"


@dataclass(frozen=True)
class Downloaded:
    image: ExportImage
    path: str  # relative to the export folder
    sha256: str


@dataclass(frozen=True)
class DownloadResult:
    done: tuple[Downloaded, ...]  # in the order listed
    failed: tuple[tuple[str, str], ...]  # (image id, reason)
    fetched: int  # downloaded by this run (the others were already there)


def listed_images(images: Sequence[SourceImage]) -> list[Listed]:
    """The project's images (as cvspec.importing.source reads them), to download."""
    return [
        Listed(
            image=ExportImage(
                id=i.id,
                tags=i.tags,
                width=i.width,
                height=i.height,
                created=i.created,
                by_cvspec=dict(i.metadata).get(MARKER_KEY) == MARKER_VALUE,
            ),
            uri=i.uri,
        )
        for i in images
    ]


def download_all(
    listed: Sequence[Listed],
    root: Path,
    rate: float = DOWNLOAD_RATE,
    workers: int = WORKERS,
    progress: Callable[[int, int], None] | None = None,
) -> DownloadResult:
    """Download every listed image into `root/images/`, keeping files already there."""
    folder = root / IMAGES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    present = _present(folder)
    limiter = RateLimiter(rate)
    session = requests.Session()
    done: dict[str, Downloaded] = {}
    failed: dict[str, str] = {}
    counter = _Counter(len(listed), progress)
    todo = []
    for item in listed:
        name = present.get(item.image.id)
        if name is None:
            todo.append(item)
            continue
        done[item.image.id] = _stored(item.image, folder / name)
        counter.tick()
    pool = ThreadPoolExecutor(max(1, min(workers, len(todo) or 1)), "cvspec-export")
    try:
        futures = {pool.submit(_fetch, session, limiter, item, folder): item for item in todo}
        for future in as_completed(futures):
            item = futures[future]
            outcome = future.result()
            if isinstance(outcome, Downloaded):
                done[item.image.id] = outcome
            else:
                failed[item.image.id] = outcome
            counter.tick()
    finally:  # Ctrl-C: the downloads under way finish, the others never start
        pool.shutdown(wait=True, cancel_futures=True)
    ordered = tuple(done[i.image.id] for i in listed if i.image.id in done)
    return DownloadResult(ordered, tuple(sorted(failed.items())), len(todo) - len(failed))


class _Counter:
    def __init__(self, total: int, progress: Callable[[int, int], None] | None) -> None:
        self.total, self.done, self.progress = total, 0, progress
        self._lock = threading.Lock()

    def tick(self) -> None:
        with self._lock:
            self.done += 1
            if self.progress is not None:
                self.progress(self.done, self.total)


def _present(folder: Path) -> dict[str, str]:
    """Image id -> file name of the complete files already in `folder`."""
    return {p.stem: p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")}


def _stored(image: ExportImage, path: Path) -> Downloaded:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return Downloaded(image, f"{IMAGES_DIR}/{path.name}", digest)


def _fetch(
    session: requests.Session, limiter: RateLimiter, item: Listed, folder: Path
) -> Downloaded | str:
    """The stored image, or why it could not be downloaded (never its URL)."""
    try:
        data = fetch_image(item.uri, limiter, session)
    except ImageGone as exc:
        return str(exc)
    return _write(item.image, data, folder)


def _write(image: ExportImage, data: bytes, folder: Path) -> Downloaded:
    name = image.id + extension(data)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".part-")
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    os.replace(tmp, folder / name)
    return Downloaded(image, f"{IMAGES_DIR}/{name}", hashlib.sha256(data).hexdigest())


def extension(data: bytes) -> str:
    """The file extension of an image's bytes (".bin" when not recognised)."""
    return next((ext for magic, ext in _EXTENSIONS if data.startswith(magic)), ".bin")
