"""Project export and import by token: the export snapshots the workspace (tags, images and
their tags and metadata) under a token; the import creates a new project from it."""

from __future__ import annotations

import secrets
from typing import Any

from cvspec.emulator import exceptions as exc
from cvspec.emulator.models import new_id, now
from cvspec.emulator.projects import ProjectsMixin
from cvspec.emulator.store import dumps, loads


class TransferMixin(ProjectsMixin):
    def export_project(self, project_id: str) -> dict[str, Any]:
        project = self._project(project_id)
        pid = project["id"]
        tags = self.store.all("SELECT * FROM tags WHERE project_id = ? ORDER BY seq", (pid,))
        images = self.store.all(
            "SELECT * FROM images WHERE project_id = ? AND in_workspace = 1 ORDER BY seq", (pid,)
        )
        image_tags = self._tags_of_images([r["id"] for r in images])
        manifest = {
            "name": project["name"],
            "description": project["description"],
            "domainId": project["domain_id"],
            "classificationType": project["classification_type"],
            "targetExportPlatforms": loads(project["target_export_platforms"]),
            "tags": [
                {
                    "id": t["id"],
                    "name": t["name"],
                    "description": t["description"],
                    "type": t["type"],
                }
                for t in tags
            ],
            "images": [
                {
                    "sha256": r["sha256"],
                    "width": r["width"],
                    "height": r["height"],
                    "metadata": loads(r["metadata"]),
                    "tagIds": [t.tag_id for t in image_tags[r["id"]]],
                }
                for r in images
            ],
        }
        token = secrets.token_urlsafe(32)
        with self.store.tx() as c:
            c.execute("INSERT INTO project_exports VALUES (?,?,?)", (token, dumps(manifest), now()))
        iterations = self.store.scalar(
            "SELECT COUNT(*) FROM iterations WHERE project_id = ?", (pid,)
        )
        return {
            "iterationCount": int(iterations),
            "imageCount": len(images),
            "tagCount": len(tags),
            "regionCount": 0,
            "estimatedImportTimeInMS": 1000 + 10 * len(images),
            "token": token,
        }

    def import_project(self, token: str | None, name: str | None = None) -> dict[str, Any]:
        row = self.store.one("SELECT manifest FROM project_exports WHERE token = ?", (token or "",))
        if row is None:
            raise exc.bad_request("BadRequestInvalidImportToken", "Invalid import token.")
        manifest = loads(row["manifest"])
        with self.store.tx() as c:
            project = self.create_project(
                name or manifest["name"],
                manifest["description"],
                manifest["domainId"],
                manifest["classificationType"],
                manifest["targetExportPlatforms"],
            )
            pid = project["id"]
            tag_ids: dict[str, str] = {}
            seq = self.store.next_seq("tags")
            for i, tag in enumerate(manifest["tags"]):
                tag_ids[tag["id"]] = new_id()
                c.execute(
                    "INSERT INTO tags VALUES (?,?,?,?,?,?,?)",
                    (
                        tag_ids[tag["id"]],
                        pid,
                        tag["name"],
                        tag["description"],
                        tag["type"],
                        now(),
                        seq + i,
                    ),
                )
            seq = self.store.next_seq("images")
            stamp = now()
            for i, image in enumerate(manifest["images"]):
                image_id = new_id()
                c.execute(
                    "INSERT INTO images VALUES (?,?,?,?,?,?,1,?,?)",
                    (
                        image_id,
                        pid,
                        image["sha256"],
                        image["width"],
                        image["height"],
                        stamp,
                        dumps(image["metadata"]) if image["metadata"] else None,
                        seq + i,
                    ),
                )
                c.executemany(
                    "INSERT INTO image_tags VALUES (?,?,?)",
                    [(image_id, tag_ids[t], stamp) for t in image["tagIds"] if t in tag_ids],
                )
        return self.get_project(pid)
