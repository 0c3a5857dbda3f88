"""Training, evaluation, quality gates and publishing, each safe to re-run after a crash.

* Training adopts rather than duplicates: an iteration already named for this dataset is
  waited for; "training already in progress" waits for the running one and asks again;
  "training not needed" adopts the latest completed one (an apply killed between
  TrainProject and naming the iteration). So a killed apply costs at most one extra
  iteration, and an iteration is never named for a dataset it was not trained on.
* Publishing checks the gates first and leaves the published iteration alone when one
  fails. The publish name then moves with `overwrite=true` (no gap at all); a service that
  refuses overwrite gets unpublish-then-publish, two back-to-back calls.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from cvspec import ops
from cvspec.errors import GateError, ServiceError
from cvspec.gates import Evaluation, check_gates, evaluation_from_sdk
from cvspec.sdk import call

if TYPE_CHECKING:
    from cvspec.apply import Context

POLL_FIRST = 0.2  # seconds before the first status poll; then x1.5 per poll
POLL_MAX = 5.0  # a real training takes minutes: poll at most every 5 s
TRAINING_STATUSES = ("Training", "Queued")
TRAIN_ATTEMPTS = 3  # waits for someone else's training before giving up


def train(op: ops.Train, ctx: Context) -> None:
    """Train (or adopt) the iteration named `op.iteration_name`, wait, then evaluate it."""
    iteration = _find(ctx, op.iteration_name)
    if iteration is not None and iteration.status == "Failed":
        _delete_failed(ctx, iteration)
        iteration = None
    if iteration is None:
        iteration = _start(op, ctx)
    iteration = _wait(iteration, ctx)
    if iteration.status != "Completed":
        detail = getattr(iteration, "training_error_details", None) or iteration.status
        raise ServiceError(f"training of iteration {op.iteration_name!r} failed: {detail}")
    evaluate(ctx, iteration.id, iteration.name)


def _start(op: ops.Train, ctx: Context) -> Any:
    """TrainProject, adopting what an earlier (killed) apply already started or trained.

    "Already in progress": that training may be of an older dataset (the spec changed since
    the apply that started it was killed), so wait for it and ask again rather than adopt
    it. "Not needed": the service says the latest completed iteration was trained on exactly
    these images and settings, so that one is adopted.
    """
    for _ in range(TRAIN_ATTEMPTS):
        try:
            iteration = _train_project(op, ctx)
        except ServiceError as exc:
            if exc.code == "BadRequestTrainingNotNeeded":
                iteration = _latest(ctx, ("Completed",))
                ctx.emit("training_adopted", iteration=op.iteration_name, adopted=iteration.name)
            elif exc.code == "BadRequestTrainingAlreadyInProgress":
                running = _newest(ctx, TRAINING_STATUSES)
                if running is not None and running.name == op.iteration_name:
                    return running
                if running is not None:  # (None: it finished meanwhile; just ask again)
                    ctx.emit("training_waiting", iteration=op.iteration_name, other=running.name)
                    _wait(running, ctx)
                continue
            else:
                raise
        if iteration.name == op.iteration_name:
            return iteration
        return call(
            ctx.service.training.update_iteration, ctx.project(), iteration.id, op.iteration_name
        )
    raise ServiceError("the project keeps training other iterations; try again later")


def _train_project(op: ops.Train, ctx: Context) -> Any:
    return call(
        ctx.service.training.train_project,
        ctx.project(),
        training_type=op.training_type,
        reserved_budget_in_hours=op.budget_hours,
        force_train=op.force,
        notification_email_address=op.notification_email,
    )


def _delete_failed(ctx: Context, iteration: Any) -> None:
    """A failed iteration of this dataset is useless and holds the name: remove it."""
    try:
        call(ctx.service.training.delete_iteration, ctx.project(), iteration.id)
    except ServiceError as exc:
        if exc.code != "NotFoundIteration":
            raise


def _latest(ctx: Context, statuses: tuple[str, ...]) -> Any:
    found = _newest(ctx, statuses)
    if found is None:
        wanted = " or ".join(s.lower() for s in statuses)
        raise ServiceError(f"the service reports no {wanted} iteration to adopt")
    return found


def _newest(ctx: Context, statuses: tuple[str, ...]) -> Any:
    found = [i for i in iterations(ctx) if i.status in statuses]
    return max(found, key=lambda i: (i.created, i.id)) if found else None


def iterations(ctx: Context) -> list[Any]:
    return list(call(ctx.service.training.get_iterations, ctx.project()))


def _find(ctx: Context, name: str) -> Any:
    return next((i for i in iterations(ctx) if i.name == name), None)


def _wait(iteration: Any, ctx: Context) -> Any:
    started = time.monotonic()
    pause = POLL_FIRST
    while iteration.status in TRAINING_STATUSES:
        ctx.emit(
            "training",
            iteration=iteration.name,
            status=iteration.status,
            elapsed=time.monotonic() - started,
        )
        time.sleep(pause)
        pause = min(POLL_MAX, pause * 1.5)
        iteration = call(ctx.service.training.get_iteration, ctx.project(), iteration.id)
    ctx.emit(
        "training_done",
        iteration=iteration.name,
        status=iteration.status,
        elapsed=time.monotonic() - started,
    )
    return iteration


def evaluate(ctx: Context, iteration_id: str, name: str, show: bool = True) -> Evaluation:
    """The iteration's figures at the gates' threshold (fetched once per apply)."""
    if iteration_id not in ctx.evaluations:
        perf = call(
            ctx.service.training.get_iteration_performance,
            ctx.project(),
            iteration_id,
            threshold=ctx.threshold,
        )
        ctx.evaluations[iteration_id] = evaluation_from_sdk(name, ctx.threshold, perf)
        if show:
            ctx.emit("evaluation", evaluation=ctx.evaluations[iteration_id])
    return ctx.evaluations[iteration_id]


def publish(op: ops.Publish, ctx: Context) -> None:
    """Check the gates, then move the publish name onto the iteration."""
    current = iterations(ctx)
    target = next((i for i in current if i.name == op.iteration_name), None)
    if target is None or target.status != "Completed":
        raise ServiceError(f"iteration {op.iteration_name!r} is not trained; cannot publish it")
    holders = [i for i in current if i.publish_name == op.publish_name and i.id != target.id]
    _check(op, ctx, target, holders)
    if target.publish_name:
        if target.publish_name == op.publish_name and _same_resource(target, op):
            _unpublish_all(ctx, holders)
            return
        unpublish(ctx, target.id)  # published under another name or to another resource
    _publish(op, ctx, target.id, holders)
    ctx.emit("published", publish_name=op.publish_name, iteration=op.iteration_name)


def _check(op: ops.Publish, ctx: Context, target: Any, holders: list[Any]) -> None:
    gates = op.gates
    evaluation = evaluate(ctx, target.id, target.name)
    baseline = None
    if gates.no_regression:
        baseline_id = op.baseline_iteration_id or next((h.id for h in holders), None)
        holder = next((h for h in holders if h.id == baseline_id), None)
        if holder is not None:
            baseline = evaluate(ctx, holder.id, holder.name, show=False)
    failures = check_gates(gates, evaluation, baseline)
    if not failures:
        ctx.emit("gates_passed", iteration=target.name)
        return
    ctx.emit("gate_failed", iteration=target.name, failures=[f.describe() for f in failures])
    kept = f"{op.publish_name!r} stays on {holders[0].name!r}" if holders else "nothing published"
    figures = "; ".join(f.describe() for f in failures)
    raise GateError(f"quality gate failed for {target.name!r}, not publishing ({kept}): {figures}")


def _same_resource(iteration: Any, op: ops.Publish) -> bool:
    resource = getattr(iteration, "original_publish_resource_id", None) or ""
    return resource.lower() == op.prediction_resource_id.lower()


def _publish(op: ops.Publish, ctx: Context, iteration_id: str, holders: list[Any]) -> None:
    client = ctx.service.training
    args = (ctx.project(), iteration_id, op.publish_name, op.prediction_resource_id)
    try:
        call(client.publish_iteration, *args, overwrite=bool(holders))
    except ServiceError as exc:
        if exc.code == "BadRequestIterationIsPublished":  # a retried call that had landed
            return
        if not holders or exc.code != "BadRequestInvalidPublishName":
            raise
        _unpublish_all(ctx, holders)  # this service does not overwrite: move in two calls
        call(client.publish_iteration, *args)
        return
    # Whatever overwrite did, the name must end up on one iteration only.
    still = [
        i for i in iterations(ctx) if i.publish_name == op.publish_name and i.id in _ids(holders)
    ]
    _unpublish_all(ctx, still)


def _ids(found: list[Any]) -> set[str]:
    return {i.id for i in found}


def _unpublish_all(ctx: Context, found: list[Any]) -> None:
    for iteration in found:
        unpublish(ctx, iteration.id)


def unpublish(ctx: Context, iteration_id: str) -> None:
    try:
        call(ctx.service.training.unpublish_iteration, ctx.project(), iteration_id)
    except ServiceError as exc:
        if exc.code not in ("BadRequestIterationNotPublished", "NotFoundIteration"):
            raise


def delete_iteration(ctx: Context, iteration_id: str, planned_name: str) -> None:
    """Delete an old iteration, unless this apply adopted it (renamed) or it is published."""
    client = ctx.service.training
    try:
        current = call(client.get_iteration, ctx.project(), iteration_id)
        if current.name != planned_name or current.publish_name:
            ctx.emit("iteration_kept", iteration=current.name)
            return
        call(client.delete_iteration, ctx.project(), iteration_id)
    except ServiceError as exc:
        if exc.code != "NotFoundIteration":
            raise
