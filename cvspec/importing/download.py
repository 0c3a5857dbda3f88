"""Downloading the project's images: batched, rate-limited, resumable.

Images are fetched from the original image URIs the service lists (on Azure, blob URLs
with a SAS token: never shown, never written down), BATCH at a time by WORKERS threads, each
request waiting for a RateLimiter as the SDK's calls do. Each file is written under a
temporary name and renamed once complete, so a file with its final name is whole. After
each batch, its images (id, path, sha256) are appended to the progress file in the import's
folder; an interrupted import, run again, skips every file the progress file lists whose
content still has that hash, and downloads the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import requests

from cvspec.errors import CvspecError
from cvspec.importing.layout import FILES, FOLDERS, UNTAGGED, Placement
from cvspec.ratelimit import RateLimiter

PROGRESS_FILE = ".cvspec-import.jsonl"
BATCH = 64  # images per batch, as uploads go
WORKERS = 8
DOWNLOAD_RATE = 50.0  # requests per second to the image store (not the Training API)
TIMEOUT = 60.0
ATTEMPTS = 4
GONE = frozenset({400, 401, 403, 404, 409, 410})  # the service no longer serves the image
_EXTENSIONS = ((b"\xff\xd8", ".jpg"), (b"\x89PNG", ".png"), (b"GIF8", ".gif"), (b"BM", ".bmp"))

Progress = Callable[[int, int], None]  # (done, total)


@dataclass(frozen=True)
class Done:
    """A downloaded image: its id, its file (relative to the import's folder), its sha256."""

    id: str
    path: str
    sha256: str


class ImageGone(Exception):
    """The image store refuses the image for good (not found, forbidden)."""


class ProgressFile:
    """`.cvspec-import.jsonl`: the project on the first line, then one line per image done."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / PROGRESS_FILE

    def project_id(self) -> str | None:
        """The project an earlier, unfinished import of this folder was importing."""
        try:
            with self.path.open(encoding="utf-8") as file:
                first = json.loads(file.readline() or "{}")
        except (OSError, ValueError):
            return None
        return str(first.get("project_id")) if isinstance(first, dict) else None

    def start(self, project_id: str, name: str) -> None:
        if self.project_id() != project_id:
            header = json.dumps({"project_id": project_id, "project": name})
            self.path.write_text(header + "\n", encoding="utf-8")

    def done(self) -> dict[str, Done]:
        found: dict[str, Done] = {}
        with self.path.open(encoding="utf-8") as file:
            for line in list(file)[1:]:
                try:
                    record = Done(**json.loads(line))
                except (ValueError, TypeError):
                    continue  # a line cut short by a kill
                found[record.id] = record
        return found

    def record(self, done: Iterable[Done]) -> None:
        text = "".join(json.dumps(asdict(d)) + "\n" for d in done)
        with self.path.open("a", encoding="utf-8") as file:
            file.write(text)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def still_valid(folder: Path, recorded: Mapping[str, Done]) -> dict[str, Done]:
    """The recorded downloads whose file is there with the recorded content."""
    return {i: d for i, d in recorded.items() if _sha256_of(folder / d.path) == d.sha256}


def _sha256_of(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def remove_strays(folder: Path, keep: set[str]) -> None:
    """Delete the files of the image folders that are not `keep` (relative paths): parts of
    an interrupted run, images since deleted from the project or moved to another tag."""
    for top in (FOLDERS, FILES, UNTAGGED):
        for path in sorted((folder / top).rglob("*"), reverse=True):
            relative = path.relative_to(folder).as_posix()
            if path.is_file() and relative not in keep:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()


def download(
    folder: Path,
    todo: Sequence[Placement],
    uris: Mapping[str, str],
    progress: ProgressFile,
    limiter: RateLimiter,
    on_progress: Progress,
    workers: int = WORKERS,
) -> tuple[list[Done], list[tuple[Placement, str]]]:
    """Download `todo` in batches; (the images done, the images that failed with why)."""
    done: list[Done] = []
    failed: list[tuple[Placement, str]] = []
    on_progress(0, len(todo))
    sessions = threading.local()  # one connection pool per worker thread
    with ThreadPoolExecutor(max(1, workers), "cvspec-import") as pool:
        for batch in _batches(todo):
            fetch = partial(_fetch, folder, uris=uris, limiter=limiter, sessions=sessions)
            results = list(pool.map(fetch, batch))
            finished = [r for r in results if isinstance(r, Done)]
            progress.record(finished)
            done += finished
            failed += [(p, r) for p, r in zip(batch, results, strict=True) if isinstance(r, str)]
            on_progress(len(done) + len(failed), len(todo))
    return done, failed


def _session(sessions: threading.local) -> requests.Session:
    if not hasattr(sessions, "session"):
        sessions.session = requests.Session()
    return sessions.session


def _batches(items: Sequence[Placement]) -> Iterator[Sequence[Placement]]:
    for start in range(0, len(items), BATCH):
        yield items[start : start + BATCH]


def _fetch(
    folder: Path,
    placement: Placement,
    *,
    uris: Mapping[str, str],
    limiter: RateLimiter,
    sessions: threading.local,
) -> Done | str:
    """The downloaded image, or why it could not be downloaded."""
    try:
        content = _get(uris[placement.image_id], limiter, _session(sessions))
    except ImageGone as exc:
        return str(exc)
    path = placement.stem + _extension(content)
    try:
        _write(folder / path, content)
    except OSError as exc:  # a full disk, a read-only folder: the next run resumes
        raise CvspecError(f"cannot write {folder / path}: {exc.strerror or exc}") from exc
    return Done(placement.image_id, path, hashlib.sha256(content).hexdigest())


def _get(uri: str, limiter: RateLimiter, session: requests.Session) -> bytes:
    """The image's bytes; transient failures (5xx, 429, a dropped connection, an empty
    answer) are retried ATTEMPTS times with backoff, a refusal for good is not."""
    if not uri:
        raise ImageGone("the service lists no image URI for it")
    why = ""
    for attempt in range(ATTEMPTS):
        if attempt:
            time.sleep(0.25 * 2 ** (attempt - 1))
        limiter.acquire()
        try:
            response = session.get(uri, timeout=TIMEOUT)
        except requests.RequestException as exc:
            why = type(exc).__name__
            continue
        if response.ok and response.content:
            return response.content
        if response.status_code in GONE:
            raise ImageGone(f"the service no longer serves it (HTTP {response.status_code})")
        if response.status_code == 429:
            limiter.pause(float(response.headers.get("Retry-After") or 1))
        why = f"HTTP {response.status_code}" if not response.ok else "an empty answer"
    raise ImageGone(f"the image store kept failing ({why}, {ATTEMPTS} attempts)")


def _extension(content: bytes) -> str:
    return next((ext for magic, ext in _EXTENSIONS if content.startswith(magic)), ".img")


def _write(path: Path, content: bytes) -> None:
    """Write under a temporary name, then rename: a file with its final name is whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    part.write_bytes(content)
    os.replace(part, path)


def failure_message(failed: Sequence[tuple[Placement, str]]) -> str:
    """One line naming the images that could not be downloaded (the first three)."""
    shown = "; ".join(
        f"image {p.image_id} ({', '.join(p.tags) or 'untagged'}): {why}" for p, why in failed[:3]
    )
    more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
    return (
        f"{len(failed)} image(s) could not be downloaded: {shown}{more}. The images "
        "downloaded so far are kept; run the same command again to resume (or remove those "
        "images from the project first)"
    )


def raise_failures(failed: Sequence[tuple[Placement, str]]) -> None:
    if failed:
        raise CvspecError(failure_message(failed))


def fetch_image(uri: str, limiter: RateLimiter, session: requests.Session) -> bytes:
    """An image's bytes from its URI, with the import's retries (cvspec export uses it too).

    Raises:
        ImageGone: the store refuses it for good, or kept failing.
    """
    return _get(uri, limiter, session)
