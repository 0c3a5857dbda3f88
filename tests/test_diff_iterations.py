"""The iteration diff through `diff()`, operation by operation with every field: what an
interrupted apply left, training reasons and the iteration announced for adoption, the
gate-failure record, publish moves, unpublishing, retention and the iteration limit, and
the drift of iterations cvspec did not train or no longer publishes. (tests/test_diff.py
holds the table of operation kinds and reasons; these pin what each operation carries.)"""

from __future__ import annotations

from dataclasses import replace

import pytest

from cvspec import ops
from cvspec.diff import ITERATION_LIMIT, diff
from cvspec.errors import PlanError
from cvspec.identity import failed_iteration_name, gates_key
from cvspec.live import LiveIteration
from cvspec.marker import TrainingMarker, with_marker
from cvspec.plan import Drift, DriftKind
from tests.test_diff import FP1, PROJECT, RID, RID2, TRAINED, desired, image, live

R = ops.Reason
MARKER = TrainingMarker("cvspec-fp2", "2026-01-05")


def it(n: int, name: str, status: str = "Completed", **changes: str) -> LiveIteration:
    base = LiveIteration(f"it{n}", name, status, f"2026-01-{n:02d}", "", "")
    return replace(base, **changes)


def test_the_iteration_an_interrupted_apply_started_is_renamed_earliest_first() -> None:
    project = replace(PROJECT, training_marker=MARKER)
    iterations = (
        it(5, "Iteration 1"),  # created exactly at the marker's time: before it
        it(7, "Iteration 3"),
        it(6, "Iteration 2"),
    )
    plan = diff(desired(publish=None), live(project=project, iterations=(TRAINED, *iterations)))
    (rename,) = plan.of_type(ops.RenameIteration)
    assert rename == ops.RenameIteration(
        reason="an interrupted apply started it to train 'cvspec-fp2' and could not name it",
        reason_code=R.INTERRUPTED_TRAINING,
        iteration_id="it6",
        iteration_name="Iteration 2",
        new_name="cvspec-fp2",
    )


def test_a_marker_whose_training_never_started_is_cleared_from_the_description() -> None:
    project = replace(PROJECT, description="", training_marker=MARKER)
    plan = diff(desired(publish=None), live(project=project))
    (clear,) = plan.of_type(ops.UpdateProject)
    assert clear == ops.UpdateProject(
        reason="an interrupted apply left its training marker in the project's description",
        reason_code=R.INTERRUPTED_TRAINING,
        project_id="pid",
        name="p",
        before={"description": with_marker("", MARKER)},
        after={"description": ""},
    )


@pytest.mark.parametrize(
    ("iterations", "code", "reason", "previous"),
    [
        ((), R.FIRST_TRAINING, "no iteration trained by cvspec yet", None),
        (
            (it(1, FP1, "Training"),),
            R.TRAINING_IN_PROGRESS,
            "an iteration of this dataset is still training",
            None,
        ),
        (
            (it(1, FP1, "Failed"),),
            R.TRAINING_FAILED,
            "the last training of this dataset ended Failed",
            None,
        ),
        (
            (it(1, "cvspec-old1"), it(3, "cvspec-old3"), it(2, "Iteration 9")),
            R.DATASET_CHANGED,
            "the images, tags or training settings changed since iteration 'cvspec-old3'",
            "cvspec-old3",
        ),
    ],
)
def test_the_train_operation_says_why(
    iterations: tuple[LiveIteration, ...], code: ops.Reason, reason: str, previous: str | None
) -> None:
    (train,) = diff(desired(publish=None), live(iterations=iterations)).of_type(ops.Train)
    assert (train.reason_code, train.reason, train.previous_iteration) == (code, reason, previous)
    assert train.wait_only is (code is R.TRAINING_IN_PROGRESS)


@pytest.mark.parametrize(
    ("iterations", "candidate"),
    [
        ((), ""),
        ((it(1, "Iteration 1", "Failed"),), ""),
        ((it(1, "Iteration 1"), it(3, "cvspec-x", "Training"), it(2, "mine")), "cvspec-x"),
        ((it(1, "Iteration 1", "Queued"), it(2, "other", "Failed")), "Iteration 1"),
    ],
)
def test_without_dataset_changes_the_latest_trained_iteration_is_announced_for_adoption(
    iterations: tuple[LiveIteration, ...], candidate: str
) -> None:
    (train,) = diff(desired(publish=None), live(iterations=iterations)).of_type(ops.Train)
    assert train.adopt_candidate == candidate


def test_an_iteration_that_failed_these_gates_is_drift_not_a_publish() -> None:
    gates = ops.Gates(min_precision=0.9)
    failed = it(
        2, failed_iteration_name(FP1, gates_key(gates)), last_modified="2026-02-03T04:05:06Z"
    )
    holder = it(1, "cvspec-old", publish_name="prod", prediction_resource_id=RID)
    want = desired(publish=replace(desired().publish, gates=gates))
    plan = diff(want, live(iterations=(holder, failed)))
    assert not plan.of_type(ops.Publish)
    (drift,) = [d for d in plan.drift if d.kind is DriftKind.GATES_FAILED]
    assert drift == Drift(
        kind=DriftKind.GATES_FAILED,
        address=f"iteration.{failed.name}",
        detail=(
            "failed the quality gates (apply of 2026-02-03 04:05 UTC); not published again: "
            "'prod' stays on 'cvspec-old'. Change the images or the gates to train or check it "
            "again"
        ),
    )
    alone = diff(want, live(iterations=(replace(failed, last_modified=""),)))
    (drift,) = [d for d in alone.drift if d.kind is DriftKind.GATES_FAILED]
    assert drift.detail.startswith(
        "failed the quality gates (apply of an earlier apply UTC); not published again: "
        "nothing is published as 'prod'."
    )


def test_an_iteration_that_failed_other_gates_is_checked_again_and_the_move_is_complete() -> None:
    recorded = it(2, failed_iteration_name(FP1, "0ldgates"))
    holder = it(1, "cvspec-old", publish_name="prod", prediction_resource_id=RID2)
    plan = diff(desired(), live(iterations=(holder, recorded)))
    (publish,) = plan.of_type(ops.Publish)
    assert publish == ops.Publish(
        reason=(
            f"'prod' is published from 'cvspec-old'; it moves in place; {recorded.name!r} "
            f"failed other gates, so it is checked again with these and, when it passes, "
            f"renamed {FP1!r}"
        ),
        reason_code=R.PUBLISH_MOVES,
        iteration_name=FP1,
        publish_name="prod",
        prediction_resource_id=RID,
        gates=ops.Gates(),
        baseline_iteration_id="it1",
        from_iteration="cvspec-old",
        from_prediction_resource_id=RID2,
        gates_key=gates_key(ops.Gates()),
        recorded_failure=recorded.name,
    )
    first = diff(desired(), live(iterations=())).of_type(ops.Publish)[0]
    assert (first.reason, first.from_prediction_resource_id, first.recorded_failure) == (
        "nothing is published as 'prod'",
        None,
        "",
    )


def test_the_served_iteration_on_the_same_resource_in_any_case_is_left_alone() -> None:
    served = it(1, FP1, publish_name="prod", prediction_resource_id=RID.upper())
    assert not diff(desired(), live(iterations=(served,))).of_type(ops.Publish)


def test_a_publish_name_the_spec_dropped_is_unpublished_and_not_kept_for_retention() -> None:
    old = it(1, "cvspec-old", publish_name="staging", prediction_resource_id=RID)
    other = it(2, "cvspec-other", publish_name="prod", prediction_resource_id=RID)
    plan = diff(desired(publish=replace(desired().publish, keep=1)), live(iterations=(old, other)))
    (unpublish,) = plan.of_type(ops.Unpublish)
    assert unpublish == ops.Unpublish(
        reason="the spec publishes as 'prod' now, no longer as 'staging'",
        reason_code=R.PUBLISH_NAME_DROPPED,
        iteration_id="it1",
        iteration_name="cvspec-old",
        publish_name="staging",
    )
    # keep 1: the new iteration stays; both old ones go once 'prod' has moved
    deleted = plan.of_type(ops.DeleteIteration)
    assert [(d.iteration_id, d.after_publish) for d in deleted] == [("it1", True), ("it2", True)]
    assert deleted[0].reason == "the spec keeps at most 1 iteration(s) (publish.keep)"


def test_an_iteration_published_elsewhere_is_kept_by_retention() -> None:
    elsewhere = it(1, "cvspec-a", publish_name="Iteration-x", prediction_resource_id=RID)
    others = (it(2, "cvspec-b"), it(3, "cvspec-c"))
    want = desired(publish=replace(desired().publish, keep=1))
    plan = diff(want, live(iterations=(elsewhere, *others)))
    assert [d.iteration_id for d in plan.of_type(ops.DeleteIteration)] == ["it1", "it2", "it3"]
    kept = diff(
        replace(want, publish=replace(want.publish, name="Iteration-x")),
        live(iterations=(replace(elsewhere, name="Iteration 1"), *others)),
    )
    assert [d.iteration_id for d in kept.of_type(ops.DeleteIteration)] == ["it2", "it3"]


def test_room_under_the_limit_is_made_before_training_and_refused_when_impossible() -> None:
    owned = tuple(it(n, f"cvspec-{n:02d}") for n in range(1, ITERATION_LIMIT + 1))
    plan = diff(desired(publish=None), live(iterations=owned))
    (delete,) = plan.of_type(ops.DeleteIteration)
    assert delete == ops.DeleteIteration(
        reason="training needs room under the service's limit of 20 iterations",
        reason_code=R.ITERATION_LIMIT,
        iteration_id="it1",
        iteration_name="cvspec-01",
        after_publish=False,
    )
    foreign = tuple(it(n, f"Iteration {n}") for n in range(1, ITERATION_LIMIT + 1))
    with pytest.raises(PlanError) as refused:
        diff(desired(publish=None), live(iterations=foreign))
    assert str(refused.value) == (
        "training needs room: the project holds 20 iterations (the service's limit is 20) and "
        "only 0 of the 1 to free are cvspec's, idle and unpublished; delete or unpublish "
        "iterations first"
    )


def test_iterations_published_outside_the_spec_are_drift() -> None:
    mine = it(1, "cvspec-a", publish_name="old", prediction_resource_id=RID)
    hand = it(2, "Iteration 2", "Completed", publish_name="manual", prediction_resource_id=RID)
    plan = diff(desired(publish=None), live(iterations=(TRAINED, mine, hand)))
    published = [d for d in plan.drift if d.kind is DriftKind.MANUAL_PUBLISH]
    assert published == [
        Drift(
            DriftKind.MANUAL_PUBLISH,
            "publish.prod",
            f"iteration {TRAINED.name!r} is published under a name the spec does not use; the "
            "spec publishes nothing; kept",
        ),
        Drift(
            DriftKind.MANUAL_PUBLISH,
            "publish.old",
            "iteration 'cvspec-a' is published under a name the spec does not use; the spec "
            "publishes nothing; kept",
        ),
        Drift(
            DriftKind.MANUAL_PUBLISH,
            "publish.manual",
            "iteration 'Iteration 2' is published under a name the spec does not use; cvspec "
            "did not train this iteration; kept",
        ),
    ]
    hand_prod = replace(hand, publish_name="prod")
    plan = diff(desired(), live(iterations=(hand_prod,)))
    assert not [d for d in plan.drift if d.kind is DriftKind.MANUAL_PUBLISH]
    (manual,) = [d for d in plan.drift if d.kind is DriftKind.MANUAL_ITERATION]
    assert manual.detail == "was not trained by cvspec (Completed); kept"


def test_the_train_operation_carries_the_spec_training_settings() -> None:
    training = replace(
        desired().training,
        training_type="Advanced",
        budget_hours=3,
        notification_email="team@example.com",
        force=True,
        threshold=0.7,
    )
    old = it(1, "cvspec-old")
    (train,) = diff(desired(training=training, publish=None), live(iterations=(old,))).of_type(
        ops.Train
    )
    assert train == ops.Train(
        reason="the images, tags or training settings changed since iteration 'cvspec-old'",
        reason_code=R.DATASET_CHANGED,
        iteration_name=FP1,
        training_type="Advanced",
        budget_hours=3,
        notification_email="team@example.com",
        force=True,
        wait_only=False,
        previous_iteration="cvspec-old",
        threshold=0.7,
        selected_tags=("a", "b"),
        adopt_candidate="cvspec-old",
    )


def test_with_dataset_changes_no_iteration_is_announced_for_adoption() -> None:
    old = it(1, "cvspec-old")
    (train,) = diff(
        desired(images=(*desired().images, image(3, "a")), publish=None), live(iterations=(old,))
    ).of_type(ops.Train)
    assert train.adopt_candidate == ""


def test_a_marker_is_not_cleared_on_its_own_when_the_description_is_updated_anyway() -> None:
    project = replace(PROJECT, description="old", training_marker=MARKER)
    plan = diff(desired(description="new", publish=None), live(project=project))
    (update,) = plan.of_type(ops.UpdateProject)
    assert update.reason_code is R.SETTINGS_DIFFER


def test_retention_never_deletes_the_spec_iteration_that_failed_its_gates() -> None:
    gates = ops.Gates(min_precision=0.9)
    holder = it(1, "cvspec-old", publish_name="prod", prediction_resource_id=RID)
    failed = it(2, failed_iteration_name(FP1, gates_key(gates)))
    want = desired(publish=replace(desired().publish, gates=gates, keep=1))
    assert not diff(want, live(iterations=(holder, failed))).of_type(ops.DeleteIteration)


def test_the_iteration_limit_never_deletes_the_spec_iteration_being_trained_again() -> None:
    failed = it(1, FP1, "Failed")  # the oldest: trained again, under the same name
    others = tuple(it(n, f"cvspec-{n:02d}") for n in range(2, ITERATION_LIMIT + 1))
    plan = diff(desired(publish=None), live(iterations=(failed, *others)))
    assert [d.iteration_id for d in plan.of_type(ops.DeleteIteration)] == ["it2"]


def test_without_training_retention_and_the_limit_count_no_new_iteration() -> None:
    served = replace(TRAINED, created="2026-01-09")
    olds = (it(2, "cvspec-a"), it(3, "cvspec-b"))
    want = desired(publish=replace(desired().publish, keep=2))
    plan = diff(want, live(iterations=(served, *olds)))
    assert not plan.of_type(ops.Train)
    assert [d.iteration_id for d in plan.of_type(ops.DeleteIteration)] == ["it2"]
    full = tuple(it(n, f"Iteration {n}") for n in range(2, ITERATION_LIMIT + 1))
    assert not diff(desired(), live(iterations=(served, *full))).of_type(ops.DeleteIteration)


@pytest.mark.parametrize("status", ["Training", "Failed"])
def test_no_adoption_is_announced_while_the_dataset_has_an_iteration(status: str) -> None:
    olds = (it(1, "cvspec-old"), it(2, FP1, status))
    (train,) = diff(desired(publish=None), live(iterations=olds)).of_type(ops.Train)
    assert train.adopt_candidate == ""


def test_publishing_without_a_prediction_resource_says_how_to_give_one() -> None:
    with pytest.raises(PlanError) as refused:
        diff(desired(publish=replace(desired().publish, prediction_resource_id=None)), live())
    assert str(refused.value) == (
        "publish.prediction_resource: no prediction resource id; set it in the spec or set "
        "CVSPEC_PREDICTION_RESOURCE_ID"
    )


def test_retention_keeps_the_holder_whatever_the_order_of_iterations() -> None:
    gates = ops.Gates(min_precision=0.9)
    older = it(1, "cvspec-older")
    holder = it(2, "cvspec-old", publish_name="prod", prediction_resource_id=RID)
    failed = it(3, failed_iteration_name(FP1, gates_key(gates)))
    want = desired(publish=replace(desired().publish, gates=gates, keep=1))
    plan = diff(want, live(iterations=(older, holder, failed)))
    assert [d.iteration_id for d in plan.of_type(ops.DeleteIteration)] == ["it1"]
