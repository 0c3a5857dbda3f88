"""The desired state in service terms, derived from a validated spec (pure, no I/O)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cvspec.identity import dataset_iteration_name, hash_key
from cvspec.ops import Gates, TagGate
from cvspec.rules import MIN_IMAGES_PER_TAG, select_tags
from cvspec.spec.domains import domain_name

if TYPE_CHECKING:
    from cvspec.spec import ResolvedImage, ValidatedSpec

_CLASSIFICATION = {"multiclass": "Multiclass", "multilabel": "Multilabel"}
_TAG_TYPE = {"regular": "Regular", "negative": "Negative"}
_TRAINING_TYPE = {"regular": "Regular", "advanced": "Advanced"}


@dataclass(frozen=True)
class DesiredTag:
    name: str
    description: str
    type: str
    renamed_from: str | None = None  # the tag's former name (spec `renamed_from`)


@dataclass(frozen=True)
class DesiredImage:
    hash_key: str
    sha256: str
    path: str  # relative to the spec's directory; the URL for URL sources
    tags: tuple[str, ...]
    url: str | None = None


@dataclass(frozen=True)
class DesiredTraining:
    iteration_name: str
    training_type: str
    budget_hours: int
    notification_email: str | None
    force: bool
    threshold: float = 0.5  # the gates' threshold: where the evaluation is measured
    settings_json: str = "{}"  # what the fingerprint covers besides the images (see diff)
    # The tags trained (TrainingParameters.selectedTags), by name, sorted: the spec's tags,
    # a Negative one only when it has images (cvspec.rules). Tags the spec does not list are
    # never trained, so tags added in the portal neither block nor pollute training.
    selected_tags: tuple[str, ...] = ()
    # The service's minimum of images per trained tag (cvspec.rules; the diff's table tests
    # use smaller datasets).
    min_images_per_tag: int = MIN_IMAGES_PER_TAG


@dataclass(frozen=True)
class DesiredPublish:
    name: str
    prediction_resource_id: str | None
    keep: int
    gates: Gates


@dataclass(frozen=True)
class Desired:
    project_name: str
    description: str
    domain: str  # name or GUID, matched against the service's domains by the diff
    classification_type: str
    tags: tuple[DesiredTag, ...]
    images: tuple[DesiredImage, ...]
    training: DesiredTraining | None
    publish: DesiredPublish | None
    prune_tags: bool
    prune_images: bool
    prune_unmanaged: bool
    protect: bool


def desired_state(vs: ValidatedSpec, default_resource_id: str | None) -> Desired:
    """Translate the spec into the service's vocabulary; fingerprint the training input."""
    spec = vs.spec
    tags = tuple(
        DesiredTag(t.name, t.description, _TAG_TYPE[t.type], t.renamed_from) for t in spec.tags
    )
    # absolute, as the resolved images' paths are (the spec may be given as `spec.yaml`)
    base = os.path.abspath(vs.base_dir).rstrip(os.sep) + os.sep
    images = tuple(
        DesiredImage(hash_key(i.sha256), i.sha256, _relative(base, i), i.tags, i.url)
        for i in vs.images
    )
    classification = _CLASSIFICATION[spec.project.classification]
    return Desired(
        project_name=spec.project.name,
        description=spec.project.description,
        domain=spec.project.domain,
        classification_type=classification,
        tags=tags,
        images=images,
        training=_training(vs, tags, images, classification),
        publish=_publish(vs, default_resource_id),
        prune_tags=spec.prune.tags,
        prune_images=spec.prune.images,
        prune_unmanaged=spec.prune.unmanaged_images,
        protect=spec.protect,
    )


def _relative(base: str, image: ResolvedImage) -> str:
    """The image's path relative to the spec's directory (string work: 50k Path objects
    cost a third of a second), or its URL."""
    if image.path is None:
        return str(image.url or "")
    text = str(image.path)
    # outside the spec's folder (allow_outside): still relative, for a plan saved elsewhere
    text = text[len(base) :] if text.startswith(base) else os.path.relpath(text, base)
    return text.replace(os.sep, "/")


def _training(
    vs: ValidatedSpec, tags: tuple[DesiredTag, ...], images: tuple[DesiredImage, ...], kind: str
) -> DesiredTraining | None:
    t = vs.spec.training
    if t is None:
        return None
    settings = {
        "classification": kind,
        # the domain's own name, however the spec spells it (any case, or its GUID)
        "domain": domain_name(vs.spec.project.domain_id) or vs.spec.project.domain,
        "tags": sorted((tag.name, tag.type) for tag in tags),
        "training": [t.type, t.budget_hours],
    }
    settings_json = json.dumps(settings, sort_keys=True)
    used = {name for image in images for name in image.tags}
    return DesiredTraining(
        iteration_name=dataset_iteration_name(
            settings_json, [(i.hash_key, i.tags) for i in images]
        ),
        settings_json=settings_json,
        training_type=_TRAINING_TYPE[t.type],
        budget_hours=t.budget_hours,
        notification_email=t.notification_email,
        force=t.force,
        threshold=vs.spec.gates.threshold,
        selected_tags=select_tags({tag.name: tag.type for tag in tags}, used),
    )


def _publish(vs: ValidatedSpec, default_resource_id: str | None) -> DesiredPublish | None:
    p = vs.spec.publish
    if p is None:
        return None
    g = vs.spec.gates
    per_tag = tuple(
        TagGate(tag, t.min_precision, t.min_recall, t.min_ap)
        for tag, t in sorted(g.per_tag.items())
    )
    gates = Gates(
        threshold=g.threshold,
        min_precision=g.min_precision,
        min_recall=g.min_recall,
        min_ap=g.min_ap,
        per_tag=per_tag,
        no_regression=g.no_regression,
        regression_tolerance=g.regression_tolerance,
    )
    # a name (of the resources section) is resolved by the connection: `default_resource_id`
    named = p.prediction_resource is not None and not p.prediction_resource.startswith("/")
    wanted = None if named else p.prediction_resource
    return DesiredPublish(p.name, wanted or default_resource_id, p.keep, gates)
