"""The pure diff of iterations: training, publishing and retention (no I/O, no clock).

Iterations are matched by the dataset fingerprint in their names (cvspec.identity). The
rules that keep prediction clients served whatever happens during an apply:

* A publish name moves in place: one Publish of the new iteration (PublishIteration with
  overwrite), never an unpublish first. A publish name the spec no longer uses is removed
  (Unpublish) only after the spec's name is published, and only from cvspec's iterations.
* Retention (publish.keep) deletes only after publishing; before training, only what the
  service's limit of 20 iterations forces, never a published or training iteration. Every
  iteration cvspec owns counts, training or left over by an interrupted apply.
* An iteration that failed the gates carries the record in its name: it is not published
  again until the gates change (a new gates key), and the plan says so.
* An iteration started by an interrupted apply (cvspec.marker) is renamed to the name it
  was to get before anything else looks for it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from cvspec import ops
from cvspec.desired import Desired, DesiredPublish, DesiredTraining
from cvspec.errors import PlanError
from cvspec.identity import base_iteration_name, failed_gates, gates_key, iteration_fingerprint
from cvspec.live import LiveIteration, LiveState
from cvspec.marker import DEFAULT_ITERATION_NAME, TrainingMarker, with_marker
from cvspec.plan import Drift, DriftKind

ITERATION_LIMIT = 20
IN_PROGRESS = ("Training", "Queued")  # iteration statuses that end on their own
R = ops.Reason


@dataclass
class IterationChanges:
    """What the iteration diff found: operations and drift."""

    operations: list[ops.Op]
    drift: list[Drift]


def compare_iterations(
    desired: Desired, live: LiveState, project_updated: bool = False, dataset_changes: bool = True
) -> IterationChanges:
    """Training, publishing and retention operations for `desired` over `live`.

    `project_updated`: the plan already updates the project's description (which removes
    any training marker), so a stale marker needs no operation of its own.
    `dataset_changes`: the plan changes images or tags, so the service cannot answer
    "training not needed" and no iteration is announced for adoption.

    Raises:
        PlanError: the spec publishes without a prediction resource, or training needs room
            under the iteration limit that only deleting published or foreign iterations
            would make.
    """
    found = IterationChanges([], [])
    live = _adopt_interrupted(live, project_updated, found)
    train = _compare_training(desired.training, live, dataset_changes)
    found.operations.extend(train)
    trains_new = any(not op.wait_only for op in train)
    _compare_publish(desired, live, trains_new, found)
    _note_iterations(live, desired.publish.name if desired.publish else None, found)
    return found


# --- interrupted training ----------------------------------------------------------------


def _adopt_interrupted(
    live: LiveState, project_updated: bool, found: IterationChanges
) -> LiveState:
    """Rename the iteration an interrupted apply started; the live state as it will be."""
    project = live.project
    if project is None or project.training_marker is None:
        return live
    marker = project.training_marker
    leftover = _leftover(live.iterations, marker)
    if leftover is None:
        if not project_updated:
            found.operations.append(_clear_marker(live, marker))
        return live
    found.operations.append(
        ops.RenameIteration(
            reason=(
                f"an interrupted apply started it to train {marker.iteration_name!r} and "
                "could not name it"
            ),
            reason_code=R.INTERRUPTED_TRAINING,
            iteration_id=leftover.id,
            iteration_name=leftover.name,
            new_name=marker.iteration_name,
        )
    )
    renamed = replace(leftover, name=marker.iteration_name)
    iterations = tuple(renamed if i.id == leftover.id else i for i in live.iterations)
    return replace(live, iterations=iterations)


def _leftover(
    iterations: tuple[LiveIteration, ...], marker: TrainingMarker
) -> LiveIteration | None:
    """The iteration TrainProject made after the marker was written, if it still has its
    default name (none when the marker's name was already given)."""
    if any(i.name == marker.iteration_name for i in iterations):
        return None
    after = [
        i
        for i in iterations
        if DEFAULT_ITERATION_NAME.match(i.name) and (not marker.after or i.created > marker.after)
    ]
    return min(after, key=lambda i: (i.created, i.id)) if after else None


def _clear_marker(live: LiveState, marker: TrainingMarker) -> ops.Op:
    assert live.project is not None
    description = live.project.description
    return ops.UpdateProject(
        reason="an interrupted apply left its training marker in the project's description",
        reason_code=R.INTERRUPTED_TRAINING,
        project_id=live.project.id,
        name=live.project.name,
        before={"description": with_marker(description, marker)},
        after={"description": description},
    )


# --- training ----------------------------------------------------------------------------


def _of_dataset(live: LiveState, name: str) -> list[LiveIteration]:
    return [i for i in live.iterations if base_iteration_name(i.name) == name]


def _compare_training(
    training: DesiredTraining | None, live: LiveState, dataset_changes: bool
) -> list[ops.Train]:
    if training is None:
        return []
    mine = _of_dataset(live, training.iteration_name)
    if any(i.status == "Completed" for i in mine):
        return []
    code, reason, previous = _training_reason(training, mine, live.iterations)
    candidate = "" if dataset_changes else _adopt_candidate(live, mine)
    before = _previous_settings(live, previous)
    return [
        ops.Train(
            reason=reason,
            reason_code=code,
            iteration_name=training.iteration_name,
            training_type=training.training_type,
            budget_hours=training.budget_hours,
            notification_email=training.notification_email,
            force=training.force,
            wait_only=code is R.TRAINING_IN_PROGRESS,
            previous_iteration=previous,
            previous_settings=before,
            threshold=training.threshold,
            selected_tags=getattr(training, "selected_tags", ()),
            adopt_candidate=candidate,
        )
    ]


def _previous_settings(live: LiveState, previous: str | None) -> dict[str, Any]:
    """The training settings the previous iteration was trained with, as the service
    reports them: the plan shows those that change (training.type, training.budget_hours)."""
    it = next((i for i in live.iterations if i.name == previous), None)
    if it is None or not it.training_type:
        return {}
    return {"training_type": it.training_type, "budget_hours": it.budget_hours}


def _adopt_candidate(live: LiveState, mine: list[LiveIteration]) -> str:
    """The latest trained iteration, which the service may find already trained on this
    very dataset ("training not needed": the images and tags are those it was trained on;
    the service does not count, say, a changed training budget): apply then names it for
    the dataset instead of training again. Cvspec's own iterations, or one trained in the
    portal on the images the spec adopts. (Should the service still answer "not needed"
    for an iteration the plan did not announce, apply trains a new one with force.)"""
    if mine:
        return ""
    trained = [i for i in live.iterations if i.status in ("Completed", *IN_PROGRESS)]
    if not trained:
        return ""
    return max(trained, key=lambda i: (i.created, i.id)).name


def _training_reason(
    training: DesiredTraining, mine: list[LiveIteration], iterations: tuple[LiveIteration, ...]
) -> tuple[ops.Reason, str, str | None]:
    if any(i.status in IN_PROGRESS for i in mine):
        return R.TRAINING_IN_PROGRESS, "an iteration of this dataset is still training", None
    if mine:
        status = mine[-1].status
        return R.TRAINING_FAILED, f"the last training of this dataset ended {status}", None
    trained = [i for i in iterations if i.status == "Completed" and iteration_fingerprint(i.name)]
    if not trained:
        return R.FIRST_TRAINING, "no iteration trained by cvspec yet", None
    latest = max(trained, key=lambda i: (i.created, i.id))
    reason = f"the images, tags or training settings changed since iteration {latest.name!r}"
    return R.DATASET_CHANGED, reason, latest.name


# --- publishing --------------------------------------------------------------------------


def _compare_publish(
    desired: Desired, live: LiveState, trains_new: bool, found: IterationChanges
) -> None:
    publish, training = desired.publish, desired.training
    if publish is None or training is None:
        found.operations += _retention(None, training, live, trains_new, set())
        return
    if not publish.prediction_resource_id:
        raise PlanError(
            "publish.prediction_resource: no prediction resource id; set it in the spec or "
            "set CVSPEC_PREDICTION_RESOURCE_ID"
        )
    target = training.iteration_name
    key = gates_key(publish.gates)
    holder = next((i for i in live.iterations if i.publish_name == publish.name), None)
    served = holder is not None and _serves(holder, target, publish)
    failed = _failed(live, target, key)
    publishing = not served and failed is None
    if failed is not None and not served:
        found.drift.append(_gates_failed(failed, publish.name, holder))
    if publishing:
        found.operations.append(_publish(publish, target, holder, key, _recorded(live, target)))
    dropped = _dropped_names(live, publish) if (served or publishing) else []
    found.operations += [_unpublish(i, publish.name) for i in dropped]
    after = _published_after(live, publish, publishing, {i.id for i in dropped})
    found.operations += _retention(publish, training, live, trains_new, after)


def _serves(it: LiveIteration, target: str, publish: DesiredPublish) -> bool:
    resource = publish.prediction_resource_id or ""
    same = it.prediction_resource_id.lower() == resource.lower()
    return base_iteration_name(it.name) == target and same and failed_gates(it.name) is None


def _failed(live: LiveState, target: str, key: str) -> LiveIteration | None:
    """The dataset's iteration, when it failed these very gates."""
    return next(
        (
            i
            for i in _of_dataset(live, target)
            if i.status == "Completed" and failed_gates(i.name) == key
        ),
        None,
    )


def _gates_failed(it: LiveIteration, name: str, holder: LiveIteration | None) -> Drift:
    when = it.last_modified[:16].replace("T", " ") or "an earlier apply"
    kept = f"{name!r} stays on {holder.name!r}" if holder else f"nothing is published as {name!r}"
    return Drift(
        kind=DriftKind.GATES_FAILED,
        address=f"iteration.{it.name}",
        detail=(
            f"failed the quality gates (apply of {when} UTC); not published again: {kept}. "
            "Change the images or the gates to train or check it again"
        ),
    )


def _recorded(live: LiveState, target: str) -> str:
    """The name of the dataset's iteration when it records failing (other) gates."""
    return next((i.name for i in _of_dataset(live, target) if failed_gates(i.name) is not None), "")


def _publish(
    publish: DesiredPublish, target: str, holder: LiveIteration | None, key: str, recorded: str
) -> ops.Publish:
    assert publish.prediction_resource_id is not None
    if holder is not None:
        code = R.PUBLISH_MOVES
        reason = f"{publish.name!r} is published from {holder.name!r}; it moves in place"
    else:
        code, reason = R.NOT_PUBLISHED, f"nothing is published as {publish.name!r}"
    if recorded:
        reason += (
            f"; {recorded!r} failed other gates, so it is checked again with these and, when "
            f"it passes, renamed {target!r}"
        )
    return ops.Publish(
        reason=reason,
        reason_code=code,
        iteration_name=target,
        publish_name=publish.name,
        prediction_resource_id=publish.prediction_resource_id,
        gates=publish.gates,
        baseline_iteration_id=holder.id if holder else None,
        from_iteration=holder.name if holder else None,
        from_prediction_resource_id=holder.prediction_resource_id if holder else None,
        gates_key=key,
        recorded_failure=recorded,
    )


def _dropped_names(live: LiveState, publish: DesiredPublish) -> list[LiveIteration]:
    """cvspec's iterations published under a name the spec no longer uses."""
    return [
        i
        for i in live.iterations
        if i.publish_name
        and i.publish_name != publish.name
        and iteration_fingerprint(i.name) is not None
    ]


def _unpublish(it: LiveIteration, name: str) -> ops.Op:
    return ops.Unpublish(
        reason=f"the spec publishes as {name!r} now, no longer as {it.publish_name!r}",
        reason_code=R.PUBLISH_NAME_DROPPED,
        iteration_id=it.id,
        iteration_name=it.name,
        publish_name=it.publish_name,
    )


def _published_after(
    live: LiveState, publish: DesiredPublish, publishing: bool, unpublished: set[str]
) -> set[str]:
    """Ids of the iterations still published once the plan ran (the new one aside)."""
    kept = set()
    for i in live.iterations:
        if not i.publish_name or i.id in unpublished:
            continue
        if i.publish_name == publish.name and publishing:
            continue  # the name moves to the new iteration
        kept.add(i.id)
    return kept


# --- retention ---------------------------------------------------------------------------


def _retention(
    publish: DesiredPublish | None,
    training: DesiredTraining | None,
    live: LiveState,
    trains_new: bool,
    published_after: set[str],
) -> list[ops.Op]:
    """Room under the service's limit before training; publish.keep after publishing.

    Raises:
        PlanError: the limit needs deletions that only published, training or foreign
            iterations could give.
    """
    target = training.iteration_name if training else None
    owned = sorted(
        (i for i in live.iterations if iteration_fingerprint(i.name) is not None),
        key=lambda i: (i.created, i.id),
    )
    new = 1 if trains_new else 0
    found: list[ops.Op] = []
    over_limit = len(live.iterations) + new - ITERATION_LIMIT
    if over_limit > 0:
        now = [i for i in owned if _idle(i, target) and not i.publish_name]
        if len(now) < over_limit:
            raise PlanError(_no_room(live, over_limit, len(now)))
        found += [_delete(i, R.ITERATION_LIMIT, after=False) for i in now[:over_limit]]
    if publish is None:
        return found
    gone = {op.iteration_id for op in found if isinstance(op, ops.DeleteIteration)}
    over_keep = len(owned) + new - len(gone) - publish.keep
    later = [
        i for i in owned if i.id not in gone and _idle(i, target) and i.id not in published_after
    ]
    found += [_delete(i, R.RETENTION, after=True, keep=publish.keep) for i in later[:over_keep]]
    return found


def _idle(it: LiveIteration, target: str | None) -> bool:
    """Not the spec's iteration and not training: retention may delete it."""
    return base_iteration_name(it.name) != target and it.status not in IN_PROGRESS


def _delete(it: LiveIteration, code: ops.Reason, after: bool, keep: int = 0) -> ops.Op:
    if code is R.ITERATION_LIMIT:
        reason = f"training needs room under the service's limit of {ITERATION_LIMIT} iterations"
    else:
        reason = f"the spec keeps at most {keep} iteration(s) (publish.keep)"
    return ops.DeleteIteration(
        reason=reason,
        reason_code=code,
        iteration_id=it.id,
        iteration_name=it.name,
        after_publish=after,
    )


def _no_room(live: LiveState, needed: int, deletable: int) -> str:
    return (
        f"training needs room: the project holds {len(live.iterations)} iterations (the "
        f"service's limit is {ITERATION_LIMIT}) and only {deletable} of the {needed} to free "
        "are cvspec's, idle and unpublished; delete or unpublish iterations first"
    )


# --- drift -------------------------------------------------------------------------------


def _note_iterations(live: LiveState, publish_name: str | None, found: IterationChanges) -> None:
    for it in live.iterations:
        if iteration_fingerprint(it.name) is not None:
            if it.publish_name and publish_name is None:
                found.drift.append(_manual_publish(it, "the spec publishes nothing; kept"))
            continue
        found.drift.append(
            Drift(
                kind=DriftKind.MANUAL_ITERATION,
                address=f"iteration.{it.name}",
                detail=f"was not trained by cvspec ({it.status}); kept",
            )
        )
        if it.publish_name and it.publish_name != publish_name:
            found.drift.append(_manual_publish(it, "cvspec did not train this iteration; kept"))


def _manual_publish(it: LiveIteration, why: str) -> Drift:
    return Drift(
        kind=DriftKind.MANUAL_PUBLISH,
        address=f"publish.{it.publish_name}",
        detail=f"iteration {it.name!r} is published under a name the spec does not use; {why}",
    )
