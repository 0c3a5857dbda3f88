"""Image uploads (data, files, URLs, predictions) with content de-duplication and the
service's per-image statuses (HTTP 200, or 207 when any image is not plainly OK)."""

from __future__ import annotations

import base64
import binascii
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from cvspec.emulator import exceptions as exc
from cvspec.emulator.core import BackendCore, parse_ids
from cvspec.emulator.imaging import ImageInfo, ImageProblem, inspect_image
from cvspec.emulator.models import image_wire, new_id, now
from cvspec.emulator.store import dumps
from cvspec.emulator.urlfetch import fetch_url


@dataclass
class UploadEntry:
    """One image of an upload batch, after reading its bytes."""

    source_url: str
    data: bytes | None
    tag_ids: list[str] = field(default_factory=list)
    problem: str | None = None  # a per-image status decided before inspection


@dataclass
class _Checked:
    entry: UploadEntry
    status: str = "OK"
    info: ImageInfo | None = None
    sha: str = ""
    image_id: str | None = None
    problem: ImageProblem | None = None


@dataclass
class _Batch:
    """What one upload transaction knows about its project while it adds images."""

    project_id: str
    tags: dict[str, sqlite3.Row]
    multiclass: bool
    metadata: str | None
    stamp: str
    count: int
    seq: int
    seen: dict[str, str] = field(default_factory=dict)  # sha256 -> image id, this batch


@dataclass
class ImageCreateOutcome:
    """An ``ImageCreateSummary`` and the HTTP status it goes out with (200 or 207)."""

    body: dict[str, Any]
    status: int


class UploadsMixin(BackendCore):
    # -- uploads ----------------------------------------------------------------------

    def create_images_from_data(
        self, project_id: str, files: list[tuple[str, bytes]], tag_ids: list[str]
    ) -> ImageCreateOutcome:
        entries = [UploadEntry(f'"{name}"', data) for name, data in files]
        return self._create_images(project_id, entries, tag_ids, None)

    def create_images_from_files(
        self, project_id: str, batch: dict[str, Any]
    ) -> ImageCreateOutcome:
        entries = []
        for item in _batch_items(batch):
            try:
                data = base64.b64decode(item.get("contents") or "", validate=False)
            except (binascii.Error, ValueError):
                data = b""
            entries.append(UploadEntry(item.get("name") or "", data, _ids(item.get("tagIds"))))
        return self._create_images(
            project_id, entries, _ids(batch.get("tagIds")), batch.get("metadata")
        )

    def create_images_from_urls(self, project_id: str, batch: dict[str, Any]) -> ImageCreateOutcome:
        self._project(project_id)
        items = _batch_items(batch)
        self._check_batch_size(len(items))
        entries = []
        for item in items:
            url = item.get("url") or ""
            data = fetch_url(url, self.limits.training_image_bytes + 1)
            entries.append(
                UploadEntry(url, data, _ids(item.get("tagIds")), None if data else "ErrorSource")
            )
        return self._create_images(
            project_id, entries, _ids(batch.get("tagIds")), batch.get("metadata")
        )

    def create_images_from_predictions(
        self, project_id: str, batch: dict[str, Any]
    ) -> ImageCreateOutcome:
        project = self._project(project_id)
        entries = []
        for item in _batch_items(batch):
            pred_id = str(item.get("id") or "").lower()
            row = self.store.one(
                "SELECT sha256 FROM predictions WHERE id = ? AND project_id = ?",
                (pred_id, project["id"]),
            )
            data = self.store.blobs.get(row["sha256"]) if row is not None else None
            entries.append(
                UploadEntry(
                    pred_id, data, _ids(item.get("tagIds")), None if data else "ErrorSource"
                )
            )
        return self._create_images(
            project_id, entries, _ids(batch.get("tagIds")), batch.get("metadata")
        )

    def _check_batch_size(self, count: int) -> None:
        if count > self.limits.images_per_batch:
            raise exc.bad_request(
                "BadRequestExceededBatchSize",
                f"Exceeded the maximum batch size of {self.limits.images_per_batch} images.",
            )
        if count == 0:
            raise exc.bad_request("BadRequestImageBatch", "No images in the batch.")

    def _create_images(
        self,
        project_id: str,
        entries: list[UploadEntry],
        batch_tag_ids: list[str],
        metadata: dict[str, Any] | None,
    ) -> ImageCreateOutcome:
        project = self._project(project_id)
        self._check_batch_size(len(entries))
        if len(batch_tag_ids) > self.limits.tags_per_batch:
            raise exc.bad_request(
                "BadRequestExceededBatchSize",
                f"Exceeded the maximum of {self.limits.tags_per_batch} tags per batch.",
            )
        checked_metadata = self._check_metadata(metadata or {})
        checked = [self._check_entry(e) for e in entries]  # outside the lock: decode, hash
        with self.store.tx() as c:
            batch = self._open_batch(project, checked_metadata)
            wanted = [list(dict.fromkeys(batch_tag_ids + i.entry.tag_ids)) for i in checked]
            if batch.multiclass and any(regular_count(w, batch.tags) > 1 for w in wanted):
                raise exc.bad_request(
                    "BadRequestImageTags", "A multiclass image can have only one tag."
                )
            for item, tag_ids in zip(checked, wanted, strict=True):
                if item.status == "OK":
                    item.status = self._add_image(c, batch, item, tag_ids)
            return self._summary(checked)

    def _open_batch(self, project: sqlite3.Row, metadata: dict[str, str]) -> _Batch:
        count = self.store.scalar(
            "SELECT COUNT(*) FROM images WHERE project_id = ? AND in_workspace = 1",
            (project["id"],),
        )
        return _Batch(
            project_id=project["id"],
            tags=self._project_tags(project["id"]),
            multiclass=project["classification_type"] == "Multiclass",
            metadata=dumps(metadata) if metadata else None,
            stamp=now(),
            count=int(count),
            seq=self.store.next_seq("images"),
        )

    def _add_image(
        self, c: sqlite3.Connection, batch: _Batch, item: _Checked, tag_ids: list[str]
    ) -> str:
        """Store one checked image (or merge it into its duplicate); returns its status."""
        problem = _tag_problem(tag_ids, batch.tags, self.limits.tags_per_batch)
        if problem:
            return problem
        existing = batch.seen.get(item.sha) or self._workspace_image_by_sha(
            batch.project_id, item.sha
        )
        if existing:
            item.image_id = existing
            return self._merge_tags(c, existing, tag_ids, batch)
        if batch.count >= self.limits.images_per_project:
            return "ErrorLimitExceed"
        assert item.info is not None
        item.image_id = new_id()
        c.execute(
            "INSERT INTO images VALUES (?,?,?,?,?,?,1,?,?)",
            (
                item.image_id,
                batch.project_id,
                item.sha,
                item.info.width,
                item.info.height,
                batch.stamp,
                batch.metadata,
                batch.seq,
            ),
        )
        c.executemany(
            "INSERT INTO image_tags VALUES (?,?,?)",
            [(item.image_id, t, batch.stamp) for t in tag_ids],
        )
        batch.seq += 1
        batch.count += 1
        batch.seen[item.sha] = item.image_id
        return "OK"

    def _check_entry(self, entry: UploadEntry) -> _Checked:
        if entry.problem or entry.data is None:
            return _Checked(entry, status=entry.problem or "ErrorSource")
        try:
            info = inspect_image(entry.data, self.limits, self.limits.training_image_bytes)
        except ImageProblem as problem:
            return _Checked(entry, status=problem.status, problem=problem)
        sha = self.store.blobs.put(entry.data)
        return _Checked(entry, info=info, sha=sha)

    def _workspace_image_by_sha(self, project_id: str, sha: str) -> str | None:
        value = self.store.scalar(
            "SELECT id FROM images WHERE project_id = ? AND sha256 = ? AND in_workspace = 1",
            (project_id, sha),
        )
        return None if value is None else str(value)

    def _merge_tags(
        self, c: sqlite3.Connection, image_id: str, wanted: list[str], batch: _Batch
    ) -> str:
        """Add a duplicate's new tags to the original image (what the service does)."""
        have = [
            r["tag_id"]
            for r in self.store.all("SELECT tag_id FROM image_tags WHERE image_id = ?", (image_id,))
        ]
        merged = list(dict.fromkeys(have + wanted))
        if len(merged) > self.limits.tags_per_image or (
            batch.multiclass and regular_count(merged, batch.tags) > 1
        ):
            return "ErrorTagLimitExceed"
        if mixes_negative(merged, batch.tags):
            return "ErrorNegativeAndRegularTagOnSameImage"
        c.executemany(
            "INSERT OR IGNORE INTO image_tags VALUES (?,?,?)",
            [(image_id, t, batch.stamp) for t in wanted if t not in have],
        )
        return "OKDuplicate"

    def _summary(self, checked: list[_Checked]) -> ImageCreateOutcome:
        ids = [i.image_id for i in checked if i.image_id and i.status.startswith("OK")]
        rows = {r["id"]: r for r in self._image_rows(ids)}
        tags = self._tags_of_images(ids, with_names=False)
        results = []
        for item in checked:
            result: dict[str, Any] = {"sourceUrl": item.entry.source_url, "status": item.status}
            if item.image_id is not None and item.image_id in rows:
                result["image"] = image_wire(
                    rows[item.image_id], tags[item.image_id], self.public_url
                )
            results.append(result)
        ok = all(i.status == "OK" for i in checked)
        if not any(i.status.startswith("OK") for i in checked):
            if len(checked) == 1 and checked[0].problem is not None:
                raise checked[0].problem.as_error()
            raise exc.bad_request("BadRequestImageBatch", "No valid image files")
        return ImageCreateOutcome({"isBatchSuccessful": ok, "images": results}, 200 if ok else 207)

    def _check_metadata(self, metadata: dict[str, Any], count: bool = True) -> dict[str, str]:
        if count and len(metadata) > self.limits.metadata_pairs:
            raise exc.bad_request(
                "BadRequestImageMetadataKey",
                f"An image can have at most {self.limits.metadata_pairs} metadata entries.",
            )
        for key, value in metadata.items():
            if not key or len(key) > self.limits.metadata_key_length:
                raise exc.bad_request(
                    "BadRequestImageMetadataKey",
                    f"Metadata keys must be 1 to {self.limits.metadata_key_length} characters.",
                )
            if not isinstance(value, str) or len(value) > self.limits.metadata_value_length:
                raise exc.bad_request(
                    "BadRequestImageMetadataValue",
                    f"Metadata values must be strings of at most "
                    f"{self.limits.metadata_value_length} characters.",
                )
        return {str(k): str(v) for k, v in metadata.items()}


def _batch_items(batch: dict[str, Any] | None) -> list[dict[str, Any]]:
    items = (batch or {}).get("images") or []
    return [i for i in items if isinstance(i, dict)]


def _ids(value: Any) -> list[str]:
    if isinstance(value, str):
        return parse_ids(value)
    return [str(v).lower() for v in value or []]


def regular_count(tag_ids: list[str], tags: dict[str, sqlite3.Row]) -> int:
    return sum(1 for t in tag_ids if t in tags and tags[t]["type"] == "Regular")


def mixes_negative(tag_ids: list[str], tags: dict[str, sqlite3.Row]) -> bool:
    kinds = {tags[t]["type"] for t in tag_ids if t in tags}
    return "Negative" in kinds and len(tag_ids) > 1


def _tag_problem(tag_ids: list[str], tags: dict[str, sqlite3.Row], limit: int) -> str | None:
    if any(t not in tags for t in tag_ids):
        return "ErrorInvalidTag"
    if len(tag_ids) > limit:
        return "ErrorTagLimitExceed"
    if mixes_negative(tag_ids, tags):
        return "ErrorNegativeAndRegularTagOnSameImage"
    return None
