"""Training, iterations, publishing and evaluation: backend operations named like the
SDK's methods. The fitting itself runs in the Trainer's worker thread."""

from __future__ import annotations

import hashlib
import io
import re
import sqlite3
import time
import zipfile
from typing import Any
from urllib.parse import urlencode

from cvspec.emulator import exceptions as exc
from cvspec.emulator.core import BackendCore
from cvspec.emulator.domains import DOMAINS_BY_ID
from cvspec.emulator.models import iteration_wire, new_id, now, prediction_entries
from cvspec.emulator.store import dumps, loads
from cvspec.emulator.trainer import FeatureCache, Trainer

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PUBLISH_NAME = re.compile(r"^[A-Za-z0-9 _.\-]{1,256}$")


class IterationsMixin(BackendCore):
    trainer: Trainer
    features: FeatureCache

    # -- training ---------------------------------------------------------------------

    def train_project(
        self,
        project_id: str,
        training_type: str | None = None,
        reserved_budget_in_hours: int = 0,
        force_train: bool = False,
        notification_email_address: str | None = None,
        training_parameters: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        training_type = _check_training_options(
            training_type, reserved_budget_in_hours, notification_email_address
        )
        selected = [str(t).lower() for t in (training_parameters or {}).get("selectedTags") or []]
        with self.store.tx() as c:
            project = self._project(project_id)
            tags, images = self._training_set(project, selected)
            fingerprint = _fingerprint(project, tags, images, training_type)
            self._check_can_train(project["id"], fingerprint, force_train)
            iteration_id = self._insert_iteration(
                c, project, training_type, reserved_budget_in_hours, fingerprint, selected
            )
            c.executemany(
                "INSERT INTO iteration_tags VALUES (?,?,?,?,?,?)",
                [
                    (iteration_id, t["id"], t["name"], t["description"], t["type"], n)
                    for t, n in tags
                ],
            )
            c.executemany(
                "INSERT INTO iteration_images VALUES (?,?,?)",
                [(iteration_id, image_id, dumps(sorted(t))) for image_id, _, t in images],
            )
        answer = self.get_iteration(project["id"], iteration_id)  # before the worker starts
        self.trainer.submit(iteration_id)
        return answer

    def _check_can_train(self, project_id: str, fingerprint: str, force_train: bool) -> None:
        if self.store.one(
            "SELECT 1 FROM iterations WHERE project_id = ? AND status = 'Training'", (project_id,)
        ):
            raise exc.bad_request(
                "BadRequestTrainingAlreadyInProgress", "Training is already in progress."
            )
        last = self.store.one(
            "SELECT fingerprint FROM iterations WHERE project_id = ? AND status = 'Completed' "
            "ORDER BY seq DESC LIMIT 1",
            (project_id,),
        )
        if last is not None and last["fingerprint"] == fingerprint and not force_train:
            raise exc.bad_request(
                "BadRequestTrainingNotNeeded", "Nothing changed since last training."
            )
        count = self.store.scalar(
            "SELECT COUNT(*) FROM iterations WHERE project_id = ?", (project_id,)
        )
        if count >= self.limits.iterations_per_project:
            raise exc.bad_request(
                "BadRequestExceedIterationPerProjectLimit",
                f"Exceeded the limit of {self.limits.iterations_per_project} "
                "iterations per project. Delete an iteration and try again.",
            )

    def _insert_iteration(
        self,
        c: sqlite3.Connection,
        project: sqlite3.Row,
        training_type: str,
        reserved_budget_in_hours: int,
        fingerprint: str,
        selected: list[str],
    ) -> str:
        """A new ``Training`` iteration, named ``Iteration N`` (N never reused)."""
        pid = project["id"]
        made = self.store.get_meta(f"iterations_made:{pid}")
        number = 1 + int(
            made
            or self.store.scalar("SELECT COUNT(*) FROM iterations WHERE project_id = ?", (pid,))
        )
        iteration_id, stamp = new_id(), now()
        c.execute(
            "INSERT INTO iterations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                iteration_id,
                pid,
                f"Iteration {number}",
                "Training",
                stamp,
                stamp,
                None,  # trained_at
                project["domain_id"],
                project["classification_type"],
                training_type,
                int(reserved_budget_in_hours or 0),
                0,  # training minutes
                None,  # publish name
                None,  # publish resource id
                None,  # error details
                fingerprint,
                dumps(selected) if selected else None,
                None,  # model sha
                None,  # held-out probabilities
                self.store.next_seq("iterations"),
            ),
        )
        self.store.set_meta(f"iterations_made:{pid}", str(number))
        return iteration_id

    def _training_set(
        self, project: sqlite3.Row, selected: list[str]
    ) -> tuple[list[tuple[sqlite3.Row, int]], list[tuple[str, str, set[str]]]]:
        """The tags and tagged images a training would use, after the service's checks."""
        all_tags = self._project_tags(project["id"])
        for tag_id in selected:
            if tag_id not in all_tags:
                raise exc.tag_not_found(tag_id)
        trained = {t: all_tags[t] for t in (selected or list(all_tags))}
        rows = self.store.all(
            "SELECT i.id, i.sha256, it.tag_id FROM images i JOIN image_tags it "
            "ON it.image_id = i.id WHERE i.project_id = ? AND i.in_workspace = 1 ORDER BY i.seq",
            (project["id"],),
        )
        images: dict[str, tuple[str, set[str]]] = {}
        for r in rows:
            if r["tag_id"] in trained:
                images.setdefault(r["id"], (r["sha256"], set()))[1].add(r["tag_id"])
        counts = dict.fromkeys(trained, 0)
        for _, tag_ids in images.values():
            for t in tag_ids:
                counts[t] += 1
        multiclass = project["classification_type"] == "Multiclass"
        code = (
            "BadRequestMultiClassClassificationTrainingValidationFailed"
            if multiclass
            else "BadRequestMultiLabelClassificationTrainingValidationFailed"
        )
        regular = [t for t in trained if trained[t]["type"] == "Regular"]
        if len(trained) < self.limits.min_tags_to_train or not regular:
            raise exc.bad_request(
                code,
                f"Not enough tags for training: at least {self.limits.min_tags_to_train} tags "
                "(one of them not negative) are needed.",
            )
        short = [
            trained[t]["name"] for t, n in counts.items() if n < self.limits.min_images_per_tag
        ]
        if short:
            raise exc.bad_request(
                code,
                f"Not enough images for training: every tag needs at least "
                f"{self.limits.min_images_per_tag} images ({', '.join(sorted(short))}).",
            )
        if multiclass and any(len(t) > 1 for _, t in images.values()):
            raise exc.bad_request(
                "BadRequestMultiClassClassificationTrainingValidationFailed",
                "A multiclass project needs exactly one tag per image.",
            )
        tag_list = [(trained[t], counts[t]) for t in trained]
        image_list = [(image_id, sha, t) for image_id, (sha, t) in images.items()]
        return tag_list, image_list

    # -- iterations -------------------------------------------------------------------

    def _iteration_wire(self, row: sqlite3.Row) -> dict[str, Any]:
        domain = DOMAINS_BY_ID.get(row["domain_id"], {})
        platforms = domain.get("exportablePlatforms", []) if domain.get("exportable") else []
        return iteration_wire(row, platforms)

    def get_iterations(self, project_id: str) -> list[dict[str, Any]]:
        project = self._project(project_id)
        rows = self.store.all(
            "SELECT * FROM iterations WHERE project_id = ? ORDER BY seq", (project["id"],)
        )
        return [self._iteration_wire(r) for r in rows]

    def get_iteration(self, project_id: str, iteration_id: str) -> dict[str, Any]:
        project = self._project(project_id)
        return self._iteration_wire(self._iteration(project["id"], iteration_id))

    def update_iteration(
        self, project_id: str, iteration_id: str, updated: dict[str, Any]
    ) -> dict[str, Any]:
        name = updated.get("name")
        if not name or not str(name).strip():
            raise exc.bad_request("BadRequestIterationName", "Iteration name is required.")
        with self.store.tx() as c:
            project = self._project(project_id)
            row = self._iteration(project["id"], iteration_id)
            clash = self.store.one(
                "SELECT 1 FROM iterations WHERE project_id = ? AND lower(name) = lower(?) "
                "AND id != ?",
                (project["id"], name, row["id"]),
            )
            if clash:
                raise exc.bad_request(
                    "BadRequestIterationNameNotUnique", f"An iteration named '{name}' exists."
                )
            c.execute(
                "UPDATE iterations SET name = ?, last_modified = ? WHERE id = ?",
                (str(name), now(), row["id"]),
            )
        return self.get_iteration(project["id"], row["id"])

    def delete_iteration(self, project_id: str, iteration_id: str) -> None:
        with self.store.tx() as c:
            project = self._project(project_id)
            row = self._iteration(project["id"], iteration_id)
            if row["publish_name"]:
                raise exc.bad_request(
                    "BadRequestIterationIsPublished",
                    "Cannot delete a published iteration. Unpublish it first.",
                )
            if row["status"] == "Training":
                raise exc.bad_request(
                    "BadRequestTrainingAlreadyInProgress",
                    "Cannot delete an iteration while it is training.",
                )
            iid = row["id"]
            orphans = [
                r["image_id"]
                for r in self.store.all(
                    "SELECT ii.image_id FROM iteration_images ii JOIN images i "
                    "ON i.id = ii.image_id WHERE ii.iteration_id = ? AND i.in_workspace = 0 "
                    "AND NOT EXISTS (SELECT 1 FROM iteration_images o "
                    "WHERE o.image_id = ii.image_id AND o.iteration_id != ?)",
                    (iid, iid),
                )
            ]
            c.execute("DELETE FROM iteration_images WHERE iteration_id = ?", (iid,))
            c.execute("DELETE FROM iteration_tags WHERE iteration_id = ?", (iid,))
            c.executemany("DELETE FROM images WHERE id = ?", [(i,) for i in orphans])
            c.execute("DELETE FROM iterations WHERE id = ?", (iid,))

    # -- publishing -------------------------------------------------------------------

    def publish_iteration(
        self,
        project_id: str,
        iteration_id: str,
        publish_name: str | None,
        prediction_id: str | None,
        overwrite: bool = False,
    ) -> bool:
        if not publish_name or not PUBLISH_NAME.match(publish_name):
            raise exc.bad_request(
                "BadRequestInvalidPublishName", f"Invalid publish name '{publish_name or ''}'."
            )
        with self.store.tx() as c:
            project = self._project(project_id)
            row = self._iteration(project["id"], iteration_id)
            resource = self.store.one(
                "SELECT resource_id FROM prediction_resources WHERE lower(resource_id) = lower(?)",
                (prediction_id or "",),
            )
            if resource is None:
                raise exc.bad_request(
                    "BadRequestInvalidPublishTarget",
                    f"Invalid prediction resource id '{prediction_id or ''}'.",
                )
            if row["status"] != "Completed":
                raise exc.bad_request(
                    "BadRequestIterationIsNotTrained", "The iteration is not trained."
                )
            if row["publish_name"]:
                raise exc.bad_request(
                    "BadRequestIterationIsPublished", "The iteration is already published."
                )
            clash = self.store.one(
                "SELECT id FROM iterations WHERE project_id = ? AND publish_name = ? AND id != ?",
                (project["id"], publish_name, row["id"]),
            )
            if clash is not None:
                if not overwrite:
                    raise exc.bad_request(
                        "BadRequestInvalidPublishName",
                        f"The publish name '{publish_name}' is already in use.",
                    )
                c.execute(
                    "UPDATE iterations SET publish_name = '', last_modified = ? WHERE id = ?",
                    (now(), clash["id"]),
                )
            c.execute(
                "UPDATE iterations SET publish_name = ?, publish_resource_id = ?, "
                "last_modified = ? WHERE id = ?",
                (publish_name, resource["resource_id"], now(), row["id"]),
            )
        return True

    def unpublish_iteration(self, project_id: str, iteration_id: str) -> None:
        with self.store.tx() as c:
            project = self._project(project_id)
            row = self._iteration(project["id"], iteration_id)
            if not row["publish_name"]:
                raise exc.bad_request(
                    "BadRequestIterationNotPublished", "The iteration is not published."
                )
            c.execute(
                "UPDATE iterations SET publish_name = '', last_modified = ? WHERE id = ?",
                (now(), row["id"]),
            )

    # -- evaluation -------------------------------------------------------------------

    def _trained(self, project_id: str, iteration_id: str) -> sqlite3.Row:
        project = self._project(project_id)
        row = self._iteration(project["id"], iteration_id)
        if row["status"] != "Completed" or row["held_out"] is None:
            raise exc.bad_request(
                "BadRequestIterationIsNotTrained", "The iteration is not trained."
            )
        return row

    def _iteration_tags(self, iteration_id: str) -> list[sqlite3.Row]:
        """The iteration's tags; one renamed since training has its current name (the model
        knows tag ids), as predictions do."""
        return self.store.all(
            "SELECT it.iteration_id, it.tag_id, COALESCE(t.name, it.name) AS name, "
            "it.description, it.type, it.image_count FROM iteration_tags it "
            "LEFT JOIN tags t ON t.id = it.tag_id WHERE it.iteration_id = ? ORDER BY it.rowid",
            (iteration_id,),
        )

    def _iteration_truth(self, iteration_id: str) -> dict[str, frozenset[str]]:
        rows = self.store.all(
            "SELECT image_id, tag_ids FROM iteration_images WHERE iteration_id = ?",
            (iteration_id,),
        )
        return {r["image_id"]: frozenset(loads(r["tag_ids"])) for r in rows}

    def get_iteration_performance(
        self, project_id: str, iteration_id: str, threshold: float = 0.5, overlap: float = 0.3
    ) -> dict[str, Any]:
        from cvspec.emulator import learning

        row = self._trained(project_id, iteration_id)
        tags = self._iteration_tags(row["id"])
        perf = learning.evaluate(
            loads(row["held_out"]),
            self._iteration_truth(row["id"]),
            [t["tag_id"] for t in tags],
            threshold,
        )
        per_tag = []
        for t in tags:
            tp = perf.per_tag.get(t["tag_id"])
            if tp is None:
                continue
            per_tag.append(
                {
                    "id": t["tag_id"],
                    "name": t["name"],
                    "precision": tp.precision,
                    "precisionStdDeviation": tp.precision_std_deviation,
                    "recall": tp.recall,
                    "recallStdDeviation": tp.recall_std_deviation,
                    "averagePrecision": tp.average_precision,
                }
            )
        return {
            "perTagPerformance": per_tag,
            "precision": perf.precision,
            "precisionStdDeviation": perf.precision_std_deviation,
            "recall": perf.recall,
            "recallStdDeviation": perf.recall_std_deviation,
            "averagePrecision": perf.average_precision,
        }

    def _performance_images(
        self, project_id: str, iteration_id: str, tag_ids: list[str] | None, order_by: str | None
    ) -> list[dict[str, Any]]:
        row = self._trained(project_id, iteration_id)
        held_out: dict[str, dict[str, float]] = loads(row["held_out"])
        tag_info = {t["tag_id"]: (t["name"], t["type"]) for t in self._iteration_tags(row["id"])}
        rows, tags = self._iteration_images(row["id"])  # type: ignore[attr-defined]
        wanted = set(tag_ids or [])
        out = []
        for image in rows:
            image_tags = tags.get(image["id"], [])
            if wanted and not wanted.intersection(t.tag_id for t in image_tags):
                continue
            if image["id"] not in held_out:
                continue
            out.append(
                {
                    "predictions": [
                        {k: v for k, v in p.items() if k != "tagType"}
                        for p in prediction_entries(held_out[image["id"]], tag_info)
                    ],
                    "id": image["id"],
                    "created": image["created"],
                    "width": image["width"],
                    "height": image["height"],
                    "imageUri": f"{self.public_url}/customvision/emulator/images/"
                    f"{image['project_id']}/o-{image['id']}",
                    "thumbnailUri": f"{self.public_url}/customvision/emulator/images/"
                    f"{image['project_id']}/t-{image['id']}",
                    "tags": [t.to_wire() for t in image_tags],
                    "regions": [],
                }
            )
        if (order_by or "Newest").lower() != "oldest":
            out.reverse()
        return out

    def get_image_performances(
        self,
        project_id: str,
        iteration_id: str,
        tag_ids: list[str] | None = None,
        order_by: str | None = None,
        take: int = 50,
        skip: int = 0,
    ) -> list[dict[str, Any]]:
        if take > self.limits.max_take:
            raise exc.bad_request(
                "BadRequestInvalid", f"take must be at most {self.limits.max_take}."
            )
        items = self._performance_images(project_id, iteration_id, tag_ids, order_by)
        return items[max(skip, 0) : max(skip, 0) + max(take, 0)]

    def get_image_performance_count(
        self, project_id: str, iteration_id: str, tag_ids: list[str] | None = None
    ) -> int:
        return len(self._performance_images(project_id, iteration_id, tag_ids, None))

    # -- model export -----------------------------------------------------------------

    def export_iteration(
        self, project_id: str, iteration_id: str, platform: str, flavor: str | None = None
    ) -> dict[str, Any]:
        row = self._trained(project_id, iteration_id)
        domain = DOMAINS_BY_ID.get(row["domain_id"], {})
        if not domain.get("exportable"):
            raise exc.bad_request(
                "BadRequestExportValidationFailed",
                "Only iterations trained on a compact domain can be exported.",
            )
        if platform not in domain.get("exportablePlatforms", []):
            raise exc.bad_request(
                "BadRequestExportValidationFailed", f"Unsupported export platform {platform}."
            )
        exports = loads(self.store.get_meta(f"exports:{row['id']}")) or []
        for known in exports:
            queued = (known["platform"], known.get("flavor")) == (platform, flavor)
            if queued and not self._export_ready(known):
                raise exc.bad_request(
                    "BadRequestExportAlreadyInProgress",
                    f"Iteration {row['id']} is already queued for export.",
                )
        # Like the service, an export takes a while: "Exporting" (no downloadUri) until
        # EXPORT_SECONDS have passed, then "Done" with the URL of the model's file.
        export = {"platform": platform, "flavor": flavor, "requested": time.time()}
        exports = [e for e in exports if (e["platform"], e.get("flavor")) != (platform, flavor)]
        self.store.set_meta(f"exports:{row['id']}", dumps([*exports, export]))
        return self._export_wire(row["id"], export)

    def get_exports(self, project_id: str, iteration_id: str) -> list[dict[str, Any]]:
        project = self._project(project_id)
        row = self._iteration(project["id"], iteration_id)
        exports = loads(self.store.get_meta(f"exports:{row['id']}")) or []
        return [self._export_wire(row["id"], e) for e in exports]

    def _export_ready(self, export: dict[str, Any]) -> bool:
        return time.time() - float(export.get("requested", 0.0)) >= EXPORT_SECONDS

    def _export_wire(self, iteration_id: str, export: dict[str, Any]) -> dict[str, Any]:
        ready = self._export_ready(export)
        query = urlencode({k: export[k] for k in ("platform", "flavor") if export.get(k)})
        uri = f"{self.public_url}/customvision/emulator/models/{iteration_id}?{query}"
        # the shapes of the Swagger's ExportIteration and GetExports examples: an empty
        # downloadUri while exporting, no flavor key when none was asked for
        wire = {
            "platform": export["platform"],
            "status": "Done" if ready else "Exporting",
            "downloadUri": uri if ready else "",
            "newerVersionAvailable": False,
        }
        if export.get("flavor"):
            wire["flavor"] = export["flavor"]
        return wire

    def model_bytes(self, iteration_id: str) -> bytes:
        row = self.store.one("SELECT model_sha FROM iterations WHERE id = ?", (iteration_id,))
        if row is None or not row["model_sha"]:
            raise exc.iteration_not_found(iteration_id)
        return self.store.blobs.get(row["model_sha"])

    def model_package(self, iteration_id: str, platform: str | None) -> bytes:
        """An exported model as the service delivers it: a zip archive with `labels.txt`
        (the iteration's tags, one a line); the emulator's model (`model.bin`, its own
        format: it is not an ONNX or TensorFlow graph) and a note say what it is."""
        model = self.model_bytes(iteration_id)
        tags = [t["name"] for t in self._iteration_tags(iteration_id.lower())]
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("labels.txt", "".join(f"{t}\n" for t in tags))
            archive.writestr("model.bin", model)
            archive.writestr(
                "README.txt",
                f"Exported by the cvspec emulator for platform {platform or 'unknown'}.\n"
                "model.bin is the emulator's own classifier, not a model of that platform.\n",
            )
        return out.getvalue()


EXPORT_SECONDS = 0.3  # how long an export stays "Exporting"


def _check_training_options(
    training_type: str | None, reserved_budget_in_hours: int, email: str | None
) -> str:
    """The training type, after the request-level checks of TrainProject's options."""
    kind = _training_type(training_type or "Regular")
    if kind == "Advanced" and reserved_budget_in_hours < 1:
        raise exc.bad_request(
            "BadRequestReservedBudgetInHoursNotEnoughForAdvancedTraining",
            "Reserved budget in hours is not enough to do advanced training.",
        )
    if email and not EMAIL.match(email):
        raise exc.bad_request(
            "BadRequestInvalidEmailAddress", "The notification email address is invalid."
        )
    return kind


def _training_type(value: str) -> str:
    for known in ("Regular", "Advanced"):
        if value.lower() == known.lower():
            return known
    raise exc.bad_request("BadRequestInvalid", f"Unknown training type {value}.")


def _fingerprint(
    project: sqlite3.Row,
    tags: list[tuple[sqlite3.Row, int]],
    images: list[tuple[str, str, set[str]]],
    training_type: str,
) -> str:
    """What decides whether a new training would differ from the last one."""
    digest = hashlib.sha256()
    digest.update(
        dumps(
            [
                project["domain_id"],
                project["classification_type"],
                training_type,
                sorted((t["id"], t["type"]) for t, _ in tags),
            ]
        ).encode()
    )
    for image_id, sha, tag_ids in sorted(images):
        digest.update(f"{image_id}:{sha}:{','.join(sorted(tag_ids))}\n".encode())
    return digest.hexdigest()
