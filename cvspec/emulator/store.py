"""Persistence: one SQLite database (WAL) plus a content-addressed blob directory.

Everything the emulator knows lives under its data directory, so separate processes
that use the same directory see the same service. All access to the database goes
through one connection guarded by one re-entrant lock: simple and correct under the
server's thread pool.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS prediction_resources (
    resource_id TEXT PRIMARY KEY, key TEXT NOT NULL UNIQUE, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    arm_id TEXT PRIMARY KEY COLLATE NOCASE, subscription TEXT NOT NULL COLLATE NOCASE,
    resource_group TEXT NOT NULL COLLATE NOCASE, name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    kind TEXT NOT NULL, sku TEXT NOT NULL, location TEXT NOT NULL, key1 TEXT NOT NULL,
    key2 TEXT NOT NULL, state TEXT NOT NULL, created TEXT NOT NULL, tags TEXT);
CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL,
    domain_id TEXT NOT NULL, classification_type TEXT NOT NULL,
    target_export_platforms TEXT NOT NULL, created TEXT NOT NULL, last_modified TEXT NOT NULL,
    status TEXT NOT NULL, export_container_uri TEXT, notification_queue_uri TEXT,
    seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tags (
    id TEXT PRIMARY KEY, project_id TEXT NOT NULL, name TEXT NOT NULL, description TEXT,
    type TEXT NOT NULL, created TEXT NOT NULL, seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS tags_project ON tags(project_id);
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY, project_id TEXT NOT NULL, sha256 TEXT NOT NULL,
    width INTEGER NOT NULL, height INTEGER NOT NULL, created TEXT NOT NULL,
    in_workspace INTEGER NOT NULL DEFAULT 1, metadata TEXT, seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS images_project ON images(project_id, in_workspace, seq);
CREATE INDEX IF NOT EXISTS images_sha ON images(project_id, sha256);
CREATE TABLE IF NOT EXISTS image_tags (
    image_id TEXT NOT NULL, tag_id TEXT NOT NULL, created TEXT NOT NULL,
    PRIMARY KEY (image_id, tag_id));
CREATE INDEX IF NOT EXISTS image_tags_tag ON image_tags(tag_id);
CREATE TABLE IF NOT EXISTS iterations (
    id TEXT PRIMARY KEY, project_id TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,
    created TEXT NOT NULL, last_modified TEXT NOT NULL, trained_at TEXT,
    domain_id TEXT NOT NULL, classification_type TEXT NOT NULL, training_type TEXT NOT NULL,
    reserved_budget INTEGER NOT NULL, training_minutes INTEGER NOT NULL,
    publish_name TEXT, publish_resource_id TEXT, error TEXT, fingerprint TEXT NOT NULL,
    selected_tags TEXT, model_sha TEXT, held_out TEXT, seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS iterations_project ON iterations(project_id, seq);
CREATE TABLE IF NOT EXISTS iteration_tags (
    iteration_id TEXT NOT NULL, tag_id TEXT NOT NULL, name TEXT NOT NULL, description TEXT,
    type TEXT NOT NULL, image_count INTEGER NOT NULL, PRIMARY KEY (iteration_id, tag_id));
CREATE TABLE IF NOT EXISTS iteration_images (
    iteration_id TEXT NOT NULL, image_id TEXT NOT NULL, tag_ids TEXT NOT NULL,
    PRIMARY KEY (iteration_id, image_id));
CREATE INDEX IF NOT EXISTS iteration_images_image ON iteration_images(image_id);
CREATE TABLE IF NOT EXISTS predictions (
    id TEXT PRIMARY KEY, project_id TEXT NOT NULL, iteration_id TEXT NOT NULL,
    created TEXT NOT NULL, sha256 TEXT NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL,
    predictions TEXT NOT NULL, application TEXT, domain_id TEXT NOT NULL, seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS predictions_project ON predictions(project_id, seq);
CREATE TABLE IF NOT EXISTS project_exports (
    token TEXT PRIMARY KEY, manifest TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS features (
    sha256 TEXT NOT NULL, version TEXT NOT NULL, vector BLOB NOT NULL, dtype TEXT NOT NULL,
    PRIMARY KEY (sha256, version));
"""


class BlobStore:
    """Content-addressed files: ``blobs/ab/abcdef…`` named by the sha256 of their bytes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, sha: str) -> Path:
        return self.root / sha[:2] / sha

    def put(self, data: bytes, sha: str | None = None) -> str:
        sha = sha or hashlib.sha256(data).hexdigest()
        target = self.path(sha)
        if target.exists():
            return sha
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
        return sha

    def get(self, sha: str) -> bytes:
        return self.path(sha).read_bytes()

    def exists(self, sha: str) -> bool:
        return self.path(sha).exists()


class Store:
    """The database and the blobs of one data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.blobs = BlobStore(data_dir / "blobs")
        self.lock = threading.RLock()
        self._conn = sqlite3.connect(
            data_dir / "emulator.sqlite3", check_same_thread=False, isolation_level=None
        )
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=10000")
        self._conn.executescript(SCHEMA)
        self._depth = 0

    def close(self) -> None:
        with self.lock:
            self._conn.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (re-entrant: nested uses join the outer one)."""
        with self.lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._conn
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._depth = 0

    def one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        with self.lock:
            row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
            return row

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self.lock:
            return list(self._conn.execute(sql, params).fetchall())

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.one(sql, params)
        return None if row is None else row[0]

    def next_seq(self, table: str) -> int:
        value = self.scalar(f"SELECT COALESCE(MAX(seq), 0) + 1 FROM {table}")
        return int(value)

    # -- small key/value area: identity, settings ---------------------------------

    def get_meta(self, key: str) -> str | None:
        value = self.scalar("SELECT value FROM meta WHERE key = ?", (key,))
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        with self.tx() as c:
            c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)
