"""The whole import, in an order that any interruption can resume:

1. find the project; refuse a target folder that holds anything but this import's progress;
2. read the project; download the images not already downloaded (download.py);
3. write labels.jsonl, untagged.txt and the spec (spec.yaml last but one);
4. record cvspec's identity on the spec's images, name the trained iteration (adopt.py);
5. plan the written spec; remove the progress file.
A run killed anywhere before 5 leaves the progress file, and the same command resumes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cvspec import ops
from cvspec.desired import desired_state
from cvspec.diff import diff
from cvspec.errors import CvspecError, SpecError
from cvspec.importing import layout
from cvspec.importing.adopt import Naming, name_iteration, record_identity, workspace_tags
from cvspec.importing.download import (
    DOWNLOAD_RATE,
    PROGRESS_FILE,
    WORKERS,
    Progress,
    ProgressFile,
    download,
    raise_failures,
    remove_strays,
    still_valid,
)
from cvspec.importing.source import Source, locate, read_source
from cvspec.live import read_live
from cvspec.plan import Plan
from cvspec.ratelimit import RateLimiter
from cvspec.service import Service
from cvspec.spec import load_and_validate

IGNORED = frozenset({PROGRESS_FILE, ".cvspec"})  # the hash cache, the built-in emulator's state


@dataclass(frozen=True)
class Options:
    download_rate: float = DOWNLOAD_RATE
    workers: int = WORKERS


@dataclass
class ImportResult:
    project_id: str
    project_name: str
    spec: Path
    images: int = 0
    downloaded: int = 0
    reused: int = 0  # already downloaded by an interrupted run
    untagged: int = 0
    untagged_listed: bool = False  # in the spec's manifest (multilabel) or untagged.txt
    marked: int = 0  # images whose identity the import recorded
    unmarked: list[str] = field(default_factory=list)  # ids of those the service refused
    left_out_tags: list[str] = field(default_factory=list)
    naming: Naming = field(default_factory=lambda: Naming("", "", ""))
    plan: Plan | None = None
    problems: list[str] = field(default_factory=list)  # the written spec's, when invalid


def run_import(
    service: Service,
    name_or_id: str,
    folder: Path,
    on_progress: Progress,
    options: Options = Options(),
    on_step: Callable[[str], None] = lambda _: None,
) -> ImportResult:
    """Import the project `name_or_id` into `folder` (see module docstring).

    Raises:
        CvspecError: unknown or ambiguous project, a folder in use, images that cannot be
            downloaded (the next run resumes). A written spec that does not validate is no
            error here: the import is complete, and `problems` names what to fix.
    """
    project_id, name = locate(service, name_or_id)
    progress = ProgressFile(folder)
    check_folder(folder, project_id, progress)
    folder.mkdir(parents=True, exist_ok=True)
    progress.start(project_id, name)
    source = read_source(service, project_id)
    placements = layout.place(source)
    result = ImportResult(project_id, name, folder / layout.SPEC_FILE, images=len(placements))
    paths, sha256 = _download(folder, source, placements, progress, options, on_progress, result)
    _write_lists(folder, source, placements, paths, result)
    on_step("recording cvspec's identity on the images")
    result.marked, result.unmarked = record_identity(service, source, placements, sha256)
    try:
        result.plan, result.naming = _adopt_iteration(service, source, result.spec)
    except SpecError as exc:  # the import is complete; the spec needs the user's fix
        result.problems = exc.problems
    progress.remove()
    return result


def check_folder(folder: Path, project_id: str, progress: ProgressFile) -> None:
    """Refuse a target that is a file, or a folder with anything in it but this import's
    own progress (and .cvspec/)."""
    if folder.exists() and not folder.is_dir():
        raise CvspecError(f"{folder} is a file, not a folder")
    if not folder.exists():
        return
    others = sorted(p.name for p in folder.iterdir() if p.name not in IGNORED)
    resuming = progress.project_id()
    if resuming is not None and resuming != project_id:
        raise CvspecError(
            f"{folder} holds an unfinished import of another project ({resuming}); "
            "import into another folder"
        )
    if others and resuming is None:
        shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        raise CvspecError(f"{folder} is not empty ({shown}); import into a new or empty folder")


def _download(
    folder: Path,
    source: Source,
    placements: tuple[layout.Placement, ...],
    progress: ProgressFile,
    options: Options,
    on_progress: Progress,
    result: ImportResult,
) -> tuple[dict[str, str], dict[str, str]]:
    """(image id -> file, image id -> sha256) of every image, downloading what is missing."""
    ready = still_valid(folder, progress.done())
    wanted = {p.image_id: p for p in placements}
    # an image retagged since the interrupted run belongs in another folder now
    ready = {
        i: d
        for i, d in ready.items()
        if i in wanted and os.path.splitext(d.path)[0] == wanted[i].stem
    }
    todo = [p for p in placements if p.image_id not in ready]
    uris = {i.id: i.uri for i in source.images}
    limiter = RateLimiter(options.download_rate)
    done, failed = download(folder, todo, uris, progress, limiter, on_progress, options.workers)
    raise_failures(failed)
    result.reused, result.downloaded = len(ready), len(done)
    every = {**ready, **{d.id: d for d in done}}
    remove_strays(folder, {d.path for d in every.values()})
    return {i: d.path for i, d in every.items()}, {i: d.sha256 for i, d in every.items()}


def _write_lists(
    folder: Path,
    source: Source,
    placements: tuple[layout.Placement, ...],
    paths: dict[str, str],
    result: ImportResult,
) -> None:
    manifest = layout.manifest_text(placements, paths)
    if manifest:
        _write_text(folder / layout.MANIFEST, manifest)
    listed = layout.untagged_text(placements, paths)
    if listed:
        _write_text(folder / layout.UNTAGGED_LIST, listed)
    untagged = [p for p in placements if p.kind is layout.Kind.UNTAGGED]
    result.untagged = len(untagged)
    result.untagged_listed = any(p.in_spec for p in untagged)
    result.left_out_tags = layout.left_out_tags(source, placements)
    _write_text(result.spec, layout.spec_text(source, placements))


def _write_text(path: Path, text: str) -> None:
    part = path.with_name(path.name + ".part")
    part.write_text(text, encoding="utf-8")
    os.replace(part, path)


def _adopt_iteration(service: Service, source: Source, spec: Path) -> tuple[Plan, Naming]:
    """Plan the written spec; name the trained iteration when the plan would train the
    very dataset it was trained on; the plan as it is then."""
    plan = _plan(service, spec)
    trains = [op for op in plan.of_type(ops.Train) if not op.wait_only]
    naming = name_iteration(service, source, trains[0] if trains else None, workspace_tags(source))
    if naming.new_name:
        plan = _plan(service, spec)
    return plan, naming


def _plan(service: Service, spec: Path) -> Plan:
    validated = load_and_validate(spec)
    desired = desired_state(validated, service.prediction_resource_id)
    return diff(desired, read_live(service, desired.project_name))
