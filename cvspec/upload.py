"""Uploading images: batching (pure) and the two calls per batch.

A batch holds at most 64 images and 20 distinct tags (the service's limits). Images are
sorted by their tags before batching so that a spec with many tags still fills batches.
Each batch costs exactly two calls: the upload (its images marked `cvspec: pending`), then
one UpdateImageMetadata that writes the identity manifest of the whole batch
(cvspec.identity). An apply killed between the two leaves pending images; the next plan
matches them by content and adopts them (cvspec.recover), and an upload of the same content
is answered OKDuplicate with the existing image: no duplicates either way.

A batch the service refuses as a whole (HTTP 400, e.g. "No valid image files") is split in
halves until the offending files are isolated, so failures are reported per file name.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from azure.cognitiveservices.vision.customvision.training import models as m

from cvspec import ops
from cvspec.errors import ServiceError
from cvspec.identity import encode_manifest
from cvspec.recover import PENDING_METADATA
from cvspec.sdk import call

if TYPE_CHECKING:
    from cvspec.apply import Context

BATCH_IMAGES = 64  # images per upload call
BATCH_TAGS = 20  # distinct tags per upload call
OK_STATUSES = ("OK", "OKDuplicate")
# 400 codes that say every image of the batch is unusable ("No valid image files"): no
# point in halving the batch to find the culprit.
WHOLE_BATCH_INVALID = frozenset({"BadRequestImageBatch"})


@dataclass(frozen=True)
class Batch:
    """Images uploaded in one call; `extra` are tags beyond BATCH_TAGS, added afterwards."""

    images: tuple[ops.ImageUpload, ...]
    by_url: bool = False
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (path, tags) added by CreateImageTags

    def tags(self) -> set[str]:
        return {t for image in self.images for t in image.tags}


def batches(
    images: Iterable[ops.ImageUpload], max_images: int = BATCH_IMAGES, max_tags: int = BATCH_TAGS
) -> list[Batch]:
    """Group images into batches within the service's per-call limits."""
    extra: dict[str, tuple[str, ...]] = {}
    trimmed = []
    for image in images:
        if len(image.tags) > max_tags:
            extra[image.path] = image.tags[max_tags:]
            image = replace(image, tags=image.tags[:max_tags])
        trimmed.append(image)
    groups: list[list[ops.ImageUpload]] = []
    tags: set[str] = set()
    for image in sorted(trimmed, key=lambda i: (i.url is not None, i.tags, i.path)):
        current = groups[-1] if groups else []
        full = len(current) == max_images or len(tags | set(image.tags)) > max_tags
        if not current or full or (image.url is None) != (current[0].url is None):
            groups.append([])
            tags = set()
        groups[-1].append(image)
        tags |= set(image.tags)
    return [
        Batch(
            tuple(group),
            group[0].url is not None,
            tuple((i.path, extra[i.path]) for i in group if i.path in extra),
        )
        for group in groups
    ]


@dataclass
class Progress:
    """Counts shared by the upload workers."""

    total: int
    done: int = 0
    failed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def upload_images(op: ops.UploadImages, ctx: Context) -> None:
    """Upload every image of `op`, batches running concurrently under the shared rate limit."""
    work = batches(op.images)
    progress = Progress(total=len(op.images))
    ctx.emit("upload_start", total=progress.total, batches=len(work))

    def run(batch: Batch) -> None:
        failed = upload_batch(batch, ctx)
        with progress.lock:
            progress.done += len(batch.images)
            progress.failed += failed
            done, bad = progress.done, progress.failed
        ctx.emit("upload_progress", done=done, total=progress.total, failed=bad)

    ctx.run_parallel(work, run)


def upload_batch(batch: Batch, ctx: Context) -> int:
    """Upload one batch and record its identity; returns how many images failed."""
    contents, failed = _read(batch.images, ctx)
    if not contents:
        return failed
    try:
        results = _create(batch, contents, ctx)
    except ServiceError as exc:
        if exc.status != 400:
            raise
        return failed + _split(batch, contents, ctx, exc)
    uploaded: list[tuple[str, str]] = []
    for image in batch.images:
        if image.path not in contents:
            continue
        status, image_id = results.get(image.path, ("missing from the answer", None))
        if status in OK_STATUSES and image_id:
            uploaded.append((image_id, image.sha256))
        else:
            ctx.fail(image.path, f"upload refused: {status}")
            failed += 1
    if uploaded:
        failed += _record_identity(batch, uploaded, ctx)
        _add_extra_tags(batch, {sha: i for i, sha in uploaded}, ctx)
    return failed


def _read(images: Sequence[ops.ImageUpload], ctx: Context) -> tuple[dict[str, bytes], int]:
    contents: dict[str, bytes] = {}
    failed = 0
    for image in images:
        if image.url is not None:
            contents[image.path] = b""
            continue
        try:
            data = (ctx.base_dir / Path(image.path)).read_bytes()
        except OSError as exc:
            ctx.fail(image.path, f"cannot read the file: {exc.strerror or exc}")
            failed += 1
            continue
        if hashlib.sha256(data).hexdigest() != image.sha256:
            ctx.fail(image.path, "the file changed since the plan was made; plan again")
            failed += 1
            continue
        contents[image.path] = data
    return contents, failed


def _create(
    batch: Batch, contents: dict[str, bytes], ctx: Context
) -> dict[str, tuple[str, str | None]]:
    """Upload; returns {path: (status, image id)}."""
    images = [i for i in batch.images if i.path in contents]
    client = ctx.service.training
    if batch.by_url:
        entries = [
            m.ImageUrlCreateEntry(url=i.url or "", tag_ids=ctx.tag_list(i.tags)) for i in images
        ]
        summary = call(
            client.create_images_from_urls,
            ctx.project(),
            m.ImageUrlCreateBatch(images=entries, metadata=PENDING_METADATA),
        )
        key_of = {i.url or "": i.path for i in images}
    else:
        files = [
            m.ImageFileCreateEntry(
                name=i.path,
                contents=cast(bytearray, contents[i.path]),
                tag_ids=ctx.tag_list(i.tags),
            )
            for i in images
        ]
        summary = call(
            client.create_images_from_files,
            ctx.project(),
            m.ImageFileCreateBatch(images=files, metadata=PENDING_METADATA),
        )
        key_of = {i.path: i.path for i in images}
    return _results(summary, images, key_of)


def _results(
    summary: m.ImageCreateSummary, images: list[ops.ImageUpload], key_of: dict[str, str]
) -> dict[str, tuple[str, str | None]]:
    found: dict[str, tuple[str, str | None]] = {}
    answers: list[Any] = list(summary.images or ())
    for position, result in enumerate(answers):
        source = (result.source_url or "").strip().strip('"')
        path = key_of.get(source)
        if path is None and len(answers) == len(images):
            path = images[position].path  # no usable source: the answer keeps the order
        if path is not None:
            image_id = result.image.id if result.image is not None else None
            found[path] = (str(result.status), image_id)
    return found


def _split(batch: Batch, contents: dict[str, bytes], ctx: Context, exc: ServiceError) -> int:
    """The service refused the whole batch: halve it to find the files at fault (unless it
    says that none of them is usable)."""
    images = [i for i in batch.images if i.path in contents]
    if len(images) == 1 or exc.code in WHOLE_BATCH_INVALID:
        for image in images:
            ctx.fail(image.path, f"upload refused: {exc}")
        return len(images)
    middle = len(images) // 2
    halves = (images[:middle], images[middle:])
    return sum(upload_batch(Batch(tuple(half), batch.by_url, batch.extra), ctx) for half in halves)


def _record_identity(batch: Batch, uploaded: list[tuple[str, str]], ctx: Context) -> int:
    """One UpdateImageMetadata call writes the manifest of the whole batch."""
    summary = call(
        ctx.service.training.update_image_metadata,
        ctx.project(),
        [image_id for image_id, _ in uploaded],
        encode_manifest(uploaded),
    )
    path_of = {image_id.lower(): _path(batch, sha) for image_id, sha in uploaded}
    failed = 0
    for result in summary.images or ():
        if result.status != "OK":
            path = path_of.get(str(result.image_id).lower(), str(result.image_id))
            ctx.fail(path, f"identity not recorded: {result.status}")
            failed += 1
    return failed


def _path(batch: Batch, sha256: str) -> str:
    return next((i.path for i in batch.images if i.sha256 == sha256), sha256)


def _add_extra_tags(batch: Batch, image_ids: dict[str, str], ctx: Context) -> None:
    """Tags beyond the 20 a batch may carry, added to their image afterwards."""
    if not batch.extra:
        return
    sha_of = {i.path: i.sha256 for i in batch.images}
    pairs = [
        m.ImageTagCreateEntry(image_id=image_ids[sha_of[path]], tag_id=ctx.tag_ids[tag])
        for path, tags in batch.extra
        if sha_of.get(path) in image_ids
        for tag in tags
    ]
    for start in range(0, len(pairs), 128):
        call(ctx.service.training.create_image_tags, ctx.project(), tags=pairs[start : start + 128])
