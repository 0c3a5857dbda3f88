"""Checks that relate parts of the spec to each other and to its images (service rules §3-§5)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from cvspec.accounts import parse_arm_id
from cvspec.spec.images import Resolution, ResolvedImage
from cvspec.spec.model import GatesSpec, Spec
from cvspec.spec.problems import Locator
from cvspec.spec.resources import check_resources
from cvspec.spec.yamldoc import Loc

MIN_IMAGES_PER_TAG = 5
MIN_TAGS_TO_TRAIN = 2


@dataclass(frozen=True)
class TierLimits:
    """Per-project limits of a pricing tier."""

    tags: int
    images: int


TIER_LIMITS = {"S0": TierLimits(tags=500, images=100_000), "F0": TierLimits(tags=50, images=5_000)}

Problem = tuple[Loc, str]


def check_spec(spec: Spec) -> list[Problem]:
    """Checks of the spec file alone (no image read)."""
    return (
        _duplicate_tags(spec)
        + _negative_tags(spec)
        + _source_tags(spec)
        + _renames(spec)
        + _gates(spec)
        + _needs_training(spec)
        + _tag_limit(spec)
        + _resources(spec)
    )


def _resources(spec: Spec) -> list[Problem]:
    wanted = spec.publish.prediction_resource if spec.publish else None
    if spec.resources is not None:
        return check_resources(spec.resources, wanted, publishes=spec.publish is not None)
    if wanted is not None and not parse_arm_id(wanted):
        return [
            (
                ("publish", "prediction_resource"),
                "must be the prediction resource's full ARM id (/subscriptions/SUB/"
                "resourceGroups/RG/providers/Microsoft.CognitiveServices/accounts/NAME), "
                f"not {wanted!r}",
            )
        ]
    return []


def check_images(spec: Spec, resolution: Resolution, locator: Locator) -> list[str]:
    """Checks of the resolved images against the spec; one formatted line per problem."""
    spec_problems = _undeclared_tags(spec, resolution) + _image_limit(spec, resolution)
    if spec.training is not None:
        spec_problems += _training_data(spec, resolution.images, resolution.refused_tags)
    lines = [locator.problem(loc, message) for loc, message in spec_problems]
    return lines + _per_image(spec, resolution.images)


def _duplicate_tags(spec: Spec) -> list[Problem]:
    first: dict[str, int] = {}
    problems: list[Problem] = []
    for index, tag in enumerate(spec.tags):
        other = first.setdefault(tag.name.casefold(), index)
        if other != index:
            message = (
                f"duplicate tag name {tag.name!r} (same as tags[{other}].name "
                f"{spec.tags[other].name!r}; tag names compare case-insensitively)"
            )
            problems.append((("tags", index, "name"), message))
    return problems


def _negative_tags(spec: Spec) -> list[Problem]:
    negatives = [i for i, tag in enumerate(spec.tags) if tag.type == "negative"]
    first = negatives[0] if negatives else 0
    message = f"a project has at most one negative tag; tags[{first}] is negative already"
    return [(("tags", i, "type"), message) for i in negatives[1:]]


def _source_tags(spec: Spec) -> list[Problem]:
    declared = {tag.name for tag in spec.tags}
    return [
        (("images", i, "tags", j), _not_declared(name, declared))
        for i, source in enumerate(spec.images)
        for j, name in enumerate(source.tags)
        if name not in declared
    ]


def _renames(spec: Spec) -> list[Problem]:
    """`renamed_from` names a tag that is gone: not another tag of the spec, nor the old name
    of two tags."""
    names = {tag.name.casefold(): index for index, tag in enumerate(spec.tags)}
    first: dict[str, int] = {}
    problems: list[Problem] = []
    for index, tag in enumerate(spec.tags):
        old = tag.renamed_from
        if old is None:
            continue
        loc = ("tags", index, "renamed_from")
        other = names.get(old.casefold())
        if old == tag.name:
            problems.append((loc, f"tag {tag.name!r} cannot be renamed from its own name"))
        elif other is not None and other != index:
            message = (
                f"{old!r} is another tag of the spec (tags[{other}]); renamed_from names a tag "
                "the spec no longer has"
            )
            problems.append((loc, message))
        earlier = first.setdefault(old.casefold(), index)
        if earlier != index:
            message = (
                f"tags[{earlier}] is renamed from {spec.tags[earlier].renamed_from!r} already; "
                "two tags cannot be renamed from the same tag"
            )
            problems.append((loc, message))
    return problems


def _needs_training(spec: Spec) -> list[Problem]:
    """`training: null` never trains: there is nothing to publish or to gate."""
    if spec.training is not None:
        return []
    problems: list[Problem] = []
    if spec.publish is not None:
        message = "needs training: with training: null no iteration is trained to publish"
        problems.append((("publish",), message))
    if spec.gates != GatesSpec():  # `gates: {}` (or its defaults spelled out) asks nothing
        message = "needs training: with training: null no iteration is trained to check"
        problems.append((("gates",), message))
    return problems


def _gates(spec: Spec) -> list[Problem]:
    declared = {tag.name for tag in spec.tags}
    problems: list[Problem] = [
        (("gates", "per_tag", name), _not_declared(name, declared))
        for name in spec.gates.per_tag
        if name not in declared
    ]
    if spec.gates.no_regression and spec.publish is None:
        message = "needs publish: it compares with the published iteration"
        problems.append((("gates", "no_regression"), message))
    return problems


def _tag_limit(spec: Spec) -> list[Problem]:
    limit = TIER_LIMITS[spec.tier].tags
    if len(spec.tags) <= limit:
        return []
    return [(("tags",), f"{len(spec.tags)} tags is over the {spec.tier} tier's limit of {limit}")]


def _image_limit(spec: Spec, resolution: Resolution) -> list[Problem]:
    limit, count = TIER_LIMITS[spec.tier].images, len(resolution.images)
    if count <= limit:
        return []
    return [(("images",), f"{count:,} images is over the {spec.tier} tier's limit of {limit:,}")]


def _undeclared_tags(spec: Spec, resolution: Resolution) -> list[Problem]:
    declared = {tag.name for tag in spec.tags}
    problems: list[Problem] = []
    for name, sources in sorted(resolution.tag_sources.items()):
        if name in declared:
            continue
        for index in sources:
            source = spec.images[index]
            if name not in source.tags:  # explicit tags were reported by check_spec
                problems.append((("images", index, source.kind), _not_declared(name, declared)))
    return problems


def _not_declared(name: str, declared: set[str]) -> str:
    near = [tag for tag in sorted(declared) if tag.casefold() == name.casefold()]
    hint = f" (did you mean {near[0]!r}? tag names are case-sensitive here)" if near else ""
    return f"tag {name!r} is not in tags{hint}"


def _training_data(
    spec: Spec, images: tuple[ResolvedImage, ...], refused: set[str]
) -> list[Problem]:
    """Images per tag and tags with images; a tag some of whose files were refused (for
    leaving the spec's directory, reported already) is not counted short again."""
    counts = Counter(tag for image in images for tag in image.tags)
    problems: list[Problem] = []
    for index, tag in enumerate(spec.tags):
        count = counts.get(tag.name, 0)
        if tag.name in refused:
            continue
        if count < MIN_IMAGES_PER_TAG and (count or tag.type == "regular"):
            noun = "image" if count == 1 else "images"
            message = f"tag {tag.name!r} has {count} {noun}; training needs at least 5 per tag"
            problems.append((("tags", index, "name"), message))
    used = [tag.name for tag in spec.tags if counts.get(tag.name) or tag.name in refused]
    if len(used) < MIN_TAGS_TO_TRAIN:
        message = f"training needs at least 2 tags with images, found {len(used)}"
        problems.append((("training",), message))
    return problems


def _per_image(spec: Spec, images: tuple[ResolvedImage, ...]) -> list[str]:
    negative = {tag.name for tag in spec.tags if tag.type == "negative"}
    multiclass = spec.project.classification == "multiclass"
    problems = []
    for image in sorted(images, key=_source_order):
        if negative & set(image.tags) and len(image.tags) > 1:
            shown = ", ".join(repr(t) for t in image.tags)
            problems.append(f"{image.source}: a negative tag stands alone, but it has {shown}")
        elif multiclass and len(image.tags) != 1:
            problems.append(f"{image.source}: {_multiclass_message(image.tags)}")
    return problems


def _multiclass_message(tags: tuple[str, ...]) -> str:
    if not tags:
        return "has no tag; a multiclass image has exactly one"
    shown = ", ".join(repr(t) for t in tags)
    return f"has {len(tags)} tags ({shown}); a multiclass image has exactly one"


def _source_order(image: ResolvedImage) -> str:
    return str(image.path) if image.path is not None else str(image.url)
