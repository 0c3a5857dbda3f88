"""Execute a plan through the SDK: one handler per operation type, each safe to re-run.

Operations run in plan order; the calls inside one operation (upload batches, tag changes,
deletions) run concurrently on `parallelism` threads, all under the endpoint's shared rate
limit (cvspec.sdk). Nothing here prints: progress goes out as events through `emit`
(cvspec.progress turns them into a progress bar, lines or JSON).

Every handler tolerates a service that already did the work (a previous apply was killed,
or a retried call had landed): existing names are adopted, OKDuplicate is success,
"not found" on delete is done. Per-image failures are collected and the run carries on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import singledispatch
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from azure.cognitiveservices.vision.customvision.training import models as m

from cvspec import ops, recover, training
from cvspec.errors import CvspecError, PlanError, ServiceError
from cvspec.gates import Evaluation
from cvspec.marker import split_description
from cvspec.plan import Plan
from cvspec.sdk import call
from cvspec.service import Service
from cvspec.upload import upload_images

if TYPE_CHECKING:
    from cvspec.resources import ResourceSession

T = TypeVar("T")
BATCH_IMAGE_TAGS = 128  # image-tag pairs per CreateImageTags call
BATCH_UNTAG_IMAGES = 64  # image ids per DeleteImageTags call
BATCH_DELETE = 256  # image ids per DeleteImages call
DEFAULT_PARALLELISM = 4

Emit = Callable[..., None]  # emit(event_name, **fields)


@dataclass
class Context:
    """What handlers share during one apply."""

    service: Service
    base_dir: Path
    emit: Emit
    parallelism: int = DEFAULT_PARALLELISM
    threshold: float = 0.5  # where precision and recall are measured (the gates' threshold)
    project_id: str | None = None
    tag_ids: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    evaluations: dict[str, Evaluation] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def project(self) -> str:
        if self.project_id is None:
            raise CvspecError("internal error: no project to operate on")
        return self.project_id

    def tag_list(self, names: Iterable[str]) -> list[str]:
        missing = [name for name in names if name not in self.tag_ids]
        if missing:
            raise CvspecError(f"tag(s) {', '.join(missing)} missing from the project; plan again")
        return [self.tag_ids[name] for name in names]

    def fail(self, path: str, message: str) -> None:
        """Record a per-image failure: reported at the end, the run goes on."""
        path = self.display(path)
        with self._lock:
            self.failures.append(f"{path}: {message}")
        self.emit("image_failed", path=path, message=message)

    def display(self, path: str) -> str:
        """An image's path as the user wrote it: relative to the spec when inside it."""
        try:
            return Path(path).relative_to(self.base_dir.resolve()).as_posix()
        except ValueError:
            return path

    def run_calls(self, label: str, items: Sequence[T], fn: Callable[[T], None]) -> None:
        """run_parallel, emitting `calls_progress` (label, done, total) after each item."""
        done = [0]

        def counted(item: T) -> None:
            fn(item)
            with self._lock:
                done[0] += 1
                count = done[0]
            self.emit("calls_progress", label=label, done=count, total=len(items))

        self.run_parallel(items, counted)

    def run_parallel(self, items: Sequence[T], fn: Callable[[T], None]) -> None:
        """fn(item) for every item on up to `parallelism` threads; the first error stops all."""
        if self.parallelism <= 1 or len(items) <= 1:
            for item in items:
                fn(item)
            return
        pool = ThreadPoolExecutor(min(self.parallelism, len(items)), "cvspec-apply")
        futures: list[Future[None]] = [pool.submit(fn, item) for item in items]
        try:
            for future in as_completed(futures):
                future.result()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()


@dataclass(frozen=True)
class ApplyResult:
    operations: int
    failures: tuple[str, ...]
    endpoint: str = ""  # the training endpoint the project's calls went to


def apply_plan(
    plan: Plan,
    service: Service,
    base_dir: Path,
    emit: Emit,
    parallelism: int = DEFAULT_PARALLELISM,
) -> ApplyResult:
    """Run every operation of `plan` in order; per-image failures are collected, not fatal."""
    ctx = Context(
        service=service,
        base_dir=base_dir,
        emit=emit,
        parallelism=max(1, parallelism),
        threshold=_threshold(plan),
    )
    accounts = [op for op in plan.operations if isinstance(op, ops.ACCOUNT_OPS)]
    for account_op in accounts:
        emit("op_start", op=account_op)
        execute(account_op, ctx)
    if accounts:
        ctx.service = _reconnect(ctx.service)
    if not ctx.service.pending:
        _refresh(ctx, plan.project_name)
    for op in plan.operations[len(accounts) :]:
        if ctx.failures and isinstance(op, _NEEDS_COMPLETE_DATASET):
            _skip_training(ctx)
            break
        emit("op_start", op=op)
        execute(op, ctx)
    return ApplyResult(
        operations=len(plan.operations),
        failures=tuple(ctx.failures),
        endpoint=ctx.service.endpoint,
    )


# An iteration's name claims the dataset it was trained on: after any image failed, training
# (and what follows it) would give that name to a model missing those images.
_NEEDS_COMPLETE_DATASET = (ops.Train, ops.Unpublish, ops.Publish, ops.DeleteIteration)


def _skip_training(ctx: Context) -> None:
    ctx.emit("training_skipped", failures=len(ctx.failures))
    ctx.failures.append(
        "training and publishing skipped: the dataset is incomplete; "
        "fix the images above and run apply again"
    )


def _reconnect(service: Service) -> Service:
    """The clients of the accounts the plan created: their endpoints and keys are read now."""
    if service.resources is None:
        return service
    from cvspec.service import account_service

    fresh = account_service(service.resources)
    if fresh.pending:
        raise PlanError("the training account does not exist; plan again")
    return fresh


def _threshold(plan: Plan) -> float:
    """Where precision and recall are measured: the gates' threshold, carried by the plan."""
    publishes = plan.of_type(ops.Publish)
    if publishes:
        return float(publishes[0].gates.threshold)
    trains = plan.of_type(ops.Train)
    return float(trains[0].threshold) if trains else 0.5


def _refresh(ctx: Context, project_name: str) -> None:
    """The project's id and tag ids (two calls; the plan already read everything else)."""
    client = ctx.service.training
    project = next((p for p in call(client.get_projects) if p.name == project_name), None)
    ctx.project_id = project.id if project is not None else None
    if project is not None:
        ctx.tag_ids = {t.name: t.id for t in call(client.get_tags, project.id)}


@singledispatch
def execute(op: ops.Op, ctx: Context) -> None:
    """Run one operation. Every operation type needs a handler: a missing one is a bug."""
    raise NotImplementedError(f"no apply handler for {type(op).__name__}")


@execute.register
def _(op: ops.DeleteProject, ctx: Context) -> None:
    client = ctx.service.training
    try:
        published = [i for i in call(client.get_iterations, op.project_id) if i.publish_name]
        for iteration in published:
            ctx.project_id = op.project_id
            training.unpublish(ctx, iteration.id)
        call(client.delete_project, op.project_id)
    except ServiceError as exc:
        if exc.code != "NotFoundProject":
            raise
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
        projects = call(client.get_projects)
        same = [p for p in projects if p.name == op.name]
        if len(same) != 1:  # the service compared the name another way (e.g. ignoring case)
            clashes = [p for p in projects if p.name.casefold() == op.name.casefold()]
            listed = ", ".join(sorted(f"{p.name!r} ({p.id})" for p in clashes)) or "none listed"
            raise PlanError(
                f"the service refuses the project name {op.name!r} as not unique; "
                f"projects with a similar name: {listed}. Rename the spec's project or theirs."
            ) from None
        project = same[0]
    ctx.project_id = project.id


@execute.register
def _(op: ops.UpdateProject, ctx: Context) -> None:
    client = ctx.service.training
    project = call(client.get_project, op.project_id)
    settings = project.settings
    settings.domain_id = op.after.get("domain_id", settings.domain_id)
    # (a training marker left by an interrupted apply goes with any update: cvspec.marker)
    description = split_description(project.description or "")[0]
    updated = m.Project(
        name=project.name,
        description=op.after.get("description", description),
        settings=settings,
    )
    call(client.update_project, op.project_id, updated)


@execute.register
def _(op: ops.CreateTag, ctx: Context) -> None:
    client = ctx.service.training
    try:
        tag = call(
            client.create_tag, ctx.project(), op.name, description=op.description, type=op.type
        )
    except ServiceError as exc:
        if exc.code != "BadRequestTagNameNotUnique":
            raise
        tag = next(
            t for t in call(client.get_tags, ctx.project()) if t.name.lower() == op.name.lower()
        )
    ctx.tag_ids[op.name] = tag.id


@execute.register
def _(op: ops.UpdateTag, ctx: Context) -> None:
    current = call(ctx.service.training.get_tag, ctx.project(), op.tag_id)
    tag = m.Tag(
        name=op.name,
        description=op.after.get("description", current.description or ""),
        type=op.after.get("type", current.type),
    )
    call(ctx.service.training.update_tag, ctx.project(), op.tag_id, tag)
    ctx.tag_ids = {n: i for n, i in ctx.tag_ids.items() if i != op.tag_id}
    ctx.tag_ids[op.name] = op.tag_id


@execute.register
def _(op: ops.DeleteTag, ctx: Context) -> None:
    try:
        call(ctx.service.training.delete_tag, ctx.project(), op.tag_id)
    except ServiceError as exc:
        if exc.code != "NotFoundTag":
            raise
    ctx.tag_ids.pop(op.name, None)


@execute.register
def _(op: ops.UploadImages, ctx: Context) -> None:
    upload_images(op, ctx)


@execute.register
def _(op: ops.AdoptPendingImages, ctx: Context) -> None:
    pairs = list(zip(op.image_ids, op.hash_keys, strict=True))
    ctx.run_calls(
        "adopting images",
        list(chunks(pairs, recover.BATCH)),
        lambda chunk: recover.adopt(ctx.service.training, ctx.project(), chunk),
    )


@execute.register
def _(op: ops.RemoveImageTags, ctx: Context) -> None:
    by_tag: dict[str, list[str]] = {}
    for image in op.images:
        for tag in image.tags:
            by_tag.setdefault(tag, []).append(image.image_id)
    work = [
        (ctx.tag_ids[tag], chunk)
        for tag, image_ids in sorted(by_tag.items())
        if tag in ctx.tag_ids  # a tag deleted earlier in this plan took its image tags along
        for chunk in chunks(image_ids, BATCH_UNTAG_IMAGES)
    ]
    ctx.run_calls(
        "untagging",
        work,
        lambda w: call(ctx.service.training.delete_image_tags, ctx.project(), w[1], [w[0]]),
    )


@execute.register
def _(op: ops.AddImageTags, ctx: Context) -> None:
    pairs = [
        m.ImageTagCreateEntry(image_id=image.image_id, tag_id=tag_id)
        for image in op.images
        for tag_id in ctx.tag_list(image.tags)
    ]
    path_of = {image.image_id.lower(): image.path for image in op.images}

    def add(chunk: list[m.ImageTagCreateEntry]) -> None:
        summary = call(ctx.service.training.create_image_tags, ctx.project(), tags=chunk)
        for refused in summary.exceeded or ():
            path = path_of.get(str(refused.image_id).lower(), str(refused.image_id))
            ctx.fail(path, "tag refused: the image has too many tags")

    ctx.run_calls("tagging", list(chunks(pairs, BATCH_IMAGE_TAGS)), add)


@execute.register
def _(op: ops.DeleteImages, ctx: Context) -> None:
    def delete(chunk: list[str]) -> None:
        try:
            call(
                ctx.service.training.delete_images,
                ctx.project(),
                image_ids=chunk,
                all_iterations=True,
            )
        except ServiceError as exc:
            if exc.code not in ("NotFoundImage", "BadRequestImageNotFound"):
                raise

    ctx.run_calls("deleting images", list(chunks(list(op.image_ids), BATCH_DELETE)), delete)


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@execute.register
def _(op: ops.Train, ctx: Context) -> None:
    training.train(op, ctx)


@execute.register
def _(op: ops.Publish, ctx: Context) -> None:
    training.publish(op, ctx)


@execute.register
def _(op: ops.Unpublish, ctx: Context) -> None:
    training.unpublish_name(ctx, op.iteration_id, op.publish_name)


@execute.register
def _(op: ops.RenameIteration, ctx: Context) -> None:
    training.rename_iteration(ctx, op)


@execute.register
def _(op: ops.DeleteIteration, ctx: Context) -> None:
    training.delete_iteration(ctx, op.iteration_id, op.iteration_name)


@execute.register
def _(op: ops.CreateAccount, ctx: Context) -> None:
    _resources(ctx).create(op.name, op.arm_id, op.kind, op.sku, op.location)


@execute.register
def _(op: ops.UpdateAccountSku, ctx: Context) -> None:
    _resources(ctx).update_sku(op.arm_id, op.after)


@execute.register
def _(op: ops.DeleteAccount, ctx: Context) -> None:
    _resources(ctx).delete(op.arm_id)


def _resources(ctx: Context) -> ResourceSession:
    if ctx.service.resources is None:
        raise CvspecError("an account operation needs the spec's resources section; plan again")
    return ctx.service.resources
