"""Execute a plan through the SDK: one handler per operation type, each safe to re-run."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import singledispatch
from pathlib import Path
from typing import Any

from azure.cognitiveservices.vision.customvision.training import models as m

from cvspec import ops
from cvspec.errors import CvspecError, GateError, ServiceError
from cvspec.identity import encode_manifest
from cvspec.live import read_live
from cvspec.plan import Plan
from cvspec.sdk import call
from cvspec.service import Service

BATCH_IMAGES = 64  # images per upload call
BATCH_TAGS = 20  # distinct tags per upload call
BATCH_IMAGE_TAGS = 128  # image-tag pairs per CreateImageTags call
BATCH_DELETE = 256  # image ids per DeleteImages call
POLL_SECONDS = 1.0

Emit = Callable[..., None]  # emit(event_name, **fields): progress for the CLI to show


@dataclass
class Context:
    service: Service
    base_dir: Path
    emit: Emit
    project_id: str | None = None
    tag_ids: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ApplyResult:
    operations: int
    failures: tuple[str, ...]


def apply_plan(plan: Plan, service: Service, base_dir: Path, emit: Emit) -> ApplyResult:
    """Run every operation of `plan` in order; per-image failures are collected, not fatal."""
    ctx = Context(service=service, base_dir=base_dir, emit=emit)
    _refresh(ctx, plan.project_name)
    for op in plan.operations:
        emit("op_start", op=op)
        execute(op, ctx)
    return ApplyResult(operations=len(plan.operations), failures=tuple(ctx.failures))


def _refresh(ctx: Context, project_name: str) -> None:
    live = read_live(ctx.service, project_name)
    ctx.project_id = live.project.id if live.project else None
    ctx.tag_ids = {t.name: t.id for t in live.tags}


def _project(ctx: Context) -> str:
    if ctx.project_id is None:
        raise CvspecError("internal error: no project to operate on")
    return ctx.project_id


@singledispatch
def execute(op: ops.Op, ctx: Context) -> None:
    raise NotImplementedError(f"no handler for {type(op).__name__}")


@execute.register
def _(op: ops.DeleteProject, ctx: Context) -> None:
    client = ctx.service.training
    for it in call(client.get_iterations, op.project_id):
        if it.publish_name:
            call(client.unpublish_iteration, op.project_id, it.id)
    call(client.delete_project, op.project_id)
    ctx.project_id, ctx.tag_ids = None, {}


@execute.register
def _(op: ops.CreateProject, ctx: Context) -> None:
    client = ctx.service.training
    try:
        project = call(
            client.create_project,
            op.name,
            description=op.description,
            domain_id=op.domain_id,
            classification_type=op.classification_type,
        )
    except ServiceError as exc:
        if exc.code != "BadRequestProjectNameNotUnique":
            raise
        project = next(p for p in call(client.get_projects) if p.name == op.name)
    ctx.project_id = project.id


@execute.register
def _(op: ops.UpdateProject, ctx: Context) -> None:
    client = ctx.service.training
    project = call(client.get_project, op.project_id)
    settings = project.settings
    settings.domain_id = op.after.get("domain_id", settings.domain_id)
    updated = m.Project(
        name=project.name,
        description=op.after.get("description", project.description),
        settings=settings,
    )
    call(client.update_project, op.project_id, updated)


@execute.register
def _(op: ops.CreateTag, ctx: Context) -> None:
    client = ctx.service.training
    try:
        tag = call(
            client.create_tag, _project(ctx), op.name, description=op.description, type=op.type
        )
    except ServiceError as exc:
        if exc.code != "BadRequestTagNameNotUnique":
            raise
        tag = next(t for t in call(client.get_tags, _project(ctx)) if t.name == op.name)
    ctx.tag_ids[op.name] = tag.id


@execute.register
def _(op: ops.UpdateTag, ctx: Context) -> None:
    current = call(ctx.service.training.get_tag, _project(ctx), op.tag_id)
    tag = m.Tag(
        name=op.name,
        description=op.after.get("description", current.description or ""),
        type=op.after.get("type", current.type),
    )
    call(ctx.service.training.update_tag, _project(ctx), op.tag_id, tag)


@execute.register
def _(op: ops.DeleteTag, ctx: Context) -> None:
    try:
        call(ctx.service.training.delete_tag, _project(ctx), op.tag_id)
    except ServiceError as exc:
        if exc.code != "NotFoundTag":
            raise
    ctx.tag_ids.pop(op.name, None)


@execute.register
def _(op: ops.UploadImages, ctx: Context) -> None:
    done = 0
    total = len(op.images)
    for batch in _upload_batches(op.images):
        _upload_batch(batch, ctx)
        done += len(batch)
        ctx.emit("upload_progress", done=done, total=total)


def _upload_batches(images: Sequence[ops.ImageUpload]) -> Iterator[list[ops.ImageUpload]]:
    batch: list[ops.ImageUpload] = []
    tags: set[str] = set()
    for image in images:
        if len(batch) == BATCH_IMAGES or len(tags | set(image.tags)) > BATCH_TAGS:
            yield batch
            batch, tags = [], set()
        batch.append(image)
        tags |= set(image.tags)
    if batch:
        yield batch


def _upload_batch(batch: list[ops.ImageUpload], ctx: Context) -> None:
    entries = [
        m.ImageFileCreateEntry(
            name=image.path,
            contents=(ctx.base_dir / image.path).read_bytes(),
            tag_ids=[ctx.tag_ids[t] for t in image.tags],
        )
        for image in batch
    ]
    summary = call(
        ctx.service.training.create_images_from_files,
        _project(ctx),
        m.ImageFileCreateBatch(images=entries),
    )
    uploaded: list[tuple[str, str]] = []
    for image, result in zip(batch, summary.images, strict=True):
        if result.status in ("OK", "OKDuplicate") and result.image is not None:
            uploaded.append((result.image.id, image.sha256))
        else:
            ctx.failures.append(f"{image.path}: upload failed: {result.status}")
    if uploaded:
        call(
            ctx.service.training.update_image_metadata,
            _project(ctx),
            [image_id for image_id, _ in uploaded],
            encode_manifest(uploaded),
        )


@execute.register
def _(op: ops.RemoveImageTags, ctx: Context) -> None:
    by_tag: dict[str, list[str]] = {}
    for image in op.images:
        for tag in image.tags:
            by_tag.setdefault(tag, []).append(image.image_id)
    for tag, image_ids in sorted(by_tag.items()):
        for chunk in _chunks(image_ids, 64):
            call(ctx.service.training.delete_image_tags, _project(ctx), chunk, [ctx.tag_ids[tag]])


@execute.register
def _(op: ops.AddImageTags, ctx: Context) -> None:
    pairs = [
        m.ImageTagCreateEntry(image_id=image.image_id, tag_id=ctx.tag_ids[tag])
        for image in op.images
        for tag in image.tags
    ]
    for chunk in _chunks(pairs, BATCH_IMAGE_TAGS):
        batch = m.ImageTagCreateBatch(tags=chunk)
        call(ctx.service.training.create_image_tags, _project(ctx), tags=batch.tags)


@execute.register
def _(op: ops.DeleteImages, ctx: Context) -> None:
    for chunk in _chunks(list(op.image_ids), BATCH_DELETE):
        call(
            ctx.service.training.delete_images, _project(ctx), image_ids=chunk, all_iterations=True
        )


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@execute.register
def _(op: ops.Train, ctx: Context) -> None:
    iteration = _find_iteration(ctx, op.iteration_name) if op.wait_only else None
    if iteration is None:
        iteration = _start_training(op, ctx)
    iteration = _wait(iteration, ctx)
    if iteration.status != "Completed":
        detail = getattr(iteration, "training_error_details", None) or iteration.status
        raise ServiceError(f"training of iteration {op.iteration_name!r} failed: {detail}")
    ctx.emit("evaluation", iteration=op.iteration_name, performance=_performance(ctx, iteration.id))


def _start_training(op: ops.Train, ctx: Context) -> Any:
    client = ctx.service.training
    try:
        iteration = call(
            client.train_project,
            _project(ctx),
            training_type=op.training_type,
            reserved_budget_in_hours=op.budget_hours,
            force_train=op.force,
            notification_email_address=op.notification_email,
        )
    except ServiceError as exc:
        # Nothing changed since an earlier training (e.g. an apply died before naming it):
        # adopt that iteration instead of forcing a new one.
        if exc.code == "BadRequestTrainingNotNeeded":
            iteration = _latest(ctx, "Completed")
        elif exc.code == "BadRequestTrainingAlreadyInProgress":
            iteration = _latest(ctx, "Training")
        else:
            raise
    return call(client.update_iteration, _project(ctx), iteration.id, op.iteration_name)


def _latest(ctx: Context, status: str) -> Any:
    found = [
        i for i in call(ctx.service.training.get_iterations, _project(ctx)) if i.status == status
    ]
    if not found:
        raise ServiceError(f"the service reports no {status.lower()} iteration to adopt")
    return max(found, key=lambda i: i.created)


def _find_iteration(ctx: Context, name: str) -> Any:
    iterations = call(ctx.service.training.get_iterations, _project(ctx))
    return next((i for i in iterations if i.name == name), None)


def _wait(iteration: Any, ctx: Context) -> Any:
    started = time.monotonic()
    while iteration.status == "Training":
        ctx.emit(
            "training",
            iteration=iteration.name,
            status=iteration.status,
            elapsed=time.monotonic() - started,
        )
        time.sleep(POLL_SECONDS)
        iteration = call(ctx.service.training.get_iteration, _project(ctx), iteration.id)
    ctx.emit(
        "training_done",
        iteration=iteration.name,
        status=iteration.status,
        elapsed=time.monotonic() - started,
    )
    return iteration


def _performance(ctx: Context, iteration_id: str, threshold: float = 0.5) -> Any:
    return call(
        ctx.service.training.get_iteration_performance,
        _project(ctx),
        iteration_id,
        threshold=threshold,
    )


@execute.register
def _(op: ops.Unpublish, ctx: Context) -> None:
    try:
        call(ctx.service.training.unpublish_iteration, _project(ctx), op.iteration_id)
    except ServiceError as exc:
        if exc.code not in ("BadRequestIterationNotPublished", "NotFoundIteration"):
            raise


@execute.register
def _(op: ops.Publish, ctx: Context) -> None:
    iteration = _find_iteration(ctx, op.iteration_name)
    if iteration is None or iteration.status != "Completed":
        raise ServiceError(f"iteration {op.iteration_name!r} is not trained; cannot publish it")
    _check_gates(op.gates, _performance(ctx, iteration.id, op.gates.threshold))
    call(
        ctx.service.training.publish_iteration,
        _project(ctx),
        iteration.id,
        op.publish_name,
        op.prediction_resource_id,
    )


def _check_gates(gates: ops.Gates, perf: Any) -> None:
    checks = [
        ("precision", gates.min_precision, perf.precision),
        ("recall", gates.min_recall, perf.recall),
        ("average precision", gates.min_ap, perf.average_precision),
    ]
    failed = [
        f"{name} {actual:.3f} < {minimum:.3f}"
        for name, minimum, actual in checks
        if minimum is not None and (actual or 0.0) < minimum
    ]
    if failed:
        raise GateError("quality gate failed, not publishing: " + "; ".join(failed))


@execute.register
def _(op: ops.DeleteIteration, ctx: Context) -> None:
    try:
        call(ctx.service.training.delete_iteration, _project(ctx), op.iteration_id)
    except ServiceError as exc:
        if exc.code != "NotFoundIteration":
            raise
