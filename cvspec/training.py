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

from azure.cognitiveservices.vision.customvision.training import models as m

from cvspec import ops
from cvspec.errors import GateError, ServiceError
from cvspec.gates import Evaluation, check_gates, evaluation_from_sdk
from cvspec.identity import base_iteration_name, failed_iteration_name
from cvspec.marker import TrainingMarker, split_description, with_marker
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

    The project's training marker (cvspec.marker) is written first and removed once the new
    iteration has its name, so that an apply killed in between leaves an iteration the next
    plan recognises. "Already in progress": that training may be of an older dataset, so
    wait for it and ask again rather than adopt it. "Not needed": the service says the
    latest completed iteration was trained on exactly these images and settings; it is
    adopted when it is cvspec's or the plan announced it (Train.adopt_candidate), and
    otherwise a new iteration is trained (force) rather than rename what the plan did not
    name.
    """
    force = op.force
    for _ in range(TRAIN_ATTEMPTS):
        mark(ctx, op.iteration_name)
        try:
            iteration = _train_project(op, ctx, force)
        except ServiceError as exc:
            if exc.code == "BadRequestTrainingNotNeeded":
                iteration = _adoptable(ctx, op)
                if iteration is None:
                    force = True
                    continue
                ctx.emit("training_adopted", iteration=op.iteration_name, adopted=iteration.name)
            elif exc.code == "BadRequestTrainingAlreadyInProgress":
                running = _newest(ctx, TRAINING_STATUSES)
                if running is not None and running.name == op.iteration_name:
                    unmark(ctx)
                    return running
                if running is not None:  # (None: it finished meanwhile; just ask again)
                    ctx.emit("training_waiting", iteration=op.iteration_name, other=running.name)
                    _wait(running, ctx)
                continue
            else:
                unmark(ctx)
                raise
        if iteration.name != op.iteration_name:
            iteration = call(
                ctx.service.training.update_iteration,
                ctx.project(),
                iteration.id,
                op.iteration_name,
            )
        unmark(ctx)
        return iteration
    unmark(ctx)
    raise ServiceError("the project keeps training other iterations; try again later")


def _adoptable(ctx: Context, op: ops.Train) -> Any:
    """The completed iteration "training not needed" points at, if the plan announced it
    (Train.adopt_candidate); None: train a new one rather than rename what the plan did not
    name."""
    latest = _latest(ctx, ("Completed",))
    return latest if op.adopt_candidate and latest.name == op.adopt_candidate else None


def _train_project(op: ops.Train, ctx: Context, force: bool) -> Any:
    return call(
        ctx.service.training.train_project,
        ctx.project(),
        training_type=op.training_type,
        reserved_budget_in_hours=op.budget_hours,
        force_train=force,
        notification_email_address=op.notification_email,
        # Only the spec's tags are trained: tags added in the portal, or kept without
        # images, neither block nor pollute the training.
        selected_tags=ctx.tag_list(op.selected_tags) if op.selected_tags else None,
    )


def mark(ctx: Context, iteration_name: str) -> None:
    """Write the training marker into the project's description (cvspec.marker)."""
    found = iterations(ctx)
    after = max((_iso(i.created) for i in found), default="")
    _set_description(ctx, lambda text: with_marker(text, TrainingMarker(iteration_name, after)))


def unmark(ctx: Context) -> None:
    """Remove the training marker from the project's description, if it is there."""
    _set_description(ctx, lambda text: split_description(text)[0])


def _set_description(ctx: Context, edit: Any) -> None:
    client = ctx.service.training
    project = call(client.get_project, ctx.project())
    description = project.description or ""
    wanted = edit(description)
    if wanted == description:
        return
    updated = m.Project(name=project.name, description=wanted, settings=project.settings)
    call(client.update_project, ctx.project(), updated)


def _iso(value: Any) -> str:
    return value.isoformat() if value else ""


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
    """Check the gates, then move the publish name onto the iteration, in place.

    Whatever the service refuses, the name's previous holder keeps serving it: the move is
    one PublishIteration with overwrite. Only when the iteration itself must be unpublished
    first (it is published under a name the spec dropped, or to another prediction resource)
    is there a gap, and a refused publish then restores that publication before failing.
    """
    current = iterations(ctx)
    target = next(
        (i for i in current if base_iteration_name(i.name or "") == op.iteration_name), None
    )
    if target is None or target.status != "Completed":
        raise ServiceError(f"iteration {op.iteration_name!r} is not trained; cannot publish it")
    holders = [i for i in current if i.publish_name == op.publish_name and i.id != target.id]
    _check(op, ctx, target, holders)
    target = _clear_failure(ctx, target, op.iteration_name)
    if target.publish_name == op.publish_name and _same_resource(target, op):
        return
    if target.publish_name:
        _republish(op, ctx, target, holders)
    else:
        _publish(op, ctx, target.id, holders)
    ctx.emit("published", publish_name=op.publish_name, iteration=op.iteration_name)


def _check(op: ops.Publish, ctx: Context, target: Any, holders: list[Any]) -> None:
    """Raise GateError when the gates fail, after recording the failure in the iteration's
    name (so that the next plan does not propose publishing it again)."""
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
    if op.gates_key:
        recorded = failed_iteration_name(op.iteration_name, op.gates_key)
        if target.name != recorded:
            call(ctx.service.training.update_iteration, ctx.project(), target.id, recorded)
    kept = f"{op.publish_name!r} stays on {holders[0].name!r}" if holders else "nothing published"
    figures = "; ".join(f.describe() for f in failures)
    raise GateError(
        f"quality gate failed for {op.iteration_name!r}, not publishing ({kept}): {figures}"
    )


def _clear_failure(ctx: Context, target: Any, name: str) -> Any:
    """An iteration that failed earlier gates passed these: give it its plain name back."""
    if target.name == name:
        return target
    return call(ctx.service.training.update_iteration, ctx.project(), target.id, name)


def _same_resource(iteration: Any, op: ops.Publish) -> bool:
    resource = getattr(iteration, "original_publish_resource_id", None) or ""
    return resource.lower() == op.prediction_resource_id.lower()


def _republish(op: ops.Publish, ctx: Context, target: Any, holders: list[Any]) -> None:
    """Publish an iteration that is published under another name or resource: the service
    holds one publication per iteration, so it is unpublished first and, if the new
    publication is refused, published back as it was."""
    client = ctx.service.training
    previous = (target.publish_name, target.original_publish_resource_id)
    unpublish(ctx, target.id)
    try:
        _publish(op, ctx, target.id, holders)
    except ServiceError:
        ctx.emit("publish_restored", publish_name=previous[0], iteration=target.name)
        call(client.publish_iteration, ctx.project(), target.id, previous[0], previous[1])
        raise


def _publish(op: ops.Publish, ctx: Context, iteration_id: str, holders: list[Any]) -> None:
    client = ctx.service.training
    args = (ctx.project(), iteration_id, op.publish_name, op.prediction_resource_id)
    try:
        call(client.publish_iteration, *args, overwrite=bool(holders))
    except ServiceError as exc:
        if exc.code == "BadRequestIterationIsPublished":  # a retried call that had landed
            return
        if not holders or exc.code != "BadRequestInvalidPublishName" or not _in_use(ctx, op):
            raise
        _move_in_two_calls(op, ctx, args, holders)
        return
    # Whatever overwrite did, the name must end up on one iteration only.
    still = [
        i for i in iterations(ctx) if i.publish_name == op.publish_name and i.id in _ids(holders)
    ]
    _unpublish_all(ctx, still)


def _in_use(ctx: Context, op: ops.Publish) -> bool:
    """The name is refused only because another iteration holds it (overwrite unsupported)."""
    return any(i.publish_name == op.publish_name for i in iterations(ctx))


def _move_in_two_calls(
    op: ops.Publish, ctx: Context, args: tuple[str, str, str, str], holders: list[Any]
) -> None:
    """A service that does not overwrite: unpublish the holder, publish, and on refusal put
    the holder back."""
    client = ctx.service.training
    _unpublish_all(ctx, holders)
    try:
        call(client.publish_iteration, *args)
    except ServiceError:
        for holder in holders:
            ctx.emit("publish_restored", publish_name=op.publish_name, iteration=holder.name)
            resource = holder.original_publish_resource_id or op.prediction_resource_id
            call(client.publish_iteration, ctx.project(), holder.id, op.publish_name, resource)
        raise


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


def unpublish_name(ctx: Context, iteration_id: str, publish_name: str) -> None:
    """Unpublish the iteration if it still serves `publish_name` (a name the spec dropped)."""
    try:
        current = call(ctx.service.training.get_iteration, ctx.project(), iteration_id)
    except ServiceError as exc:
        if exc.code != "NotFoundIteration":
            raise
        return
    if current.publish_name == publish_name:
        unpublish(ctx, iteration_id)


def rename_iteration(ctx: Context, op: ops.RenameIteration) -> None:
    """Give an iteration its planned name; an adopted interrupted training also clears the
    project's training marker."""
    client = ctx.service.training
    try:
        current = call(client.get_iteration, ctx.project(), op.iteration_id)
    except ServiceError as exc:
        if exc.code != "NotFoundIteration":
            raise
        return
    if current.name != op.new_name:
        call(client.update_iteration, ctx.project(), op.iteration_id, op.new_name)
    if op.reason_code is ops.Reason.INTERRUPTED_TRAINING:
        unmark(ctx)


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
