"""Images: listing (all, tagged, untagged; paging, order, tag and metadata filters), counts,
by ids, deletion, metadata and image tags. Backend operations named like the SDK's methods."""

from __future__ import annotations

import sqlite3
from typing import Any

from cvspec.emulator import exceptions as exc
from cvspec.emulator.metadata_filter import parse_filter
from cvspec.emulator.models import ImageTagRef, image_wire, now
from cvspec.emulator.store import dumps, loads
from cvspec.emulator.uploads import ImageCreateOutcome, UploadsMixin, mixes_negative, regular_count


class ImagesMixin(UploadsMixin):
    # -- reading ----------------------------------------------------------------------

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
        if iteration_id:
            selected = self._select_images(project_id, iteration_id, order_by="Oldest")
            by_id = {row["id"]: (row, tags) for row, tags in selected}
        else:
            by_id = self._workspace_images_by_id(project_id, image_ids)
        found = [by_id[i] for i in dict.fromkeys(image_ids) if i in by_id]
        return [image_wire(row, tags, self.public_url) for row, tags in found]

    def _workspace_images_by_id(
        self, project_id: str, image_ids: list[str]
    ) -> dict[str, tuple[sqlite3.Row, list[ImageTagRef]]]:
        project = self._project(project_id)
        rows = [
            r
            for r in self._image_rows(list(dict.fromkeys(image_ids)))
            if r["project_id"] == project["id"] and r["in_workspace"]
        ]
        tags = self._tags_of_images([r["id"] for r in rows])
        return {r["id"]: (r, tags[r["id"]]) for r in rows}

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
                if mixes_negative([*have, tag_id], tags):
                    raise exc.bad_request(
                        "BadRequestNegativeAndRegularTagOnSameImage",
                        "Negative tag and regular tag cannot be on the same image.",
                    )
                if multiclass and regular_count([*have, tag_id], tags) > 1:
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
