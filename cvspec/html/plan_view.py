"""What a plan's HTML report shows (pure: no I/O): the images to upload, delete and retag
grouped by tag, a bounded sample of each group with its full count, and per-tag image counts
before and after."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cvspec import ops
from cvspec.plan import Plan

SAMPLE = 24  # thumbnails per group at most; the group's full count is always shown
TOTAL = 720  # thumbnails per report at most (about 2-3 KB each): many groups share it
MIN_SAMPLE = 4  # ...but every group shows at least this many
UNTAGGED = "(untagged)"
NONE = "(none)"


@dataclass(frozen=True)
class Item:
    """One image of a group: a file (relative to the spec's directory), a URL or only an id."""

    key: str  # the path, URL or image id, as the plan names it
    path: str | None = None  # a local file to make the thumbnail from
    image_id: str | None = None  # an image in the service (deleted or retagged)


@dataclass(frozen=True)
class Group:
    action: str  # "upload" | "delete" | "retag"
    label: str  # a tag, or "old → new" for retags
    count: int  # every image of the group
    sample: tuple[Item, ...]  # the first SAMPLE, by key


@dataclass(frozen=True)
class TagCount:
    tag: str
    before: int | None  # None when the live counts are not known (`show`)
    upload: int
    delete: int
    added: int  # retags that add the tag
    removed: int  # retags that remove it

    @property
    def after(self) -> int | None:
        if self.before is None:
            return None
        return self.before + self.upload - self.delete + self.added - self.removed


def image_groups(plan: Plan, sample: int = SAMPLE) -> list[Group]:
    """Upload, delete and retag groups, in that order, each sorted by label; each shows at
    most `sample` images, fewer when many groups would exceed TOTAL thumbnails together."""
    uploads: dict[str, list[Item]] = defaultdict(list)
    for up in plan.of_type(ops.UploadImages):
        for image in up.images:
            item = Item(image.path, None if image.url else image.path)
            for tag in image.tags or (UNTAGGED,):
                uploads[tag].append(item)
    deletes: dict[str, list[Item]] = defaultdict(list)
    for op in plan.of_type(ops.DeleteImages):
        tags = op.tags or ((),) * len(op.image_ids)
        for image_id, image_tags in zip(op.image_ids, tags, strict=False):
            for tag in image_tags or (UNTAGGED,):
                deletes[tag].append(Item(image_id, image_id=image_id))
    retags = _retags(plan)
    count = len(uploads) + len(deletes) + len(retags)
    sample = max(MIN_SAMPLE, min(sample, TOTAL // max(1, count)))
    return [
        *_groups("upload", uploads, sample),
        *_groups("delete", deletes, sample),
        *_groups("retag", retags, sample),
    ]


def _retags(plan: Plan) -> dict[str, list[Item]]:
    removed: dict[str, tuple[str, ...]] = {}
    added: dict[str, tuple[str, ...]] = {}
    paths: dict[str, str] = {}
    for rm in plan.of_type(ops.RemoveImageTags):
        for image in rm.images:
            removed[image.image_id] = image.tags
            paths[image.image_id] = image.path
    for add in plan.of_type(ops.AddImageTags):
        for image in add.images:
            added[image.image_id] = image.tags
            paths[image.image_id] = image.path
    groups: dict[str, list[Item]] = defaultdict(list)
    for image_id, path in paths.items():
        label = f"{_tags(removed.get(image_id, ()))} → {_tags(added.get(image_id, ()))}"
        groups[label].append(Item(path or image_id, path or None, image_id))
    return groups


def _tags(tags: Iterable[str]) -> str:
    return ", ".join(tags) or NONE


def _groups(action: str, found: Mapping[str, list[Item]], sample: int) -> list[Group]:
    groups = []
    for label in sorted(found):
        items = sorted(found[label], key=lambda i: i.key)
        groups.append(Group(action, label, len(items), tuple(items[:sample])))
    return groups


def tag_counts(plan: Plan, before: Mapping[str, int] | None) -> list[TagCount]:
    """Per-tag image counts: before (live, when known), the plan's changes, and after."""
    upload: dict[str, int] = defaultdict(int)
    delete: dict[str, int] = defaultdict(int)
    added: dict[str, int] = defaultdict(int)
    removed: dict[str, int] = defaultdict(int)
    for up in plan.of_type(ops.UploadImages):
        for image in up.images:
            for tag in image.tags:
                upload[tag] += 1
    for op in plan.of_type(ops.DeleteImages):
        for tags in op.tags:
            for tag in tags:
                delete[tag] += 1
    for counter, retags in (
        (added, plan.of_type(ops.AddImageTags)),
        (removed, plan.of_type(ops.RemoveImageTags)),
    ):
        for retag in retags:
            for changed in retag.images:
                for tag in changed.tags:
                    counter[tag] += 1
    dropped = {op.name for op in plan.of_type(ops.DeleteTag)}
    names = set(upload) | set(delete) | set(added) | set(removed) | set(before or {})
    names |= {op.name for op in plan.of_type(ops.CreateTag)}
    rows = []
    for tag in sorted(names):
        start = None if before is None else before.get(tag, 0)
        rows.append(TagCount(tag, start, upload[tag], delete[tag], added[tag], removed[tag]))
        if tag in dropped and start is not None:  # deleting a tag untags its images
            rows[-1] = TagCount(tag, start, 0, 0, 0, start)
    return rows
