"""Domains, projects and tags: the backend operations, named like the SDK's methods."""

from __future__ import annotations

from typing import Any

from cvspec.emulator import exceptions as exc
from cvspec.emulator.core import BackendCore
from cvspec.emulator.domains import DOMAINS, DOMAINS_BY_ID, GENERAL_DOMAIN_ID
from cvspec.emulator.models import new_id, now, project_wire, tag_wire
from cvspec.emulator.store import dumps, loads

CLASSIFICATION_TYPES = ("Multiclass", "Multilabel")
TAG_TYPES = ("Regular", "Negative")
EXPORT_PLATFORMS = ("CoreML", "TensorFlow", "DockerFile", "ONNX", "VAIDK", "OpenVino")


class ProjectsMixin(BackendCore):
    # -- domains ----------------------------------------------------------------------

    def get_domains(self) -> list[dict[str, Any]]:
        return [dict(d) for d in DOMAINS]

    def get_domain(self, domain_id: str) -> dict[str, Any]:
        domain = DOMAINS_BY_ID.get(domain_id.lower())
        if domain is None:
            raise exc.not_found("NotFoundDomain", f"Domain {domain_id} not found.")
        return dict(domain)

    # -- projects ---------------------------------------------------------------------

    def get_projects(self) -> list[dict[str, Any]]:
        rows = self.store.all("SELECT * FROM projects ORDER BY seq DESC")
        return [project_wire(r) for r in rows]

    def get_project(self, project_id: str) -> dict[str, Any]:
        return project_wire(self._project(project_id))

    def create_project(
        self,
        name: str | None,
        description: str | None = None,
        domain_id: str | None = None,
        classification_type: str | None = None,
        target_export_platforms: list[str] | None = None,
        options: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        name = _check_project_name(name)
        domain = _classification_domain(domain_id or GENERAL_DOMAIN_ID)
        ctype = _classification_type(classification_type or "Multilabel")
        platforms = _export_platforms(target_export_platforms or [])
        options = options or {}
        with self.store.tx() as c:
            count = self.store.scalar("SELECT COUNT(*) FROM projects")
            if count >= self.limits.projects:
                raise exc.bad_request(
                    "BadRequestExceedProjectLimit",
                    f"Exceeded the limit of {self.limits.projects} projects "
                    f"for the {self.limits.name} tier.",
                )
            self._check_project_name_unique(name, None)
            project_id, stamp = new_id(), now()
            c.execute(
                "INSERT INTO projects VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    project_id,
                    name,
                    description or "",
                    domain["id"],
                    ctype,
                    dumps(platforms),
                    stamp,
                    stamp,
                    "Succeeded",
                    options.get("exportModelContainerUri"),
                    options.get("notificationQueueUri"),
                    self.store.next_seq("projects"),
                ),
            )
        return self.get_project(project_id)

    def update_project(self, project_id: str, updated: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx() as c:
            row = self._project(project_id)
            name = _check_project_name(updated.get("name", row["name"]))
            self._check_project_name_unique(name, row["id"])
            description = updated.get("description")
            settings = updated.get("settings") or {}
            domain = _classification_domain(
                settings.get("domainId") or row["domain_id"], changing=True
            )
            ctype = _classification_type(
                settings.get("classificationType") or row["classification_type"]
            )
            platforms = settings.get("targetExportPlatforms")
            platforms = (
                _export_platforms(platforms)
                if platforms is not None
                else loads_list(row["target_export_platforms"])
            )
            c.execute(
                "UPDATE projects SET name=?, description=?, domain_id=?, classification_type=?, "
                "target_export_platforms=?, last_modified=? WHERE id=?",
                (
                    name,
                    row["description"] if description is None else description,
                    domain["id"],
                    ctype,
                    dumps(platforms),
                    now(),
                    row["id"],
                ),
            )
        return self.get_project(row["id"])

    def delete_project(self, project_id: str) -> None:
        with self.store.tx() as c:
            row = self._project(project_id)
            published = self.store.scalar(
                "SELECT COUNT(*) FROM iterations "
                "WHERE project_id = ? AND COALESCE(publish_name, '') != ''",
                (row["id"],),
            )
            if published:
                raise exc.bad_request(
                    "BadRequestIterationIsPublished",
                    "Cannot delete a project that has published iterations. Unpublish them first.",
                )
            pid = row["id"]
            iteration_ids = "SELECT id FROM iterations WHERE project_id = ?"
            image_ids = "SELECT id FROM images WHERE project_id = ?"
            c.execute(f"DELETE FROM iteration_tags WHERE iteration_id IN ({iteration_ids})", (pid,))
            c.execute(
                f"DELETE FROM iteration_images WHERE iteration_id IN ({iteration_ids})", (pid,)
            )
            c.execute(f"DELETE FROM image_tags WHERE image_id IN ({image_ids})", (pid,))
            for table in ("iterations", "images", "tags", "predictions"):
                c.execute(f"DELETE FROM {table} WHERE project_id = ?", (pid,))
            c.execute("DELETE FROM projects WHERE id = ?", (pid,))

    def _check_project_name_unique(self, name: str, own_id: str | None) -> None:
        clash = self.store.one(
            "SELECT id FROM projects WHERE lower(name) = lower(?) AND id IS NOT ?", (name, own_id)
        )
        if clash is not None:
            raise exc.bad_request(
                "BadRequestProjectNameNotUnique", f"A project named '{name}' already exists."
            )

    # -- tags -------------------------------------------------------------------------

    def get_tags(self, project_id: str, iteration_id: str | None = None) -> list[dict[str, Any]]:
        project = self._project(project_id)
        if iteration_id:
            iteration = self._iteration(project["id"], iteration_id)
            rows = self.store.all(
                "SELECT tag_id AS id, name, description, type, image_count FROM iteration_tags "
                "WHERE iteration_id = ? ORDER BY rowid",
                (iteration["id"],),
            )
            return [tag_wire(r, r["image_count"]) for r in rows]
        rows = self.store.all(
            "SELECT * FROM tags WHERE project_id = ? ORDER BY seq", (project["id"],)
        )
        counts = self._workspace_tag_counts(project["id"])
        return [tag_wire(r, counts.get(r["id"], 0)) for r in rows]

    def get_tag(
        self, project_id: str, tag_id: str, iteration_id: str | None = None
    ) -> dict[str, Any]:
        project = self._project(project_id)
        if iteration_id:
            iteration = self._iteration(project["id"], iteration_id)
            row = self.store.one(
                "SELECT tag_id AS id, name, description, type, image_count FROM iteration_tags "
                "WHERE iteration_id = ? AND tag_id = ?",
                (iteration["id"], tag_id.lower()),
            )
            if row is None:
                raise exc.tag_not_found(tag_id)
            return tag_wire(row, row["image_count"])
        tag = self._tag(project["id"], tag_id)
        return tag_wire(tag, self._workspace_tag_counts(project["id"]).get(tag["id"], 0))

    def create_tag(
        self,
        project_id: str,
        name: str | None,
        description: str | None = None,
        type: str | None = None,
    ) -> dict[str, Any]:
        tag_type = _tag_type(type or "Regular")
        name = _check_tag_name(name)
        with self.store.tx() as c:
            project = self._project(project_id)
            count = self.store.scalar(
                "SELECT COUNT(*) FROM tags WHERE project_id = ?", (project[0],)
            )
            if count >= self.limits.tags_per_project:
                raise exc.bad_request(
                    "BadRequestExceedTagPerProjectLimit",
                    f"Exceeded the limit of {self.limits.tags_per_project} tags per project.",
                )
            self._check_tag_name_unique(project["id"], name, None)
            if tag_type == "Negative":
                self._check_single_negative(project["id"], None)
            tag_id = new_id()
            c.execute(
                "INSERT INTO tags VALUES (?,?,?,?,?,?,?)",
                (
                    tag_id,
                    project["id"],
                    name,
                    description or None,
                    tag_type,
                    now(),
                    self.store.next_seq("tags"),
                ),
            )
        return self.get_tag(project["id"], tag_id)

    def update_tag(self, project_id: str, tag_id: str, updated: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx() as c:
            project = self._project(project_id)
            tag = self._tag(project["id"], tag_id)
            name = _check_tag_name(updated.get("name", tag["name"]))
            self._check_tag_name_unique(project["id"], name, tag["id"])
            tag_type = _tag_type(updated.get("type") or tag["type"])
            if tag_type == "Negative" and tag["type"] != "Negative":
                self._check_single_negative(project["id"], tag["id"])
                self._check_negative_alone(tag["id"])
            description = updated.get("description", tag["description"])
            c.execute(
                "UPDATE tags SET name=?, description=?, type=? WHERE id=?",
                (name, description or None, tag_type, tag["id"]),
            )
        return self.get_tag(project["id"], tag["id"])

    def delete_tag(self, project_id: str, tag_id: str) -> None:
        with self.store.tx() as c:
            project = self._project(project_id)
            tag = self._tag(project["id"], tag_id)
            c.execute("DELETE FROM image_tags WHERE tag_id = ?", (tag["id"],))
            c.execute("DELETE FROM tags WHERE id = ?", (tag["id"],))

    def _workspace_tag_counts(self, project_id: str) -> dict[str, int]:
        rows = self.store.all(
            "SELECT it.tag_id, COUNT(*) AS n FROM image_tags it "
            "JOIN images i ON i.id = it.image_id "
            "WHERE i.project_id = ? AND i.in_workspace = 1 GROUP BY it.tag_id",
            (project_id,),
        )
        return {r["tag_id"]: int(r["n"]) for r in rows}

    def _check_tag_name_unique(self, project_id: str, name: str, own_id: str | None) -> None:
        clash = self.store.one(
            "SELECT id FROM tags WHERE project_id = ? AND lower(name) = lower(?) AND id IS NOT ?",
            (project_id, name, own_id),
        )
        if clash is not None:
            raise exc.bad_request(
                "BadRequestTagNameNotUnique", f"A tag named '{name}' already exists in the project."
            )

    def _check_single_negative(self, project_id: str, own_id: str | None) -> None:
        other = self.store.one(
            "SELECT id FROM tags WHERE project_id = ? AND type = 'Negative' AND id IS NOT ?",
            (project_id, own_id),
        )
        if other is not None:
            raise exc.bad_request(
                "BadRequestMultipleNegativeTag", "A project can have only one negative tag."
            )

    def _check_negative_alone(self, tag_id: str) -> None:
        shared = self.store.one(
            "SELECT 1 FROM image_tags a JOIN image_tags b ON a.image_id = b.image_id "
            "WHERE a.tag_id = ? AND b.tag_id != ? LIMIT 1",
            (tag_id, tag_id),
        )
        if shared is not None:
            raise exc.bad_request(
                "BadRequestNegativeAndRegularTagOnSameImage",
                "Negative tag and regular tag cannot be on the same image.",
            )


def loads_list(text: str) -> list[str]:
    return list(loads(text) or [])


def _check_project_name(name: str | None) -> str:
    if name is None or not str(name).strip():
        raise exc.bad_request("BadRequestProjectName", "Project name is required.")
    if len(name) > 255:
        raise exc.bad_request("BadRequestProjectName", "Project name is too long.")
    return str(name)


def _check_tag_name(name: str | None) -> str:
    if name is None or not str(name).strip():
        raise exc.bad_request("BadRequestTagName", "Tag name is required.")
    if len(name) > 255:
        raise exc.bad_request("BadRequestTagName", "Tag name is too long.")
    return str(name)


def _classification_domain(domain_id: str, changing: bool = False) -> dict[str, Any]:
    domain = DOMAINS_BY_ID.get(domain_id.lower())
    if domain is None:
        raise exc.bad_request("BadRequestProjectUnknownDomain", f"Unknown domain {domain_id}.")
    if domain["type"] != "Classification":
        if changing:
            raise exc.bad_request(
                "BadRequestProjectUnsupportedDomainTypeChange",
                "Cannot change a classification project to an object detection domain.",
            )
        raise exc.bad_request(
            "BadRequestUnsupportedDomain",
            "Object detection domains are not supported by the cvspec emulator.",
        )
    return domain


def _classification_type(value: str) -> str:
    for known in CLASSIFICATION_TYPES:
        if value.lower() == known.lower():
            return known
    raise exc.bad_request(
        "BadRequestProjectUnknownClassification", f"Unknown classification type {value}."
    )


def _tag_type(value: str) -> str:
    for known in TAG_TYPES:
        if value.lower() == known.lower():
            return known
    raise exc.bad_request("BadRequestTagType", f"Tag type {value} is not valid for classification.")


def _export_platforms(platforms: list[str]) -> list[str]:
    for platform in platforms:
        if platform not in EXPORT_PLATFORMS:
            raise exc.bad_request(
                "BadRequestProjectUnsupportedExportPlatform",
                f"Unsupported export platform {platform}.",
            )
    return list(platforms)
