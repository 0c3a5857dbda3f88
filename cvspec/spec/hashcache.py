"""Content hashes of image files, cached by (path, size, mtime) under `<spec dir>/.cvspec/`.

A file whose size and mtime are unchanged is not read again: its sha256 and image facts
come from the cache. Cold hashing reads each file once, in a thread pool (hashlib and
Pillow's decoders release the GIL), and inspects and decodes the same bytes for the image
checks; the cache keeps the verdict, so a file is decoded once per version.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

from cvspec.spec.imagecheck import ImageFacts, inspect_image

CACHE_DIR = ".cvspec"
CACHE_FILE = "hash-cache.sqlite"
_SCHEMA_VERSION = 2  # 2: image facts include a full decode of the pixel data
_WHOLE_READ_LIMIT = 64 * 1024 * 1024
_RACY_NS = 2_000_000_000  # a file written this recently may change again within its mtime tick
_WORKERS = min(8, 2 * (os.cpu_count() or 1))


# NamedTuples rather than frozen dataclasses: the warm path builds one per file, and
# tuples are several times cheaper to build.


class FileFacts(NamedTuple):
    """A file's sha256 and what its bytes say about it as an image."""

    sha256: str
    image: ImageFacts


class FileKey(NamedTuple):
    """What identifies a version of a file without reading it."""

    path: str
    size: int
    mtime_ns: int


class HashCache:
    """The (path, size, mtime_ns) -> FileFacts table, loaded whole and saved in one go."""

    def __init__(self, file: Path | None) -> None:
        self._file = file
        self._rows: dict[str, tuple[int, int, FileFacts]] = _load(file) if file else {}
        self._new: dict[str, tuple[int, int, FileFacts]] = {}

    @classmethod
    def for_spec_dir(cls, base_dir: Path) -> HashCache:
        """The cache of the spec directory (kept in memory only if it cannot be written)."""
        directory = base_dir / CACHE_DIR
        try:
            directory.mkdir(exist_ok=True)
        except OSError:
            return cls(None)
        return cls(directory / CACHE_FILE)

    def get(self, key: FileKey) -> FileFacts | None:
        """The cached facts, if the file has not changed since they were taken."""
        row = self._rows.get(key.path)
        if row is None or row[0] != key.size or row[1] != key.mtime_ns:
            return None
        return row[2]

    def put(self, key: FileKey, facts: FileFacts) -> None:
        """Remember facts; not if the file is so fresh it may change within its mtime tick."""
        self._rows[key.path] = (key.size, key.mtime_ns, facts)
        if facts.sha256 and time.time_ns() - key.mtime_ns > _RACY_NS:
            self._new[key.path] = (key.size, key.mtime_ns, facts)

    def save(self) -> None:
        """Write the new entries; a cache that cannot be written is silently skipped."""
        if self._file is None or not self._new:
            return
        try:
            _save(self._file, self._new)
        except sqlite3.Error:
            return
        self._new.clear()


def hash_files(keys: Iterable[FileKey], cache: HashCache) -> dict[str, FileFacts]:
    """Facts of every file: from the cache, or by reading the files in a thread pool."""
    found: dict[str, FileFacts] = {}
    todo: list[FileKey] = []
    for key in keys:
        facts = cache.get(key)
        if facts is None:
            todo.append(key)
        else:
            found[key.path] = facts
    if todo:
        with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
            for key, facts in zip(todo, pool.map(read_facts, todo), strict=True):
                cache.put(key, facts)
                found[key.path] = facts
    return found


def read_facts(key: FileKey) -> FileFacts:
    """Hash the file and inspect its bytes; an unreadable file has an empty sha256."""
    try:
        return _read_facts(key)
    except OSError as exc:
        return FileFacts("", ImageFacts("", 0, 0, f"cannot read: {exc.strerror}"))


def _read_facts(key: FileKey) -> FileFacts:
    with open(key.path, "rb") as file:
        if key.size <= _WHOLE_READ_LIMIT:
            data = file.read()
            return FileFacts(hashlib.sha256(data).hexdigest(), inspect_image(data))
        digest = hashlib.file_digest(file, "sha256").hexdigest()
        file.seek(0)
        head = file.read(1024 * 1024)
    return FileFacts(digest, inspect_image(head, complete=False))


def _connect(file: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(file, timeout=10)
    if connection.execute("PRAGMA user_version").fetchone()[0] != _SCHEMA_VERSION:
        connection.executescript(
            "DROP TABLE IF EXISTS files;"
            "CREATE TABLE files (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER,"
            " sha256 TEXT, format TEXT, width INTEGER, height INTEGER, defect TEXT);"
            f"PRAGMA user_version = {_SCHEMA_VERSION};"
        )
    return connection


def _load(file: Path) -> dict[str, tuple[int, int, FileFacts]]:
    if not file.exists():
        return {}
    try:
        connection = _connect(file)
        try:
            rows = connection.execute("SELECT * FROM files").fetchall()
        finally:
            connection.close()
    except sqlite3.Error:
        return {}
    return {
        path: (size, mtime, FileFacts(digest, ImageFacts(fmt, width, height, defect)))
        for path, size, mtime, digest, fmt, width, height, defect in rows
    }


def _save(file: Path, rows: dict[str, tuple[int, int, FileFacts]]) -> None:
    connection = _connect(file)
    try:
        with connection:
            connection.executemany(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [_row(path, size, mtime, facts) for path, (size, mtime, facts) in rows.items()],
            )
    finally:
        connection.close()


def _row(path: str, size: int, mtime: int, facts: FileFacts) -> tuple[object, ...]:
    image = facts.image
    return (path, size, mtime, facts.sha256, image.format, image.width, image.height, image.defect)
