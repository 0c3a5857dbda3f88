"""`cvspec export`: a live project as a self-contained, portable dataset folder.

Order of work, so that an interrupted export is never mistaken for a complete one:
1. the project is found (by id, or by a name only one project has) before anything is
   written; the target folder must be new or empty, unless it holds the journal
   (`.cvspec-export.json`) of an unfinished export of the same project, which then resumes;
2. the journal is written, the images listed (GetImages) and downloaded (files already
   there are kept);
3. models of compact-domain iterations are exported and downloaded;
4. the manifests, ImageFolder links, card, spec and, last, SHA256SUMS are written and the
   journal removed. Images that could not be downloaded stop the export before step 4
   (exit 1, the journal kept: run the same command again), unless `skip_missing` says to
   finish without them (they are listed in the card).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cvspec.errors import CvspecError
from cvspec.export_card import (
    CARD_JSON,
    CARD_MD,
    Card,
    CardIteration,
    CardProject,
    card_json,
    card_markdown,
    spec_yaml,
)
from cvspec.export_images import (
    DOWNLOAD_RATE,
    WORKERS,
    Downloaded,
    DownloadResult,
    download_all,
    listed_images,
)
from cvspec.export_layout import (
    CHECKSUMS,
    IMAGES_DIR,
    MANIFEST_CSV,
    MANIFEST_JSONL,
    SPEC_FILE,
    SPEC_LABELS,
    StoredImage,
    folder_path,
    manifest_csv,
    manifest_jsonl,
    needs_spec_labels,
    spec_labels_jsonl,
)
from cvspec.export_models import ModelExport, export_models
from cvspec.gates import evaluation_from_sdk
from cvspec.importing.source import Source, SourceIteration, locate, read_source
from cvspec.sdk import call
from cvspec.service import Service
from cvspec.spec.domains import CLASSIFICATION_DOMAINS

JOURNAL = ".cvspec-export.json"
DEFAULT_PLATFORMS = ("ONNX",)
Emit = Callable[..., None]


@dataclass(frozen=True)
class ExportOptions:
    platforms: Sequence[str] = DEFAULT_PLATFORMS
    threshold: float = 0.5
    rate: float = DOWNLOAD_RATE
    workers: int = WORKERS
    skip_missing: bool = False
    model_poll_seconds: float = 2.0


@dataclass(frozen=True)
class ExportSummary:
    folder: Path
    images: int
    fetched: int  # downloaded by this run
    missing: tuple[tuple[str, str], ...]
    tags: dict[str, int]
    untagged: int
    models: tuple[ModelExport, ...] = field(default_factory=tuple)


def check_target(folder: Path) -> dict[str, Any] | None:
    """The journal of an unfinished export in `folder` (None for a new or empty folder).

    Raises:
        CvspecError: `folder` is a file, or a folder with other content.
    """
    if not folder.exists():
        return None
    if not folder.is_dir():
        raise CvspecError(f"{folder} is a file; export into a new or empty folder")
    journal = folder / JOURNAL
    if journal.is_file():
        try:
            return dict(json.loads(journal.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            raise CvspecError(f"{journal} is unreadable; export into a new folder") from None
    if any(folder.iterdir()):
        raise CvspecError(
            f"{folder} is not empty; export into a new or empty folder "
            "(an interrupted export resumes only in its own folder)"
        )
    return None


def export_project(
    service: Service,
    name_or_id: str,
    folder: Path,
    options: ExportOptions,
    emit: Emit = lambda *a, **k: None,
) -> ExportSummary:
    """Export the project into `folder` (see the module's docstring)."""
    journal = check_target(folder)
    project_id, name = locate(service, name_or_id, action="export")
    if journal is not None and journal.get("project_id") != project_id:
        raise CvspecError(
            f"{folder} holds an unfinished export of another project "
            f"({journal.get('project_name')!r}); export into a new folder"
        )
    folder.mkdir(parents=True, exist_ok=True)
    _write_journal(folder, project_id, name)
    source = read_source(service, project_id)
    client = service.training
    result = _download_images(source, folder, options, emit)
    iterations = source.iterations
    models = export_models(
        client,
        project_id,
        iterations,
        options.platforms,
        folder,
        notify=lambda line: emit("note", text=line),
        poll_seconds=options.model_poll_seconds,
    )
    card = Card(
        project=_card_project(source),
        images=tuple(_link(folder, d) for d in result.done),
        missing=result.failed,
        iterations=_card_iterations(client, project_id, iterations, options.threshold),
        models=tuple(models),
        exported_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    _write_files(folder, card)
    (folder / JOURNAL).unlink()
    return ExportSummary(
        folder=folder,
        images=len(card.images),
        fetched=result.fetched,
        missing=result.failed,
        tags=card.counts(),
        untagged=card.untagged,
        models=tuple(models),
    )


def _download_images(
    source: Source, folder: Path, options: ExportOptions, emit: Emit
) -> DownloadResult:
    """List and download every image; images that could not be downloaded stop the export
    (the journal stays, so that running it again retries them) unless skip_missing."""
    listed = listed_images(source.images)
    label = "downloading images"
    emit("calls_progress", label=label, done=0, total=len(listed))
    result = download_all(
        listed,
        folder,
        rate=options.rate,
        workers=options.workers,
        progress=lambda done, total: emit("calls_progress", label=label, done=done, total=total),
    )
    if result.failed and not options.skip_missing:
        shown = "; ".join(f"{i}: {why}" for i, why in result.failed[:3])
        more = f"; and {len(result.failed) - 3} more" if len(result.failed) > 3 else ""
        raise CvspecError(
            f"{len(result.failed)} image(s) could not be downloaded: {shown}{more}. {folder} "
            "holds a partial export: run the same command again to retry them, or add "
            "--skip-missing to finish without them"
        )
    return result


def _write_journal(folder: Path, project_id: str, name: str) -> None:
    record = {"format_version": 1, "project_id": project_id, "project_name": name}
    (folder / JOURNAL).write_text(json.dumps(record) + "\n", encoding="utf-8")


def _card_project(source: Source) -> CardProject:
    names = {v: k for k, v in CLASSIFICATION_DOMAINS.items()}
    return CardProject(
        id=source.id,
        name=source.name,
        description=source.description,  # without a training marker (cvspec.marker)
        classification=source.classification_type,
        domain=names.get(source.domain_id, source.domain_id),
        tags=tuple(sorted((t.name, t.type) for t in source.tags)),
        tag_descriptions=tuple(
            sorted((t.name, t.description) for t in source.tags if t.description)
        ),
    )


def _card_iterations(
    client: Any, project_id: str, iterations: Sequence[SourceIteration], threshold: float
) -> tuple[CardIteration, ...]:
    found = []
    for it in iterations:
        evaluation = None
        if it.status == "Completed":
            perf = call(client.get_iteration_performance, project_id, it.id, threshold=threshold)
            evaluation = evaluation_from_sdk(it.name, threshold, perf)
        found.append(CardIteration(it.name, it.status, it.created, it.publish_name, evaluation))
    return tuple(found)


def _link(folder: Path, downloaded: Downloaded) -> StoredImage:
    """The stored image, linked into the ImageFolder tree when it has one tag."""
    extension = os.path.splitext(downloaded.path)[1]
    link = folder_path(downloaded.image, extension)
    if link is not None:
        target = folder / link
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            try:
                os.link(folder / downloaded.path, target)
            except OSError:  # no hard links here (another file system, FAT): a copy
                shutil.copyfile(folder / downloaded.path, target)
    return StoredImage(downloaded.image, downloaded.path, downloaded.sha256, link)


def _write_files(folder: Path, card: Card) -> None:
    _remove_strays(folder, {s.path for s in card.images})
    files = {
        MANIFEST_CSV: manifest_csv(card.images),
        MANIFEST_JSONL: manifest_jsonl(card.images),
        CARD_MD: card_markdown(card),
        CARD_JSON: card_json(card),
        SPEC_FILE: spec_yaml(card),
    }
    if needs_spec_labels(card.images):
        files[SPEC_LABELS] = spec_labels_jsonl(card.images)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8", newline="\n")
    (folder / CHECKSUMS).write_text(checksums(folder, card), encoding="utf-8", newline="\n")


def _remove_strays(folder: Path, kept: set[str]) -> None:
    """Files a resumed export downloaded earlier for images deleted since, and the partial
    files (`.part-*`) of a killed run."""
    for path in (folder / IMAGES_DIR).iterdir():
        if path.is_file() and f"{IMAGES_DIR}/{path.name}" not in kept:
            path.unlink()


def checksums(folder: Path, card: Card) -> str:
    """`sha256sum` lines for every file in the folder but the journal and SHA256SUMS."""
    known = {s.path: s.sha256 for s in card.images}
    known.update({s.folder_path: s.sha256 for s in card.images if s.folder_path})
    lines = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        hidden = any(part.startswith(".") for part in path.relative_to(folder).parts)
        if not path.is_file() or hidden or relative == CHECKSUMS:
            continue
        digest = known.get(relative) or hashlib.sha256(path.read_bytes()).hexdigest()
        lines.append(f"{digest}  {relative}\n")
    return "".join(lines)
