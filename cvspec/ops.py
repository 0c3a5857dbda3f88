"""Typed plan operations: plain frozen data. Apply and render dispatch on their type.

Every operation carries `reason` (a sentence for people) and `reason_code` (a stable
`Reason` for machines and tests, like Terraform's `action_reason`). Operations never call
the service and never print: cvspec.apply executes them, cvspec.render shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Reason(StrEnum):
    """Why an operation is in a plan (stable codes; new ones may be added)."""

    MISSING = "missing"
    """The object is in the spec but not in the service."""
    REPLACE_BECAUSE_CANNOT_UPDATE = "replace_because_cannot_update"
    """A setting the service cannot change in place (classification or domain type)."""
    SETTINGS_DIFFER = "settings_differ"
    """An object exists in both, but its settings differ from the spec."""
    NOT_IN_SPEC = "delete_because_not_in_spec"
    """The spec no longer lists the object and its prune setting asks to delete it."""
    UNMANAGED = "delete_because_unmanaged"
    """cvspec did not upload the image, and prune.unmanaged_images asks to delete such images."""
    TAGS_DIFFER = "tags_differ"
    """An image's tags differ from the spec's."""
    FIRST_TRAINING = "no_trained_iteration"
    """No iteration has been trained yet."""
    DATASET_CHANGED = "dataset_changed"
    """The images, tags or training settings changed since the latest trained iteration."""
    TRAINING_IN_PROGRESS = "training_in_progress"
    """An iteration of this very dataset is still training: wait for it."""
    TRAINING_FAILED = "training_failed"
    """The iteration of this dataset failed to train: train it again."""
    NOT_PUBLISHED = "not_published"
    """The trained iteration is not published under the spec's publish name."""
    PUBLISH_MOVES = "publish_moves"
    """The publish name is on another iteration (or another prediction resource)."""
    RETENTION = "retention"
    """More iterations than publish.keep."""
    ITERATION_LIMIT = "iteration_limit"
    """The service's per-project iteration limit would be exceeded by training."""
    DESTROY = "destroy_requested"
    """The user asked to destroy the project (cvspec destroy)."""
    PUBLISH_NAME_DROPPED = "publish_name_not_in_spec"
    """cvspec published this name, and the spec now publishes under another: clients calling
    the old name will fail."""
    TAG_RENAMED = "tag_renamed"
    """The spec renames a tag (`renamed_from`): the tag, and the iteration trained on it, are
    renamed in place."""
    INTERRUPTED_TRAINING = "interrupted_training"
    """An apply was interrupted between TrainProject and naming the iteration it started:
    the iteration is cvspec's (the project's training marker says so) and gets its name."""
    PENDING_IMAGES = "pending_images"
    """An apply was interrupted between uploading images and recording their identity."""
    ACCOUNT_MISSING = "account_missing"
    """An Azure account of the spec's resources section does not exist: it is created."""
    SKU_DIFFERS = "sku_differs"
    """An Azure account of the resources section exists with another SKU."""
    DESTROY_ACCOUNT = "destroy_account_requested"
    """cvspec destroy, and the resources section says destroy_with_project."""


@dataclass(frozen=True)
class ImageUpload:
    sha256: str
    path: str  # relative to the spec's directory; the URL for URL sources
    tags: tuple[str, ...]
    url: str | None = None  # set for URL sources (uploaded through the URL API)


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


@dataclass(frozen=True, kw_only=True)
class Op:
    reason: str
    reason_code: Reason


@dataclass(frozen=True, kw_only=True)
class CreateProject(Op):
    name: str
    description: str
    domain_id: str
    classification_type: str


@dataclass(frozen=True, kw_only=True)
class DeleteProject(Op):
    """Deletes the project; with REPLACE_BECAUSE_CANNOT_UPDATE the plan's CreateProject
    re-creates it, and both show as one replacement (-/+)."""

    project_id: str
    name: str
    settings: dict[str, str] = field(default_factory=dict)  # what goes, for display
    losses: tuple[str, ...] = ()  # what goes with it, one phrase each, for display


@dataclass(frozen=True, kw_only=True)
class UpdateProject(Op):
    project_id: str
    name: str
    before: dict[str, str]
    after: dict[str, str]


@dataclass(frozen=True, kw_only=True)
class CreateTag(Op):
    name: str
    description: str
    type: str


@dataclass(frozen=True, kw_only=True)
class UpdateTag(Op):
    """Changes a tag's settings; `name` is the new name (a case-only rename is an update)."""

    tag_id: str
    name: str
    before: dict[str, str]
    after: dict[str, str]


@dataclass(frozen=True, kw_only=True)
class DeleteTag(Op):
    tag_id: str
    name: str


@dataclass(frozen=True, kw_only=True)
class UploadImages(Op):
    images: tuple[ImageUpload, ...]


@dataclass(frozen=True, kw_only=True)
class RemoveImageTags(Op):
    images: tuple[ImageRetag, ...]  # tags to remove from each image


@dataclass(frozen=True, kw_only=True)
class AddImageTags(Op):
    images: tuple[ImageRetag, ...]  # tags to add to each image


@dataclass(frozen=True, kw_only=True)
class DeleteImages(Op):
    image_ids: tuple[str, ...]
    tags: tuple[tuple[str, ...], ...] = ()  # each image's tags, for display


@dataclass(frozen=True, kw_only=True)
class AdoptPendingImages(Op):
    """Record cvspec's identity on images an interrupted apply uploaded but did not mark
    (UpdateImageMetadata). The plan downloaded and hashed them: `hash_keys[i]` is the
    content-hash key of `image_ids[i]`."""

    image_ids: tuple[str, ...]
    hash_keys: tuple[str, ...] = ()
    tags: tuple[tuple[str, ...], ...] = ()  # each image's tags, for display


@dataclass(frozen=True, kw_only=True)
class RenameIteration(Op):
    """UpdateIteration's name: adopts an iteration left by an interrupted apply, or follows a
    tag rename (the dataset is the same, only its tag names changed)."""

    iteration_id: str
    iteration_name: str  # the name it has now
    new_name: str


@dataclass(frozen=True, kw_only=True)
class Train(Op):
    iteration_name: str
    training_type: str  # "Regular" | "Advanced"
    budget_hours: int
    notification_email: str | None
    force: bool
    wait_only: bool = False  # an iteration with this name is already training
    previous_iteration: str | None = None  # the latest trained cvspec iteration, for display
    # ...and its training settings as the service reports them ({"training_type": ...,
    # "budget_hours": ...}), so the plan shows which of them change (empty: none to compare)
    previous_settings: dict[str, Any] = field(default_factory=dict)
    threshold: float = 0.5  # probability threshold of the evaluation shown after training
    selected_tags: tuple[str, ...] = ()  # TrainingParameters.selectedTags, by name (sorted)
    adopt_candidate: str = ""  # the latest trained iteration, which the service may find
    # trained on this very dataset ("training not needed"): it is then renamed to this one


@dataclass(frozen=True, kw_only=True)
class Publish(Op):
    iteration_name: str
    publish_name: str
    prediction_resource_id: str
    gates: Gates = field(default_factory=Gates)
    baseline_iteration_id: str | None = None  # published under this name now (no_regression)
    from_iteration: str | None = None  # the name moves from this iteration, in place
    from_prediction_resource_id: str | None = None  # ...and from this resource, for display
    gates_key: str = ""  # identity.gates_key(gates): recorded on an iteration that fails them
    recorded_failure: str = ""  # the iteration's name when it records failing other gates:
    # checked again with these, it gets its plain name back when they pass


@dataclass(frozen=True, kw_only=True)
class Unpublish(Op):
    iteration_id: str
    iteration_name: str
    publish_name: str


@dataclass(frozen=True, kw_only=True)
class DeleteIteration(Op):
    iteration_id: str
    iteration_name: str
    after_publish: bool = False  # retention (publish.keep): runs last, after publishing


@dataclass(frozen=True, kw_only=True)
class CreateAccount(Op):
    """Create an Azure AI account through Resource Manager (before anything else runs)."""

    name: str
    arm_id: str
    role: str  # "training" | "prediction" | "training+prediction"
    kind: str
    sku: str
    location: str


@dataclass(frozen=True, kw_only=True)
class UpdateAccountSku(Op):
    name: str
    arm_id: str
    kind: str
    before: str
    after: str


@dataclass(frozen=True, kw_only=True)
class DeleteAccount(Op):
    """Delete an account the spec manages (destroy with resources.destroy_with_project)."""

    name: str
    arm_id: str
    kind: str


ACCOUNT_OPS = (CreateAccount, UpdateAccountSku)
"""Run before the project's operations (the project lives in the training account)."""

# Execution order: accounts are created (or change SKU) before anything else, and deleted
# (destroy_with_project) after everything; a replaced project goes first; parents are
# created before children;
# pruned tags go before tag changes (deleting a tag untags its images, and frees room under
# the tag limit); pending images get their identity before anything reads it; images are
# untagged before they are tagged again (multiclass allows one tag) and deleted before
# uploads (the image limit); iterations are renamed (adopted) before training looks for
# them; only the iteration limit deletes an iteration before training. Publishing moves a
# name in place (no unpublish first); names the spec dropped are unpublished, and retention
# (publish.keep) deletes, only after the new iteration trained, passed the gates and was
# published, so that a failed apply never leaves prediction clients without their model.
RANK: dict[type[Op], int] = {
    CreateAccount: -2,
    UpdateAccountSku: -1,
    DeleteProject: 0,
    CreateProject: 1,
    UpdateProject: 2,
    DeleteTag: 3,
    CreateTag: 4,
    UpdateTag: 5,
    AdoptPendingImages: 6,
    RemoveImageTags: 7,
    DeleteImages: 8,
    UploadImages: 9,
    AddImageTags: 10,
    RenameIteration: 11,
    DeleteIteration: 12,
    Train: 13,
    Publish: 14,
    Unpublish: 15,
    DeleteAccount: 17,
}
_AFTER_PUBLISH = 16


def rank(op: Op) -> int:
    """Where an operation runs in a plan."""
    if isinstance(op, DeleteIteration) and op.after_publish:
        return _AFTER_PUBLISH
    return RANK[type(op)]


def op_types() -> dict[str, type[Op]]:
    """Every operation class by name (for plan files)."""
    return {cls.__name__: cls for cls in RANK}
