"""State shared by every part of the backend: the store, the tier limits, the service's
identity (keys and resource ids) and lookups that raise the service's NotFound errors."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from cvspec.emulator import exceptions as exc
from cvspec.emulator.limits import TierLimits
from cvspec.emulator.models import ImageTagRef, now
from cvspec.emulator.store import Store


@dataclass(frozen=True)
class PredictionResource:
    resource_id: str
    key: str


def generate_key() -> str:
    """A key shaped like Azure's: 32 lowercase hex characters."""
    return secrets.token_hex(16)


def generate_resource_id(name: str) -> str:
    sub = f"00000000-0000-0000-0000-{secrets.token_hex(6)}"
    return (
        f"/subscriptions/{sub}/resourceGroups/cvspec-emulator/providers/"
        f"Microsoft.CognitiveServices/accounts/{name}"
    )


class BackendCore:
    """Helpers used by the operation mixins; holds no business rules of its own."""

    def __init__(self, store: Store, limits: TierLimits) -> None:
        self.store = store
        self.limits = limits
        self.public_url = "http://127.0.0.1"

    # -- identity ---------------------------------------------------------------------

    def ensure_training_key(self, key: str | None) -> str:
        """The training key: the one given (and then persisted), else the persisted one."""
        with self.store.tx():
            current = self.store.get_meta("training_key")
            if key and key != current:
                self.store.set_meta("training_key", key)
                return key
            if current:
                return current
            fresh = generate_key()
            self.store.set_meta("training_key", fresh)
            return fresh

    def ensure_arm_token(self, token: str | None) -> str:
        """The bearer token Resource Manager accepts: the one given, else the persisted one."""
        with self.store.tx():
            current = self.store.get_meta("arm_token")
            if token and token != current:
                self.store.set_meta("arm_token", token)
                return token
            if current:
                return current
            fresh = secrets.token_urlsafe(24)
            self.store.set_meta("arm_token", fresh)
            return fresh

    def ensure_prediction_resource(
        self, resource_id: str | None, key: str | None
    ) -> PredictionResource:
        """The default prediction resource, created (or re-keyed) as asked and persisted."""
        with self.store.tx() as c:
            default_id = resource_id or self.store.get_meta("default_prediction_resource")
            row = (
                self.store.one(
                    "SELECT * FROM prediction_resources WHERE resource_id = ?", (default_id,)
                )
                if default_id
                else None
            )
            if row is not None and (key is None or key == row["key"]):
                resource = PredictionResource(row["resource_id"], row["key"])
            else:
                resource = self.add_prediction_resource(
                    default_id or generate_resource_id("cvspec-emulator-prediction"), key
                )
            c.execute(
                "INSERT OR REPLACE INTO meta (key, value) "
                "VALUES ('default_prediction_resource', ?)",
                (resource.resource_id,),
            )
            return resource

    def add_prediction_resource(
        self, resource_id: str | None = None, key: str | None = None
    ) -> PredictionResource:
        """Register one more prediction resource (its own key and ARM id)."""
        resource = PredictionResource(
            resource_id or generate_resource_id(f"cvspec-prediction-{secrets.token_hex(3)}"),
            key or generate_key(),
        )
        with self.store.tx() as c:
            c.execute("DELETE FROM prediction_resources WHERE key = ?", (resource.key,))
            c.execute(
                "INSERT OR REPLACE INTO prediction_resources (resource_id, key, created) "
                "VALUES (?, ?, ?)",
                (resource.resource_id, resource.key, now()),
            )
        return resource

    def prediction_resource_for_key(self, key: str) -> str | None:
        value = self.store.scalar(
            "SELECT resource_id FROM prediction_resources WHERE key = ?", (key,)
        )
        return None if value is None else str(value)

    def training_key(self) -> str | None:
        return self.store.get_meta("training_key")

    # -- lookups ----------------------------------------------------------------------

    def _project(self, project_id: str) -> sqlite3.Row:
        row = self.store.one("SELECT * FROM projects WHERE id = ?", (project_id.lower(),))
        if row is None:
            raise exc.project_not_found(project_id)
        return row

    def _tag(self, project_id: str, tag_id: str) -> sqlite3.Row:
        row = self.store.one(
            "SELECT * FROM tags WHERE id = ? AND project_id = ?", (tag_id.lower(), project_id)
        )
        if row is None:
            raise exc.tag_not_found(tag_id)
        return row

    def _iteration(self, project_id: str, iteration_id: str) -> sqlite3.Row:
        row = self.store.one(
            "SELECT * FROM iterations WHERE id = ? AND project_id = ?",
            (iteration_id.lower(), project_id),
        )
        if row is None:
            raise exc.iteration_not_found(iteration_id)
        return row

    def _project_tags(self, project_id: str) -> dict[str, sqlite3.Row]:
        rows = self.store.all("SELECT * FROM tags WHERE project_id = ? ORDER BY seq", (project_id,))
        return {r["id"]: r for r in rows}

    def _image_rows(self, ids: list[str]) -> list[sqlite3.Row]:
        rows: list[sqlite3.Row] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows += self.store.all(f"SELECT * FROM images WHERE id IN ({marks})", chunk)
        return rows

    def _tags_of_images(
        self, image_ids: Sequence[str], with_names: bool = True
    ) -> dict[str, list[ImageTagRef]]:
        """Workspace tags of each image, oldest first."""
        found: dict[str, list[ImageTagRef]] = {i: [] for i in image_ids}
        for chunk in _chunks(list(image_ids), 500):
            marks = ",".join("?" * len(chunk))
            rows = self.store.all(
                "SELECT it.image_id, it.tag_id, it.created, t.name FROM image_tags it "
                f"JOIN tags t ON t.id = it.tag_id WHERE it.image_id IN ({marks}) "
                "ORDER BY it.created, t.seq",
                chunk,
            )
            for r in rows:
                found[r["image_id"]].append(
                    ImageTagRef(r["tag_id"], r["name"] if with_names else None, r["created"])
                )
        return found


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def parse_ids(raw: str | None) -> list[str]:
    """A csv query array (``tagIds=a,b``) as lowercase ids, empty entries dropped."""
    if not raw:
        return []
    return [part.strip().lower() for part in raw.split(",") if part.strip()]
