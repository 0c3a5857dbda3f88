"""Asynchronous training: a worker thread fits each queued iteration with the learning core,
caching image features in SQLite (keyed by content hash and feature version)."""

from __future__ import annotations

import logging
import math
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import numpy as np

from cvspec.emulator.models import now, parse_time
from cvspec.emulator.store import Store, dumps, loads

log = logging.getLogger(__name__)

CHUNK = 64  # features are computed and saved this many images at a time


class TrainingInterrupted(Exception):
    """The emulator stopped mid-training; the iteration stays Training and resumes later."""


class FeatureCache:
    """Image features by (sha256, FEATURE_VERSION); computed once, persisted in SQLite."""

    def __init__(self, store: Store, workers: int = 2) -> None:
        self.store = store
        self.workers = workers
        self.stopping = threading.Event()

    def get_many(self, shas: list[str]) -> dict[str, np.ndarray]:
        from cvspec.emulator import learning

        version = learning.FEATURE_VERSION
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(shas))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.store.all(
                f"SELECT sha256, vector, dtype FROM features WHERE version = ? "
                f"AND sha256 IN ({marks})",
                [version, *chunk],
            )
            for r in rows:
                found[r["sha256"]] = np.frombuffer(r["vector"], dtype=r["dtype"])
        missing = [s for s in unique if s not in found]
        for start in range(0, len(missing), CHUNK):
            if self.stopping.is_set():
                raise TrainingInterrupted("the emulator is stopping")
            chunk = missing[start : start + CHUNK]
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                vectors = list(pool.map(self._compute, chunk))
            with self.store.tx() as c:
                c.executemany(
                    "INSERT OR REPLACE INTO features VALUES (?,?,?,?)",
                    [
                        (sha, version, vec.tobytes(), str(vec.dtype))
                        for sha, vec in zip(chunk, vectors, strict=True)
                    ],
                )
            found.update(zip(chunk, vectors, strict=True))
        return found

    def get(self, sha: str) -> np.ndarray:
        return self.get_many([sha])[sha]

    def compute(self, data: bytes) -> np.ndarray:
        from cvspec.emulator import learning

        return np.asarray(learning.extract_features(data), dtype=np.float32)

    def _compute(self, sha: str) -> np.ndarray:
        return self.compute(self.store.blobs.get(sha))


class Trainer:
    """Runs queued trainings one at a time in a daemon thread.

    Stopping does not wait for a training in progress: it is abandoned, stays ``Training``
    in the database, and the next start resumes it (as after a crash).
    """

    def __init__(self, store: Store, features: FeatureCache) -> None:
        self.store = store
        self.features = features
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._idle = threading.Condition()
        self._pending = 0
        self._thread = threading.Thread(target=self._work, name="cvspec-train", daemon=True)
        self._thread.start()

    def submit(self, iteration_id: str) -> None:
        with self._idle:
            self._pending += 1
        self._queue.put(iteration_id)

    def resume_interrupted(self) -> list[str]:
        """Re-queue every iteration a dead process left in ``Training``."""
        rows = self.store.all("SELECT id FROM iterations WHERE status = 'Training' ORDER BY seq")
        for r in rows:
            self.submit(r["id"])
        return [r["id"] for r in rows]

    def wait_idle(self, timeout: float | None = None) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def shutdown(self, grace_seconds: float = 0.0) -> None:
        """Stop taking work; give a running training ``grace_seconds`` to finish."""
        self.features.stopping.set()
        self._queue.put(None)
        self._thread.join(grace_seconds)

    @property
    def stopping(self) -> bool:
        return self.features.stopping.is_set()

    def _work(self) -> None:
        while True:
            iteration_id = self._queue.get()
            if iteration_id is None or self.stopping:
                return
            self._run_safely(iteration_id)

    def _run_safely(self, iteration_id: str) -> None:
        try:
            self._run(iteration_id)
        except Exception as error:
            if self.stopping:  # abandoned: resumed at the next start
                return
            log.exception("training %s failed", iteration_id)  # ends Failed, never stuck
            self._finish(iteration_id, "Failed", error=f"{type(error).__name__}: {error}")
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def _run(self, iteration_id: str) -> None:
        from cvspec.emulator import learning

        row = self.store.one("SELECT * FROM iterations WHERE id = ?", (iteration_id,))
        if row is None or row["status"] != "Training":
            return
        with self.store.tx() as c:  # under way: from now on domainId etc. are shown
            c.execute("UPDATE iterations SET last_modified = ? WHERE id = ?", (now(), iteration_id))
        snapshot = self.store.all(
            "SELECT ii.image_id, ii.tag_ids, i.sha256 FROM iteration_images ii "
            "JOIN images i ON i.id = ii.image_id WHERE ii.iteration_id = ?",
            (iteration_id,),
        )
        tags = self.store.all(
            "SELECT tag_id, type FROM iteration_tags WHERE iteration_id = ? ORDER BY rowid",
            (iteration_id,),
        )
        negative = next((t["tag_id"] for t in tags if t["type"] == "Negative"), None)
        regular = [t["tag_id"] for t in tags if t["type"] != "Negative"]
        vectors = self.features.get_many([r["sha256"] for r in snapshot])
        examples = [
            learning.Example(
                image_id=r["image_id"],
                features=vectors[r["sha256"]],
                tag_ids=frozenset(loads(r["tag_ids"])),
            )
            for r in snapshot
        ]
        result = learning.train(
            examples,
            regular,
            multilabel=row["classification_type"] == "Multilabel",
            negative_tag_id=negative,
            seed=0,
        )
        model_sha = self.store.blobs.put(result.model)
        self._finish(iteration_id, "Completed", model_sha=model_sha, held_out=result.held_out)

    def _finish(
        self,
        iteration_id: str,
        status: str,
        model_sha: str | None = None,
        held_out: dict[str, dict[str, float]] | None = None,
        error: str | None = None,
    ) -> None:
        stamp = now()
        with self.store.tx() as c:
            row = self.store.one("SELECT created FROM iterations WHERE id = ?", (iteration_id,))
            if row is None:
                return
            minutes = _minutes_since(row["created"])
            c.execute(
                "UPDATE iterations SET status=?, trained_at=?, last_modified=?, model_sha=?, "
                "held_out=?, error=?, training_minutes=? WHERE id=?",
                (
                    status,
                    stamp,
                    stamp,
                    model_sha,
                    dumps(held_out) if held_out is not None else None,
                    error,
                    minutes,
                    iteration_id,
                ),
            )


def _minutes_since(created: str) -> int:
    elapsed = datetime.now(UTC) - parse_time(created)
    return max(1, math.ceil(elapsed.total_seconds() / 60))
