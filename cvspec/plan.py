"""The plan: an ordered, immutable list of operations, the drift seen, and what it was made
against (a fingerprint of the live state, so that a saved plan can be refused when stale)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from cvspec import ops
from cvspec.live import LiveDomain, LiveState, LiveSummary, fingerprint_live, summarize_live

OpT = TypeVar("OpT", bound=ops.Op)


class DriftKind(StrEnum):
    """What changed outside cvspec (stable codes)."""

    UNMANAGED_IMAGES = "unmanaged_images"
    """Images cvspec did not upload (no identity marker), tagged only with tags the spec does
    not list: training leaves them out (it trains the spec's tags only, TrainingParameters
    selectedTags); shown, deleted only with prune.unmanaged_images."""
    UNMANAGED_TRAINED = "unmanaged_images_trained"
    """Images cvspec did not upload, tagged (in the portal, or by another tool) with tags the
    spec lists: the service trains on them with those tags, so they are part of the dataset
    fingerprint and a new one changes the plan (`changes_model`)."""
    UNMANAGED_UNTAGGED = "unmanaged_images_untagged"
    """Images cvspec did not upload and nobody tagged: not trained."""
    PENDING_IMAGES = "pending_images"
    """Images an interrupted apply uploaded but did not mark as cvspec's (metadata
    `cvspec: pending`): downloaded and hashed by the plan, adopted by its AdoptPendingImages
    operation, then kept or pruned like any image cvspec uploaded."""
    UNLISTED_IMAGES = "unlisted_images"
    """Images cvspec uploaded that the spec no longer lists, kept (prune.images is off)."""
    UNLISTED_TAG = "unlisted_tag"
    """A tag of the project that the spec does not list, kept (prune.tags is off)."""
    MANUAL_ITERATION = "manual_iteration"
    """An iteration that cvspec did not name (trained in the portal or another tool)."""
    MANUAL_PUBLISH = "manual_publish"
    """An iteration published under a name the spec does not use."""
    DUPLICATE_IMAGES = "duplicate_images"
    """Several images of the project carry the same cvspec identity."""
    GATES_FAILED = "gates_failed"
    """The spec's iteration failed the quality gates (recorded in its name): not published."""


@dataclass(frozen=True)
class Drift:
    """One difference made outside cvspec that this plan leaves as it is."""

    kind: DriftKind
    address: str
    detail: str
    counts: tuple[tuple[str, int], ...] = ()  # per-tag image counts, when about images
    items: tuple[str, ...] = ()  # the images' paths or ids, for --verbose
    changes_model: bool = False  # it changes what the service trains or serves (see kinds)


@dataclass(frozen=True)
class Plan:
    project_name: str
    operations: tuple[ops.Op, ...]
    drift: tuple[Drift, ...]
    live_fingerprint: str
    live_summary: LiveSummary | None = None
    target: str = ""  # "azure" or "emulator", for display
    target_host: str = ""  # the Azure endpoint's host[:port] ("" on the built-in emulator)
    spec_path: str = ""  # the spec it was made from (absolute); image paths are relative to it
    destroy: bool = False  # a plan of `cvspec destroy`
    domains: dict[str, str] = field(default_factory=dict)  # id -> name, to show domains by name

    def is_empty(self) -> bool:
        return not self.operations

    def of_type(self, kind: type[OpT]) -> list[OpT]:
        return [op for op in self.operations if isinstance(op, kind)]

    def deletes_anything(self) -> bool:
        """True when the plan destroys a project, tag, image, iteration or publication."""
        deleting = (ops.DeleteProject, ops.DeleteTag, ops.DeleteImages, ops.DeleteIteration)
        return any(isinstance(op, (*deleting, ops.Unpublish)) for op in self.operations)


def live_fingerprint(live: LiveState) -> str:
    """A digest of the live state, to tell whether a saved plan went stale."""
    return fingerprint_live(live)


def domain_names(domains: Iterable[LiveDomain], operations: Iterable[ops.Op]) -> dict[str, str]:
    """The names of the domains the project operations name (id -> name), for display."""
    ids: set[str] = set()
    for op in operations:
        if isinstance(op, ops.CreateProject):
            ids.add(op.domain_id)
        elif isinstance(op, ops.DeleteProject):
            ids.add(op.settings.get("domain_id", ""))
        elif isinstance(op, ops.UpdateProject):
            ids |= {op.before.get("domain_id", ""), op.after.get("domain_id", "")}
    return {
        d.id: d.name if d.type == "Classification" else f"{d.name} ({d.type})"
        for d in domains
        if d.id in ids
    }


def live_summary(live: LiveState) -> LiveSummary:
    return summarize_live(live)


def order(operations: list[ops.Op]) -> tuple[ops.Op, ...]:
    """Deterministic execution order: by rank, then by a stable key within a rank."""
    return tuple(sorted(operations, key=lambda op: (ops.rank(op), _key(op))))


def _key(op: ops.Op) -> tuple[str, ...]:
    values: list[Any] = [getattr(op, f, "") for f in ("name", "iteration_name", "publish_name")]
    return tuple(v if isinstance(v, str) else "" for v in values)
