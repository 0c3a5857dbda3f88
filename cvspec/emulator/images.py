"""Images: uploads (data, files, URLs, predictions) with content de-duplication, listing,
counts, metadata and image tags. Backend operations named like the SDK's methods."""

from __future__ import annotations

import base64
import binascii
import hashlib
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from cvspec.emulator import exceptions as exc
from cvspec.emulator.core import BackendCore, parse_ids
from cvspec.emulator.imaging import ImageInfo, ImageProblem, inspect_image
from cvspec.emulator.metadata_filter import parse_filter
from cvspec.emulator.models import ImageTagRef, image_wire, new_id, now
from cvspec.emulator.store import dumps, loads
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
class ImageCreateOutcome:
    """An ``ImageCreateSummary`` and the HTTP status it goes out with (200 or 207)."""

    body: dict[str, Any]
    status: int


class ImagesMixin(BackendCore):
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
        metadata = self._check_metadata(metadata or {})
        checked = [self._check_entry(e) for e in entries]
        stamp = now()
        with self.store.tx() as c:
            tags = self._project_tags(project["id"])
            multiclass = project["classification_type"] == "Multiclass"
            for item in checked:
                wanted = list(dict.fromkeys(batch_tag_ids + item.entry.tag_ids))
                if multiclass and _regular_count(wanted, tags) > 1:
                    raise exc.bad_request(
                        "BadRequestImageTags", "A multiclass image can have only one tag."
                    )
            count = int(
                self.store.scalar(
                    "SELECT COUNT(*) FROM images WHERE project_id = ? AND in_workspace = 1",
                    (project["id"],),
                )
            )
            seen: dict[str, str] = {}
            seq = self.store.next_seq("images")
            for item in checked:
                if item.status != "OK":
                    continue
                wanted = list(dict.fromkeys(batch_tag_ids + item.entry.tag_ids))
                status = _tag_problem(wanted, tags, self.limits.tags_per_batch)
                if status:
                    item.status = status
                    continue
                existing = seen.get(item.sha) or self._workspace_image_by_sha(
                    project["id"], item.sha
                )
                if existing:
                    item.image_id = existing
                    item.status = self._merge_tags(c, existing, wanted, tags, multiclass, stamp)
                    continue
                if count >= self.limits.images_per_project:
                    item.status = "ErrorLimitExceed"
                    continue
                assert item.info is not None
                item.image_id = new_id()
                c.execute(
                    "INSERT INTO images VALUES (?,?,?,?,?,?,1,?,?)",
                    (
                        item.image_id,
                        project["id"],
                        item.sha,
                        item.info.width,
                        item.info.height,
                        stamp,
                        dumps(metadata) if metadata else None,
                        seq,
                    ),
                )
                seq += 1
                count += 1
                seen[item.sha] = item.image_id
                c.executemany(
                    "INSERT INTO image_tags VALUES (?,?,?)",
                    [(item.image_id, t, stamp) for t in wanted],
                )
            return self._summary(checked)

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
        self,
        c: sqlite3.Connection,
        image_id: str,
        wanted: list[str],
        tags: dict[str, sqlite3.Row],
        multiclass: bool,
        stamp: str,
    ) -> str:
        """Add a duplicate's new tags to the original image (what the service does)."""
        have = [
            r["tag_id"]
            for r in self.store.all("SELECT tag_id FROM image_tags WHERE image_id = ?", (image_id,))
        ]
        merged = list(dict.fromkeys(have + wanted))
        if len(merged) > self.limits.tags_per_image or (
            multiclass and _regular_count(merged, tags) > 1
        ):
            return "ErrorTagLimitExceed"
        if _mixes_negative(merged, tags):
            return "ErrorNegativeAndRegularTagOnSameImage"
        c.executemany(
            "INSERT OR IGNORE INTO image_tags VALUES (?,?,?)",
            [(image_id, t, stamp) for t in wanted if t not in have],
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

    # -- reading ----------------------------------------------------------------------

    def _image_rows(self, ids: list[str]) -> list[sqlite3.Row]:
        rows: list[sqlite3.Row] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows += self.store.all(f"SELECT * FROM images WHERE id IN ({marks})", chunk)
        return rows

    def _select_images(
        self,
        project_id: str,
        iteration_id: str | None,
        tagging_status: str | None = None,
        tag_ids: list[str] | None = None,
        filter: str | None = None,
        order_by: str | None = None,
    ) -> list[tuple[sqlite3.Row, list[ImageTagRef]]]:
        project = self._project(project_id)
        predicate = parse_filter(filter) if filter else None
        newest = (order_by or "Newest").lower() != "oldest"
        if iteration_id:
            iteration = self._iteration(project["id"], iteration_id)
            rows, tags = self._iteration_images(iteration["id"])
        else:
            rows = self.store.all(
                "SELECT * FROM images WHERE project_id = ? AND in_workspace = 1 ORDER BY seq",
                (project["id"],),
            )
            tags = self._tags_of_images([r["id"] for r in rows])
        wanted_tags = set(tag_ids or [])
        status = (tagging_status or "All").lower()
        selected = []
        for row in rows:
            image_tags = tags.get(row["id"], [])
            if status == "tagged" and not image_tags:
                continue
            if status == "untagged" and image_tags:
                continue
            if wanted_tags and not wanted_tags.intersection(t.tag_id for t in image_tags):
                continue
            if predicate is not None and not predicate(loads(row["metadata"]) or {}):
                continue
            selected.append((row, image_tags))
        if newest:
            selected.reverse()
        return selected

    def _iteration_images(
        self, iteration_id: str
    ) -> tuple[list[sqlite3.Row], dict[str, list[ImageTagRef]]]:
        snapshot = self.store.all(
            "SELECT ii.tag_ids, i.* FROM iteration_images ii JOIN images i ON i.id = ii.image_id "
            "WHERE ii.iteration_id = ? ORDER BY i.seq",
            (iteration_id,),
        )
        names = {
            r["tag_id"]: r["name"]
            for r in self.store.all(
                "SELECT tag_id, name FROM iteration_tags WHERE iteration_id = ?", (iteration_id,)
            )
        }
        tags = {
            r["id"]: [ImageTagRef(t, names.get(t), r["created"]) for t in loads(r["tag_ids"])]
            for r in snapshot
        }
        return snapshot, tags

    def _page(
        self, selected: list[tuple[sqlite3.Row, list[ImageTagRef]]], take: int, skip: int
    ) -> list[dict[str, Any]]:
        self._check_take(take)
        window = selected[max(skip, 0) : max(skip, 0) + max(take, 0)]
        return [image_wire(row, tags, self.public_url) for row, tags in window]

    def _check_take(self, take: int) -> None:
        if take > self.limits.max_take:
            raise exc.bad_request(
                "BadRequestInvalid", f"take must be at most {self.limits.max_take}."
            )

    def get_images(
        self,
        project_id: str,
        iteration_id: str | None = None,
        tag_ids: list[str] | None = None,
        tagging_status: str | None = None,
        filter: str | None = None,
        order_by: str | None = None,
        take: int = 50,
        skip: int = 0,
    ) -> list[dict[str, Any]]:
        self._check_tag_filter(tag_ids)
        if not iteration_id and not filter:
            self._check_take(take)
            return self._workspace_page(
                project_id, tagging_status, tag_ids, order_by, max(take, 0), max(skip, 0)
            )
        selected = self._select_images(
            project_id, iteration_id, tagging_status, tag_ids, filter, order_by
        )
        return self._page(selected, take, skip)

    def get_image_count(
        self,
        project_id: str,
        iteration_id: str | None = None,
        tagging_status: str | None = None,
        filter: str | None = None,
        tag_ids: list[str] | None = None,
    ) -> int:
        if not iteration_id and not filter:
            where, params = self._workspace_where(project_id, tagging_status, tag_ids)
            return int(self.store.scalar(f"SELECT COUNT(*) FROM images WHERE {where}", params))
        return len(self._select_images(project_id, iteration_id, tagging_status, tag_ids, filter))

    def _workspace_where(
        self, project_id: str, tagging_status: str | None, tag_ids: list[str] | None
    ) -> tuple[str, list[Any]]:
        """SQL for the common listing (workspace, no $filter): no need to load every image."""
        project = self._project(project_id)
        where = "project_id = ? AND in_workspace = 1"
        params: list[Any] = [project["id"]]
        has_tag = "EXISTS (SELECT 1 FROM image_tags it WHERE it.image_id = images.id)"
        status = (tagging_status or "All").lower()
        if status == "tagged":
            where += f" AND {has_tag}"
        elif status == "untagged":
            where += f" AND NOT {has_tag}"
        if tag_ids:
            marks = ",".join("?" * len(tag_ids))
            where += (
                " AND EXISTS (SELECT 1 FROM image_tags it WHERE it.image_id = images.id "
                f"AND it.tag_id IN ({marks}))"
            )
            params += tag_ids
        return where, params

    def _workspace_page(
        self,
        project_id: str,
        tagging_status: str | None,
        tag_ids: list[str] | None,
        order_by: str | None,
        take: int,
        skip: int,
    ) -> list[dict[str, Any]]:
        where, params = self._workspace_where(project_id, tagging_status, tag_ids)
        direction = "ASC" if (order_by or "Newest").lower() == "oldest" else "DESC"
        rows = self.store.all(
            f"SELECT * FROM images WHERE {where} ORDER BY seq {direction} LIMIT ? OFFSET ?",
            [*params, take, skip],
        )
        tags = self._tags_of_images([r["id"] for r in rows])
        return [image_wire(r, tags[r["id"]], self.public_url) for r in rows]

    def get_tagged_images(
        self,
        project_id: str,
        iteration_id: str | None = None,
        tag_ids: list[str] | None = None,
        order_by: str | None = None,
        take: int = 50,
        skip: int = 0,
    ) -> list[dict[str, Any]]:
        return self.get_images(
            project_id, iteration_id, tag_ids, "Tagged", None, order_by, take, skip
        )

    def get_untagged_images(
        self,
        project_id: str,
        iteration_id: str | None = None,
        order_by: str | None = None,
        take: int = 50,
        skip: int = 0,
    ) -> list[dict[str, Any]]:
        return self.get_images(
            project_id, iteration_id, None, "Untagged", None, order_by, take, skip
        )

    def get_tagged_image_count(
        self, project_id: str, iteration_id: str | None = None, tag_ids: list[str] | None = None
    ) -> int:
        return self.get_image_count(project_id, iteration_id, "Tagged", None, tag_ids)

    def get_untagged_image_count(self, project_id: str, iteration_id: str | None = None) -> int:
        return self.get_image_count(project_id, iteration_id, "Untagged")

    def get_images_by_ids(
        self, project_id: str, image_ids: list[str], iteration_id: str | None = None
    ) -> list[dict[str, Any]]:
        if len(image_ids) > self.limits.ids_per_call:
            raise exc.bad_request(
                "BadRequestExceededBatchSize",
                f"At most {self.limits.ids_per_call} image ids per call.",
            )
        selected = self._select_images(project_id, iteration_id, order_by="Oldest")
        by_id = {row["id"]: (row, tags) for row, tags in selected}
        found = [by_id[i] for i in dict.fromkeys(image_ids) if i in by_id]
        return [image_wire(row, tags, self.public_url) for row, tags in found]

    def image_bytes(self, project_id: str, image_id: str) -> bytes:
        row = self.store.one(
            "SELECT sha256 FROM images WHERE id = ? AND project_id = ?",
            (image_id.lower(), project_id.lower()),
        )
        if row is None:
            raise exc.image_not_found(image_id)
        return self.store.blobs.get(row["sha256"])

    def _check_tag_filter(self, tag_ids: list[str] | None) -> None:
        if tag_ids and len(tag_ids) > self.limits.tags_per_batch:
            raise exc.bad_request(
                "BadRequestExceededBatchSize",
                f"At most {self.limits.tags_per_batch} tag ids may be given.",
            )

    # -- changing ---------------------------------------------------------------------

    def delete_images(
        self,
        project_id: str,
        image_ids: list[str] | None = None,
        all_images: bool = False,
        all_iterations: bool = False,
    ) -> None:
        image_ids = image_ids or []
        if len(image_ids) > self.limits.ids_per_call:
            raise exc.bad_request(
                "BadRequestExceededBatchSize",
                f"At most {self.limits.ids_per_call} image ids per call.",
            )
        with self.store.tx() as c:
            project = self._project(project_id)
            if all_images:
                rows = self.store.all(
                    "SELECT id FROM images WHERE project_id = ? AND in_workspace = 1",
                    (project["id"],),
                )
                image_ids = [r["id"] for r in rows]
            for image_id in image_ids:
                c.execute("DELETE FROM image_tags WHERE image_id = ?", (image_id,))
                if all_iterations:
                    c.execute("DELETE FROM iteration_images WHERE image_id = ?", (image_id,))
                c.execute(
                    "UPDATE images SET in_workspace = 0 WHERE id = ? AND project_id = ?",
                    (image_id, project["id"]),
                )
                c.execute(
                    "DELETE FROM images WHERE id = ? AND NOT EXISTS "
                    "(SELECT 1 FROM iteration_images WHERE image_id = ?)",
                    (image_id, image_id),
                )

    def update_image_metadata(
        self, project_id: str, image_ids: list[str], metadata: dict[str, Any]
    ) -> ImageCreateOutcome:
        if len(image_ids) > self.limits.metadata_update_images:
            raise exc.bad_request(
                "BadRequestExceededBatchSize",
                f"At most {self.limits.metadata_update_images} images per call.",
            )
        if not image_ids:
            raise exc.bad_request("BadRequestInvalidIds", "No image ids given.")
        metadata = self._check_metadata_entries(metadata or {})
        results: list[dict[str, Any]] = []
        with self.store.tx() as c:
            project = self._project(project_id)
            for image_id in image_ids:
                row = self.store.one(
                    "SELECT * FROM images WHERE id = ? AND project_id = ? AND in_workspace = 1",
                    (image_id, project["id"]),
                )
                if row is None:
                    results.append({"imageId": image_id, "status": "ErrorImageNotFound"})
                    continue
                merged = {**(loads(row["metadata"]) or {}), **metadata}
                if len(merged) > self.limits.metadata_pairs:
                    results.append({"imageId": image_id, "status": "ErrorLimitExceed"})
                    continue
                c.execute("UPDATE images SET metadata = ? WHERE id = ?", (dumps(merged), image_id))
                results.append({"imageId": image_id, "status": "OK", "metadata": merged})
        ok = all(r["status"] == "OK" for r in results)
        return ImageCreateOutcome({"isBatchSuccessful": ok, "images": results}, 200 if ok else 207)

    def _check_metadata_entries(self, metadata: dict[str, Any]) -> dict[str, str]:
        """Key and value lengths only: the pair count is checked per image after merging."""
        return self._check_metadata(metadata, count=False)

    def create_image_tags(self, project_id: str, batch: dict[str, Any]) -> dict[str, Any]:
        pairs = [
            (str(t.get("imageId", "")).lower(), str(t.get("tagId", "")).lower())
            for t in (batch or {}).get("tags") or []
        ]
        if len(pairs) > self.limits.image_tag_pairs_per_call:
            raise exc.bad_request(
                "BadRequestExceededBatchSize",
                f"Exceeded the maximum of {self.limits.image_tag_pairs_per_call} image-tag "
                "pairs per call.",
            )
        created, duplicated, exceeded = [], [], []
        stamp = now()
        with self.store.tx() as c:
            project = self._project(project_id)
            tags = self._project_tags(project["id"])
            multiclass = project["classification_type"] == "Multiclass"
            for image_id, tag_id in dict.fromkeys(pairs):
                if tag_id not in tags:
                    raise exc.tag_not_found(tag_id)
                exists = self.store.one(
                    "SELECT 1 FROM images WHERE id = ? AND project_id = ? AND in_workspace = 1",
                    (image_id, project["id"]),
                )
                if exists is None:
                    raise exc.image_not_found(image_id)
                have = [
                    r["tag_id"]
                    for r in self.store.all(
                        "SELECT tag_id FROM image_tags WHERE image_id = ?", (image_id,)
                    )
                ]
                entry = {"imageId": image_id, "tagId": tag_id}
                if tag_id in have:
                    duplicated.append(entry)
                    continue
                if _mixes_negative([*have, tag_id], tags):
                    raise exc.bad_request(
                        "BadRequestNegativeAndRegularTagOnSameImage",
                        "Negative tag and regular tag cannot be on the same image.",
                    )
                if multiclass and _regular_count([*have, tag_id], tags) > 1:
                    raise exc.bad_request(
                        "BadRequestImageTags",
                        "A multiclass project allows only one tag per image.",
                    )
                if len(have) >= self.limits.tags_per_image:
                    exceeded.append(entry)
                    continue
                c.execute("INSERT INTO image_tags VALUES (?,?,?)", (image_id, tag_id, stamp))
                created.append(entry)
        return {
            "created": created,
            "duplicated": duplicated or None,
            "exceeded": exceeded or None,
        }

    def delete_image_tags(self, project_id: str, image_ids: list[str], tag_ids: list[str]) -> None:
        if len(image_ids) > self.limits.delete_image_tags_images:
            raise exc.bad_request(
                "BadRequestExceededBatchSize",
                f"At most {self.limits.delete_image_tags_images} image ids per call.",
            )
        self._check_tag_filter(tag_ids)
        with self.store.tx() as c:
            project = self._project(project_id)
            for image_id in image_ids:
                owned = self.store.one(
                    "SELECT 1 FROM images WHERE id = ? AND project_id = ?",
                    (image_id, project["id"]),
                )
                if owned is None:
                    continue
                c.executemany(
                    "DELETE FROM image_tags WHERE image_id = ? AND tag_id = ?",
                    [(image_id, t) for t in tag_ids],
                )


def _batch_items(batch: dict[str, Any] | None) -> list[dict[str, Any]]:
    items = (batch or {}).get("images") or []
    return [i for i in items if isinstance(i, dict)]


def _ids(value: Any) -> list[str]:
    if isinstance(value, str):
        return parse_ids(value)
    return [str(v).lower() for v in value or []]


def _regular_count(tag_ids: list[str], tags: dict[str, sqlite3.Row]) -> int:
    return sum(1 for t in tag_ids if t in tags and tags[t]["type"] == "Regular")


def _mixes_negative(tag_ids: list[str], tags: dict[str, sqlite3.Row]) -> bool:
    kinds = {tags[t]["type"] for t in tag_ids if t in tags}
    return "Negative" in kinds and len(tag_ids) > 1


def _tag_problem(tag_ids: list[str], tags: dict[str, sqlite3.Row], limit: int) -> str | None:
    if any(t not in tags for t in tag_ids):
        return "ErrorInvalidTag"
    if len(tag_ids) > limit:
        return "ErrorTagLimitExceed"
    if _mixes_negative(tag_ids, tags):
        return "ErrorNegativeAndRegularTagOnSameImage"
    return None


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
