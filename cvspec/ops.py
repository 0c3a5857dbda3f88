"""Typed plan operations: plain frozen data. Apply and render dispatch on their type."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImageUpload:
    sha256: str
    path: str  # relative to the spec's directory
    tags: tuple[str, ...]


@dataclass(frozen=True)
class ImageRetag:
    image_id: str
    path: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class TagGate:
    """Minimum metrics of one tag (None: no gate on that metric)."""

    tag: str
    min_precision: float | None = None
    min_recall: float | None = None
    min_ap: float | None = None


@dataclass(frozen=True)
class Gates:
    """Quality gates checked before publishing (None: no gate).

    `per_tag` is sorted by tag name. `no_regression` refuses an iteration whose precision,
    recall or AP falls more than `regression_tolerance` below the published iteration's.
    """

    threshold: float = 0.5
    min_precision: float | None = None
    min_recall: float | None = None
    min_ap: float | None = None
    per_tag: tuple[TagGate, ...] = ()
    no_regression: bool = False
    regression_tolerance: float = 0.0


@dataclass(frozen=True)
class Op:
    reason: str


@dataclass(frozen=True)
class CreateProject(Op):
    name: str
    description: str
    domain_id: str
    classification_type: str


@dataclass(frozen=True)
class DeleteProject(Op):
    project_id: str
    name: str


@dataclass(frozen=True)
class UpdateProject(Op):
    project_id: str
    name: str
    before: dict[str, str]
    after: dict[str, str]


@dataclass(frozen=True)
class CreateTag(Op):
    name: str
    description: str
    type: str


@dataclass(frozen=True)
class UpdateTag(Op):
    tag_id: str
    name: str
    before: dict[str, str]
    after: dict[str, str]


@dataclass(frozen=True)
class DeleteTag(Op):
    tag_id: str
    name: str


@dataclass(frozen=True)
class UploadImages(Op):
    images: tuple[ImageUpload, ...]


@dataclass(frozen=True)
class RemoveImageTags(Op):
    images: tuple[ImageRetag, ...]  # tags to remove from each image


@dataclass(frozen=True)
class AddImageTags(Op):
    images: tuple[ImageRetag, ...]  # tags to add to each image


@dataclass(frozen=True)
class DeleteImages(Op):
    image_ids: tuple[str, ...]


@dataclass(frozen=True)
class Train(Op):
    iteration_name: str
    training_type: str  # "Regular" | "Advanced"
    budget_hours: int
    notification_email: str | None
    force: bool
    wait_only: bool = False  # an iteration with this name is already training


@dataclass(frozen=True)
class Publish(Op):
    iteration_name: str
    publish_name: str
    prediction_resource_id: str
    gates: Gates = Gates()


@dataclass(frozen=True)
class Unpublish(Op):
    iteration_id: str
    iteration_name: str
    publish_name: str


@dataclass(frozen=True)
class DeleteIteration(Op):
    iteration_id: str
    iteration_name: str
    after_unpublish: bool = False  # published until this plan's Unpublish runs


# Execution order: parents before children on create, dependants before parents on delete,
# old iterations go before training (the 20-iteration limit), and a publish name moves off
# the old iteration just before it lands on the new one.
RANK: dict[type[Op], float] = {
    DeleteProject: -1,
    CreateProject: 0,
    UpdateProject: 1,
    CreateTag: 2,
    UpdateTag: 3,
    RemoveImageTags: 4,
    DeleteImages: 5,
    UploadImages: 6,
    AddImageTags: 7,
    DeleteTag: 8,
    DeleteIteration: 8.5,
    Train: 9,
    Unpublish: 10,
    Publish: 11,
}


def rank(op: Op) -> float:
    """Where an operation runs in a plan."""
    if isinstance(op, DeleteIteration) and op.after_unpublish:
        return 12
    return RANK[type(op)]
