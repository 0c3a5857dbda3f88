"""The service's training rules, applied to the dataset it will hold after an apply (pure).

cvspec trains with TrainingParameters `selectedTags`: the tags the spec lists are the tags
trained (a Negative tag only when some image carries it), and every other tag of the project
is ignored, with the images that carry only such tags. The service then refuses a training
when a trained tag has fewer than 5 images, when fewer than 2 tags (one of them Regular)
are trained, and, in a multiclass project, when an image carries two trained tags. The
planner checks these on what the service will really train on: the spec's images, the
images cvspec uploaded that the spec no longer lists but keeps (prune.images off), and the
images cvspec did not upload that carry the spec's tags (prune.unmanaged_images off). A plan
that would break them is refused before any change (one PlanError line naming the tags or
images and what to do), never discovered by a training that fails half-way through apply.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Protocol

MIN_IMAGES_PER_TAG = 5
MIN_TAGS_TO_TRAIN = 2
NEGATIVE = "Negative"
SHOWN = 3  # images named in an error, the rest counted

KEPT = "kept"  # uploaded by cvspec, no longer in the spec, kept (prune.images off)
UNMANAGED = "unmanaged"  # not uploaded by cvspec, kept (prune.unmanaged_images off)


def select_tags(types: Mapping[str, str], used: Collection[str]) -> tuple[str, ...]:
    """The tags trained, sorted: every tag in `types` (name -> "Regular" | "Negative") or
    carried by an image (`used`), except Negative tags no image carries (the service would
    refuse them: a trained tag needs images)."""
    names = set(used) | {name for name, kind in types.items() if kind != NEGATIVE}
    return tuple(sorted(names))


class SpecImage(Protocol):
    """An image of the spec (cvspec.desired.DesiredImage)."""

    @property
    def path(self) -> str: ...

    @property
    def tags(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Outside:
    """An image of the dataset that the spec does not list: `key` is its hash key (kept) or
    its image id (unmanaged); `tags` are its trained tags only, sorted."""

    key: str
    tags: tuple[str, ...]
    origin: str  # KEPT | UNMANAGED


@dataclass(frozen=True)
class TrainedSet:
    """What a training of the spec's dataset will use."""

    types: Mapping[str, str]  # the spec's tags (name -> type)
    selected: tuple[str, ...]
    outside: tuple[Outside, ...]  # images outside the spec that are trained (some tag selected)

    def fingerprint_items(self) -> list[tuple[str, tuple[str, ...]]]:
        """(key, tags) of the outside images, for the dataset fingerprint."""
        return [(o.key, o.tags) for o in self.outside]


def trained_set(
    types: Mapping[str, str],
    spec_used: Collection[str],
    outside: Iterable[tuple[str, tuple[str, ...], str]],
) -> TrainedSet:
    """The tags trained and the images outside the spec that training uses.

    `types`: the spec's tags (name -> type), the tags its images use included; `spec_used`:
    the tags the spec's images carry; `outside`: (key, tags, origin) of the other images
    the project will hold after the apply, their tags named as they will be then.
    """
    trained: list[Outside] = []
    for key, tags, origin in outside:
        picked = tuple(sorted(t for t in tags if t in types))
        if picked:
            trained.append(Outside(key, picked, origin))
    used = {t for o in trained for t in o.tags}
    selected = select_tags(types, used.union(spec_used))
    return TrainedSet(types, selected, tuple(trained))


def problems(
    trained: TrainedSet,
    spec_images: Sequence[SpecImage],
    multiclass: bool,
    min_images: int = MIN_IMAGES_PER_TAG,
) -> tuple[str, ...]:
    """The training rules the trained set breaks (each a phrase; see `refusal`). Counted
    only when a plan trains: one pass over the spec's images."""
    spec_counts = Counter(chain.from_iterable(i.tags for i in spec_images))
    outside_counts = {
        origin: Counter(chain.from_iterable(o.tags for o in trained.outside if o.origin == origin))
        for origin in (KEPT, UNMANAGED)
    }
    found = [
        *_too_few_tags(trained.selected, trained.types),
        *_too_few_images(trained.selected, spec_counts, outside_counts, min_images),
    ]
    if multiclass:
        found += _several_tags(spec_images, trained.outside)
    return tuple(found)


def refusal(problems: Sequence[str]) -> str:
    """The one-line message of a plan refused for breaking the training rules."""
    return "the service would refuse to train this dataset: " + "; ".join(problems)


def _too_few_tags(selected: Sequence[str], types: Mapping[str, str]) -> list[str]:
    regular = [t for t in selected if types.get(t, "Regular") != NEGATIVE]
    if len(selected) >= MIN_TAGS_TO_TRAIN and regular:
        return []
    shown = ", ".join(repr(t) for t in selected) or "none"
    return [
        f"training needs at least {MIN_TAGS_TO_TRAIN} trained tags, one of them Regular, "
        f"and would have {len(selected)} ({shown}); list more tags with images in the spec"
    ]


def _too_few_images(
    selected: Sequence[str],
    spec_counts: Mapping[str, int],
    outside: Mapping[str, Mapping[str, int]],
    min_images: int,
) -> list[str]:
    short = []
    for tag in selected:
        spec, kept = spec_counts.get(tag, 0), outside[KEPT].get(tag, 0)
        unmanaged = outside[UNMANAGED].get(tag, 0)
        total = spec + kept + unmanaged
        if total >= min_images:
            continue
        parts = []
        if kept:
            parts.append(f"{kept} uploaded by cvspec, no longer in the spec, kept")
        if unmanaged:
            parts.append(f"{unmanaged} not uploaded by cvspec")
        where = f": {spec} in the spec, {', '.join(parts)}" if parts else ""
        short.append(f"{tag!r} ({total} image{'' if total == 1 else 's'}{where})")
    if not short:
        return []
    return [
        f"tag{'s' if len(short) > 1 else ''} {', '.join(short)} would have fewer than the "
        f"{min_images} images every trained tag needs; give "
        f"{'them' if len(short) > 1 else 'it'} more images in the spec, or remove "
        f"{'them' if len(short) > 1 else 'it'} from the spec (tags the spec does not list are "
        "not trained)"
    ]


def _several_tags(spec_images: Sequence[SpecImage], trained: Sequence[Outside]) -> list[str]:
    listed = [(i.path, i.tags) for i in spec_images if len(i.tags) > 1]
    found = [o for o in trained if len(o.tags) > 1]
    if not listed and not found:
        return []
    shown = [f"{key} ({'/'.join(tags)})" for key, tags in listed[:SHOWN]]
    shown += [f"{o.key} ({'/'.join(o.tags)})" for o in found[: max(0, SHOWN - len(shown))]]
    count = len(listed) + len(found)
    more = f" and {count - len(shown)} more" if count > len(shown) else ""
    fixes = []
    if listed:
        fixes.append("give each image one tag in the spec")
    if any(o.origin == UNMANAGED for o in found):
        fixes.append(
            "remove all but one of the spec's tags from images not uploaded by cvspec "
            "(in the portal), or set prune.unmanaged_images to delete them"
        )
    if any(o.origin == KEPT for o in found):
        fixes.append("set prune.images to delete images the spec no longer lists")
    return [
        f"the project is multiclass, but {count} image(s) would carry several trained tags: "
        f"{', '.join(shown)}{more}: " + ", or ".join(fixes)
    ]
