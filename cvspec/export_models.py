"""Trained models of compact-domain iterations: ExportIteration, GetExports until done,
then the file at the export's `downloadUri` (a storage URL with a SAS token on Azure: never
printed nor written anywhere but used once here).

An export the service is already preparing (BadRequestExportAlreadyInProgress) is followed
like one this run requested. Platforms the iteration cannot be exported to are skipped and
reported; a failed export is reported, not fatal: the dataset is the export's main content.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from cvspec.errors import ServiceError
from cvspec.export_layout import folder_safe
from cvspec.importing.source import SourceIteration
from cvspec.sdk import call

MODELS_DIR = "models"
POLL_SECONDS = 2.0
TIMEOUT_SECONDS = 30 * 60.0
DOWNLOAD_TIMEOUT = 300.0
_ALREADY = "BadRequestExportAlreadyInProgress"


@dataclass(frozen=True)
class ModelExport:
    """What happened to one (iteration, platform) export."""

    iteration: str  # the iteration's name
    platform: str
    status: str  # "Done" | "Failed" | "Skipped" | "TimedOut"
    path: str | None  # relative to the export folder when downloaded
    note: str = ""


def export_models(
    client: Any,
    project_id: str,
    iterations: Sequence[SourceIteration],
    platforms: Sequence[str],
    root: Path,
    notify: Callable[[str], None] = lambda _: None,
    poll_seconds: float = POLL_SECONDS,
    timeout: float = TIMEOUT_SECONDS,
) -> list[ModelExport]:
    """Export and download each completed iteration's model for each platform."""
    results = []
    for iteration in iterations:
        if iteration.status != "Completed":
            continue
        offered = list(iteration.exportable_to)
        for platform in platforms:
            if platform not in offered:
                why = "not a compact domain" if not offered else f"offered: {', '.join(offered)}"
                results.append(
                    ModelExport(
                        iteration.name, platform, "Skipped", None, f"not exportable ({why})"
                    )
                )
                continue
            notify(f"  exporting {iteration.name} as {platform}")
            results.append(
                _one(client, project_id, iteration, platform, root, poll_seconds, timeout)
            )
    return results


def _one(
    client: Any,
    project_id: str,
    iteration: SourceIteration,
    platform: str,
    root: Path,
    poll_seconds: float,
    timeout: float,
) -> ModelExport:
    try:
        call(client.export_iteration, project_id, iteration.id, platform)
    except ServiceError as exc:
        if exc.code != _ALREADY:
            return ModelExport(iteration.name, platform, "Failed", None, str(exc))
    deadline = time.monotonic() + timeout
    polls = 0
    while True:
        export = _find(call(client.get_exports, project_id, iteration.id), platform)
        status = export.status if export is not None else "Exporting"
        if status == "Done" and export is not None and export.download_uri:
            folder = iteration.name if folder_safe(iteration.name) else str(iteration.id)
            try:
                path = _download(export.download_uri, root, folder, platform)
            except (ServiceError, requests.RequestException) as exc:
                note = str(exc) if isinstance(exc, ServiceError) else "the download failed"
                return ModelExport(iteration.name, platform, "Failed", None, note)
            return ModelExport(iteration.name, platform, "Done", path)
        if status == "Failed":
            return ModelExport(iteration.name, platform, "Failed", None, "the service failed it")
        if time.monotonic() > deadline:
            return ModelExport(iteration.name, platform, "TimedOut", None, f"after {timeout:.0f}s")
        time.sleep(min(poll_seconds, 0.25 * 2**polls))  # soon at first, then every poll_seconds
        polls += 1


def _find(exports: Sequence[Any], platform: str) -> Any | None:
    """The export of `platform` without a flavor (cvspec requests none)."""
    return next((e for e in exports if e.platform == platform and not e.flavor), None)


def _download(uri: str, root: Path, folder: str, platform: str) -> str:
    response = requests.get(uri, timeout=DOWNLOAD_TIMEOUT)
    if not response.ok:
        raise ServiceError(
            f"the {platform} model of {folder} could not be downloaded "
            f"(HTTP {response.status_code})"
        )
    data = response.content
    suffix = ".zip" if data.startswith(b"PK\x03\x04") else ".bin"
    relative = f"{MODELS_DIR}/{folder}/{platform.lower()}{suffix}"
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    os.replace(tmp, target)
    return relative
