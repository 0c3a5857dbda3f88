"""Wire shapes: database rows turned into the JSON the real service answers (camelCase,
ISO-8601 UTC dates with milliseconds and a ``Z``, GUID ids)."""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cvspec.emulator.store import loads

AUGMENTATION_METHODS = {
    "rotation": True,
    "scaling": True,
    "translation": True,
    "horizontal flip": True,
    "equalize": True,
    "solarize": True,
    "padtosquare": True,
}


def now() -> str:
    """The current time as the service writes it: ``2020-11-06T16:37:26.266Z``."""
    stamp = datetime.now(UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def parse_time(text: str) -> datetime:
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class ImageTagRef:
    tag_id: str
    tag_name: str | None
    created: str

    def to_wire(self) -> dict[str, Any]:
        return {"tagId": self.tag_id, "tagName": self.tag_name, "created": self.created}


def project_wire(row: sqlite3.Row) -> dict[str, Any]:
    wire = {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "settings": {
            "domainId": row["domain_id"],
            "classificationType": row["classification_type"],
            "targetExportPlatforms": loads(row["target_export_platforms"]),
            "useNegativeSet": True,
            "detectionParameters": None,
            "imageProcessingSettings": {"augmentationMethods": dict(AUGMENTATION_METHODS)},
        },
        "created": row["created"],
        "lastModified": row["last_modified"],
        "thumbnailUri": None,
        "drModeEnabled": False,
        "status": row["status"],
    }
    # v3.4 answers these only when the project was created with them (recordings omit them)
    for key, column in (
        ("exportModelContainerUri", "export_container_uri"),
        ("notificationQueueUri", "notification_queue_uri"),
    ):
        if row[column]:
            wire["settings"][key] = row[column]
    return wire


def tag_wire(row: sqlite3.Row | dict[str, Any], image_count: int) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"] or None,
        "type": row["type"],
        "imageCount": image_count,
    }


def iteration_wire(row: sqlite3.Row, export_platforms: list[str]) -> dict[str, Any]:
    """An ``Iteration``; ``export_platforms`` are its domain's (empty: not exportable)."""
    # the service fills these in once the training is under way (see the recordings)
    trained = row["status"] != "Training" or row["last_modified"] != row["created"]
    wire: dict[str, Any] = {
        "id": row["id"],
        "name": row["name"],
        "status": row["status"],
        "created": row["created"],
        "lastModified": row["last_modified"],
    }
    if row["trained_at"]:
        wire["trainedAt"] = row["trained_at"]
    wire.update(
        {
            "projectId": row["project_id"],
            "exportable": bool(export_platforms) and row["status"] == "Completed",
            "exportableTo": list(export_platforms) if trained and export_platforms else None,
            "domainId": row["domain_id"] if trained else None,
            "classificationType": row["classification_type"] if trained else None,
            "trainingType": row["training_type"],
            "reservedBudgetInHours": row["reserved_budget"],
            "trainingTimeInMinutes": row["training_minutes"],
            "publishName": row["publish_name"],
            "originalPublishResourceId": row["publish_resource_id"],
            "customBaseModelInfo": None,
            "trainingErrorDetails": row["error"],
        }
    )
    return wire


def image_uris(base_url: str, project_id: str, image_id: str) -> dict[str, str]:
    """Readable URLs for an image's bytes, served by the emulator itself (SAS-like: no key)."""
    root = f"{base_url}/customvision/emulator/images/{project_id}"
    return {
        "resizedImageUri": f"{root}/i-{image_id}",
        "thumbnailUri": f"{root}/t-{image_id}",
        "originalImageUri": f"{root}/o-{image_id}",
    }


def image_wire(
    row: sqlite3.Row, tags: list[ImageTagRef], base_url: str, with_metadata: bool = True
) -> dict[str, Any]:
    uris = image_uris(base_url, row["project_id"], row["id"])
    wire: dict[str, Any] = {
        "id": row["id"],
        "created": row["created"],
        "width": row["width"],
        "height": row["height"],
        "resizedImageUri": uris["resizedImageUri"],
        "thumbnailUri": uris["thumbnailUri"],
        "originalImageUri": uris["originalImageUri"],
        "tags": [t.to_wire() for t in tags],
    }
    metadata = loads(row["metadata"])
    if with_metadata and metadata:
        wire["metadata"] = metadata
    return wire


def prediction_entries(
    probabilities: dict[str, float], tags: dict[str, tuple[str, str]]
) -> list[dict[str, Any]]:
    """``Prediction`` objects for every tag, most probable first.

    Args:
        probabilities: tag id -> probability.
        tags: tag id -> (name, type) as of the iteration.
    """
    ordered = sorted(probabilities.items(), key=lambda kv: (-kv[1], tags.get(kv[0], ("", ""))[0]))
    return [
        {
            "probability": float(p),
            "tagId": tag_id,
            "tagName": tags.get(tag_id, ("", "Regular"))[0],
            "tagType": tags.get(tag_id, ("", "Regular"))[1],
        }
        for tag_id, p in ordered
    ]
