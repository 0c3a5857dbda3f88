"""The pure diff, table-driven: (desired, live) -> operations with reasons, and drift. No I/O."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from cvspec import ops
from cvspec.desired import Desired, DesiredImage, DesiredPublish, DesiredTag, DesiredTraining
from cvspec.diff import ITERATION_LIMIT, destroy_plan, diff
from cvspec.errors import PlanError
from cvspec.identity import dataset_iteration_name, failed_iteration_name, gates_key
from cvspec.live import LiveDomain, LiveImage, LiveIteration, LiveProject, LiveState, LiveTag
from cvspec.marker import TrainingMarker
from cvspec.plan import DriftKind
from tests.test_diff_resources import ACCOUNT_OPS, ACCOUNT_REASONS

R = ops.Reason
GENERAL = LiveDomain("ee85a74c-405e-4adc-bb47-ffa8ca0c9f31", "General", "Classification")
FOOD = LiveDomain("c151d5b5-dd07-472a-acc8-15d29dea8518", "Food", "Classification")
DETECTION = LiveDomain("da2e3a8a-40a5-4171-82f4-58522f70fbc1", "General", "ObjectDetection")
DOMAINS = (GENERAL, FOOD, DETECTION)
RID = "/subscriptions/0/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/p"
RID2 = "/subscriptions/0/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/q"


def _sha(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


def image(n: int, *tags: str) -> DesiredImage:
    return DesiredImage(_sha(n)[:16], _sha(n), f"img/{n}.png", tuple(sorted(tags)))


def managed(n: int, *tags: str, image_id: str | None = None) -> LiveImage:
    return LiveImage(image_id or f"i{n}", _sha(n)[:16], tuple(sorted(tags)))


# The name the default spec's dataset trains under (images 1: a, 2: b; no settings).
FP1 = dataset_iteration_name("{}", [(_sha(1)[:16], ("a",)), (_sha(2)[:16], ("b",))])
# The diff's tables use one image per tag: the service's minimum is lowered to match.
TRAINING = DesiredTraining(FP1, "Regular", 0, None, False, min_images_per_tag=1)
NEW_TRAINING = DesiredTraining("cvspec-fp2", "Regular", 0, None, False, min_images_per_tag=1)


def desired(**changes: object) -> Desired:
    base = Desired(
        project_name="p",
        description="",
        domain="General",
        classification_type="Multiclass",
        tags=(DesiredTag("a", "", "Regular"), DesiredTag("b", "", "Regular")),
        images=(image(1, "a"), image(2, "b")),
        training=TRAINING,
        publish=DesiredPublish("prod", RID, 3, ops.Gates()),
        prune_tags=False,
        prune_images=False,
        prune_unmanaged=False,
        protect=False,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


PROJECT = LiveProject("pid", "p", "", GENERAL.id, "Multiclass")
TAGS = (LiveTag("ta", "a", "", "Regular", 1), LiveTag("tb", "b", "", "Regular", 1))
IMAGES = (managed(1, "a"), managed(2, "b"))
TRAINED = LiveIteration("it1", FP1, "Completed", "2026-01-01", "prod", RID)


def iteration(n: int, name: str | None = None, **changes: object) -> LiveIteration:
    base = LiveIteration(
        f"it-old{n}", name or f"cvspec-old{n}", "Completed", f"2025-01-{n:02d}", "", ""
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def live(**changes: object) -> LiveState:
    base = LiveState(DOMAINS, PROJECT, TAGS, IMAGES, (TRAINED,))
    return replace(base, **changes)  # type: ignore[arg-type]


def unpublished(it: LiveIteration) -> LiveIteration:
    return replace(it, publish_name="", prediction_resource_id="")


Step = tuple[str, R]
CREATE_ALL: list[Step] = [
    ("CreateProject", R.MISSING),
    ("CreateTag", R.MISSING),
    ("CreateTag", R.MISSING),
    ("UploadImages", R.MISSING),
    ("Train", R.FIRST_TRAINING),
    ("Publish", R.NOT_PUBLISHED),
]
REPLACE_ALL: list[Step] = [
    ("DeleteProject", R.REPLACE_BECAUSE_CANNOT_UPDATE),
    ("CreateProject", R.REPLACE_BECAUSE_CANNOT_UPDATE),
    *CREATE_ALL[1:],
]
RETRAIN: list[Step] = [
    ("Train", R.DATASET_CHANGED),
    ("Publish", R.PUBLISH_MOVES),
]
GATES = ops.Gates(min_precision=0.9)
FAILED1 = failed_iteration_name(FP1, gates_key(GATES))
MARKER = TrainingMarker("cvspec-fp2", "2026-01-01")

CASES: list[tuple[str, Desired, LiveState, list[Step]]] = [
    ("in sync", desired(), live(), []),
    ("nothing exists", desired(), LiveState(DOMAINS, None), CREATE_ALL),
    (
        "description changed",
        desired(description="new"),
        live(),
        [("UpdateProject", R.SETTINGS_DIFFER)],
    ),
    ("domain changed", desired(domain="Food"), live(), [("UpdateProject", R.SETTINGS_DIFFER)]),
    ("domain given by id", desired(domain=GENERAL.id.upper()), live(), []),
    (
        "classification changed is a replace",
        desired(classification_type="Multilabel"),
        live(),
        REPLACE_ALL,
    ),
    (
        "detection domain in the service is a replace",
        desired(),
        live(project=replace(PROJECT, domain_id=DETECTION.id)),
        REPLACE_ALL,
    ),
    (
        "new tag from images",
        desired(images=(image(1, "a"), image(2, "b"), image(3, "c")), training=NEW_TRAINING),
        live(),
        [("CreateTag", R.MISSING), ("UploadImages", R.MISSING), *RETRAIN],
    ),
    (
        "tag description changed",
        desired(tags=(DesiredTag("a", "apples", "Regular"), DesiredTag("b", "", "Regular"))),
        live(),
        [("UpdateTag", R.SETTINGS_DIFFER)],
    ),
    (
        "tag type changed",
        desired(tags=(DesiredTag("a", "", "Regular"), DesiredTag("b", "", "Negative"))),
        live(),
        [("UpdateTag", R.SETTINGS_DIFFER)],
    ),
    (
        "tag name differs only in case",
        desired(),
        live(tags=(LiveTag("ta", "A", "", "Regular", 1), TAGS[1])),
        [("UpdateTag", R.SETTINGS_DIFFER)],
    ),
    (
        "extra tag kept without prune",
        desired(),
        live(tags=(*TAGS, LiveTag("tc", "c", "", "Regular", 0))),
        [],
    ),
    (
        "extra tag deleted with prune",
        desired(prune_tags=True),
        live(tags=(*TAGS, LiveTag("tc", "c", "", "Regular", 0))),
        [("DeleteTag", R.NOT_IN_SPEC)],
    ),
    (
        "pruned tag untags its images itself",
        desired(prune_tags=True),
        live(
            tags=(*TAGS, LiveTag("tc", "c", "", "Regular", 1)),
            images=(managed(1, "a", "c"), IMAGES[1]),
        ),
        [("DeleteTag", R.NOT_IN_SPEC)],
    ),
    (
        "retag moves remove before add",
        desired(images=(image(1, "b"), image(2, "a")), training=NEW_TRAINING),
        live(),
        [("RemoveImageTags", R.TAGS_DIFFER), ("AddImageTags", R.TAGS_DIFFER), *RETRAIN],
    ),
    ("managed image gone from spec is kept", desired(images=(image(1, "a"),)), live(), []),
    (
        "managed image gone from spec deleted with prune",
        desired(images=(image(1, "a"),), prune_images=True),
        live(),
        [("DeleteImages", R.NOT_IN_SPEC)],
    ),
    (
        "unmanaged images are never deleted",
        desired(prune_images=True, prune_tags=True),
        live(images=(*IMAGES, LiveImage("u", None, ("c",)))),
        [],
    ),
    (
        "an unmanaged image tagged with a spec tag is trained on: a new iteration",
        desired(),
        live(images=(*IMAGES, LiveImage("u", None, ("a",)))),
        RETRAIN,
    ),
    (
        "an image kept without prune.images, tagged only with an unlisted tag, is not trained",
        desired(images=(image(1, "a"), image(3, "b"))),
        live(images=(*IMAGES, managed(3, "b")), tags=(*TAGS, LiveTag("tc", "c", "", "", 1))),
        [("Train", R.DATASET_CHANGED), *RETRAIN[1:]],
    ),
    (
        "an image left pending is adopted, not uploaded again",
        desired(),
        live(images=(managed(1, "a"), replace(managed(2, "b"), pending=True))),
        [("AdoptPendingImages", R.PENDING_IMAGES)],
    ),
    (
        "a pending image the spec no longer lists is adopted, then pruned",
        desired(images=(image(1, "a"), image(3, "b")), prune_images=True, training=None),
        live(images=(managed(1, "a"), managed(3, "b"), replace(managed(2, "b"), pending=True))),
        [("AdoptPendingImages", R.PENDING_IMAGES), ("DeleteImages", R.NOT_IN_SPEC)],
    ),
    (
        "unmanaged images are deleted only when the spec asks",
        desired(prune_unmanaged=True),
        live(images=(*IMAGES, LiveImage("u", None, ("a",)))),
        [("DeleteImages", R.UNMANAGED)],
    ),
    (
        "an image uploaded but never marked is uploaded again (the service merges it)",
        desired(),
        live(images=(managed(1, "a"), LiveImage("u", None, ("b",)))),
        [("UploadImages", R.MISSING), *RETRAIN],
    ),
    (
        "training in progress is waited for",
        desired(),
        live(iterations=(replace(unpublished(TRAINED), status="Training"),)),
        [("Train", R.TRAINING_IN_PROGRESS), ("Publish", R.NOT_PUBLISHED)],
    ),
    (
        "queued training is waited for",
        desired(),
        live(iterations=(replace(unpublished(TRAINED), status="Queued"),)),
        [("Train", R.TRAINING_IN_PROGRESS), ("Publish", R.NOT_PUBLISHED)],
    ),
    (
        "failed training is retried",
        desired(),
        live(iterations=(replace(unpublished(TRAINED), status="Failed"),)),
        [("Train", R.TRAINING_FAILED), ("Publish", R.NOT_PUBLISHED)],
    ),
    (
        "images uploaded, apply died before training",
        desired(training=NEW_TRAINING),
        live(),
        RETRAIN,
    ),
    (
        "only hand-trained iterations",
        desired(),
        live(iterations=(iteration(1, "Iteration 1"),)),
        [("Train", R.FIRST_TRAINING), ("Publish", R.NOT_PUBLISHED)],
    ),
    (
        "trained but not published",
        desired(),
        live(iterations=(unpublished(TRAINED),)),
        [("Publish", R.NOT_PUBLISHED)],
    ),
    (
        "published to another prediction resource",
        desired(publish=DesiredPublish("prod", RID2, 3, ops.Gates())),
        live(),
        [("Publish", R.PUBLISH_MOVES)],
    ),
    (
        "publish name held by a hand-published iteration moves in place",
        desired(),
        live(iterations=(unpublished(TRAINED), iteration(1, "Iteration 1", publish_name="prod"))),
        [("Publish", R.PUBLISH_MOVES)],
    ),
    (
        "a changed publish name publishes the new one, then removes the old",
        desired(publish=DesiredPublish("prod2", RID, 3, ops.Gates())),
        live(),
        [("Publish", R.NOT_PUBLISHED), ("Unpublish", R.PUBLISH_NAME_DROPPED)],
    ),
    (
        "an iteration that failed these gates is not published again",
        desired(publish=DesiredPublish("prod", RID, 3, GATES)),
        live(iterations=(replace(unpublished(TRAINED), name=FAILED1),)),
        [],
    ),
    (
        "an iteration that failed other gates is checked again",
        desired(publish=DesiredPublish("prod", RID, 3, ops.Gates(min_precision=0.5))),
        live(iterations=(replace(unpublished(TRAINED), name=FAILED1),)),
        [("Publish", R.NOT_PUBLISHED)],
    ),
    (
        "the name stays where it is while the spec's iteration failed the gates",
        desired(publish=DesiredPublish("prod2", RID, 3, GATES)),
        live(
            iterations=(
                iteration(1, "cvspec-old", publish_name="prod"),
                replace(TRAINED, name=FAILED1, publish_name="", prediction_resource_id=""),
            )
        ),
        [],
    ),
    (
        "an iteration an interrupted apply started is renamed and adopted",
        desired(training=NEW_TRAINING),
        live(
            project=replace(PROJECT, training_marker=MARKER),
            iterations=(
                TRAINED,
                iteration(9, "Iteration 9", created="2026-02-01", status="Training"),
            ),
        ),
        [
            ("RenameIteration", R.INTERRUPTED_TRAINING),
            ("Train", R.TRAINING_IN_PROGRESS),
            ("Publish", R.PUBLISH_MOVES),
        ],
    ),
    (
        "a hand-trained iteration older than the marker is not adopted",
        desired(),
        live(
            project=replace(PROJECT, training_marker=MARKER),
            iterations=(TRAINED, iteration(9, "Iteration 9", created="2025-12-01")),
        ),
        [("UpdateProject", R.INTERRUPTED_TRAINING)],
    ),
    (
        "old iterations beyond keep are deleted, oldest first, after publishing",
        desired(training=NEW_TRAINING),
        live(iterations=(iteration(1), iteration(2), iteration(3), TRAINED)),
        [
            *RETRAIN,
            ("DeleteIteration", R.RETENTION),
            ("DeleteIteration", R.RETENTION),
        ],
    ),
    (
        "the previously published iteration is deleted after the publish moves",
        desired(training=NEW_TRAINING, publish=DesiredPublish("prod", RID, 1, ops.Gates())),
        live(),
        [*RETRAIN, ("DeleteIteration", R.RETENTION)],
    ),
    (
        "the iteration limit makes room even for hand-trained iterations' sake",
        desired(training=NEW_TRAINING, publish=DesiredPublish("prod", RID, 20, ops.Gates())),
        live(
            iterations=(
                *(iteration(n, f"Iteration {n}") for n in range(1, ITERATION_LIMIT - 1)),
                iteration(30),
                TRAINED,
            )
        ),
        [("DeleteIteration", R.ITERATION_LIMIT), *RETRAIN],
    ),
    (
        "an iteration still training is never deleted",
        desired(training=NEW_TRAINING, publish=DesiredPublish("prod", RID, 1, ops.Gates())),
        live(iterations=(iteration(1, status="Training"), TRAINED)),
        [*RETRAIN, ("DeleteIteration", R.RETENTION)],
    ),
    ("no training asked", desired(training=None, publish=None), live(iterations=()), []),
    (
        "tag renamed (renamed_from): one update, the iteration renamed, no training",
        desired(
            tags=(DesiredTag("b", "", "Regular"), DesiredTag("c", "", "Regular", "a")),
            images=(image(1, "c"), image(2, "b")),
            training=replace(
                TRAINING,
                iteration_name=dataset_iteration_name(
                    "{}", [(_sha(1)[:16], ("c",)), (_sha(2)[:16], ("b",))]
                ),
            ),
        ),
        live(),
        [("UpdateTag", R.TAG_RENAMED), ("RenameIteration", R.TAG_RENAMED)],
    ),
]


@pytest.mark.parametrize(("name", "want", "have", "expected"), CASES, ids=[c[0] for c in CASES])
def test_diff(name: str, want: Desired, have: LiveState, expected: list[Step]) -> None:
    plan = diff(want, have)
    assert [(type(op).__name__, op.reason_code) for op in plan.operations] == expected
    assert all(op.reason for op in plan.operations)


def test_every_operation_and_reason_is_covered_by_the_table() -> None:
    """Account operations come from cvspec.diff_resources (tests/test_diff_resources.py)."""
    seen_ops = {step[0] for case in CASES for step in case[3]} | set(ACCOUNT_OPS)
    seen_reasons = {step[1] for case in CASES for step in case[3]} | {R.DESTROY}
    assert seen_ops == set(ops.op_types())
    assert seen_reasons | set(ACCOUNT_REASONS) == set(R)


def test_diff_is_deterministic() -> None:
    assert diff(desired(), LiveState(DOMAINS, None)) == diff(desired(), LiveState(DOMAINS, None))


def test_replace_carries_the_old_settings_and_both_halves_the_same_reason() -> None:
    plan = diff(desired(classification_type="Multilabel"), live())
    delete, create = plan.operations[:2]
    assert isinstance(delete, ops.DeleteProject) and isinstance(create, ops.CreateProject)
    assert delete.settings["classification_type"] == "Multiclass"
    assert create.classification_type == "Multilabel"
    assert (
        delete.reason
        == create.reason
        == (
            "classification type changes from Multiclass to Multilabel, which the service cannot "
            "change in place"
        )
    )


@pytest.mark.parametrize(
    "project",
    [
        replace(PROJECT, classification_type="Multilabel"),
        replace(PROJECT, domain_id=DETECTION.id),
    ],
)
def test_protected_project_is_never_replaced(project: LiveProject) -> None:
    with pytest.raises(PlanError, match=r"is protected .*refusing to replace it"):
        diff(desired(protect=True), live(project=project))


def test_unknown_domain_is_an_error() -> None:
    with pytest.raises(PlanError, match="unknown classification domain 'Nope'"):
        diff(desired(domain="Nope"), live())


def test_publish_without_a_prediction_resource_is_an_error() -> None:
    with pytest.raises(PlanError, match=r"publish\.prediction_resource"):
        diff(desired(publish=DesiredPublish("prod", None, 3, ops.Gates())), live())


def test_uploads_carry_paths_tags_hashes_and_urls() -> None:
    url_image = replace(
        image(3, "b"), path="https://example.org/3.png", url="https://example.org/3.png"
    )
    plan = diff(desired(images=(image(1, "a"), image(2, "b"), url_image)), live())
    (upload,) = plan.of_type(ops.UploadImages)
    assert upload.images == (ops.ImageUpload(_sha(3), url_image.path, ("b",), url=url_image.url),)


def test_retags_name_the_image_and_only_the_changed_tags() -> None:
    want = desired(
        classification_type="Multiclass",
        images=(image(1, "b"), image(2, "a"), image(3, "a")),
        training=NEW_TRAINING,
    )
    plan = diff(want, live(images=(*IMAGES, managed(3, "a"))))
    assert plan.of_type(ops.RemoveImageTags)[0].images == (
        ops.ImageRetag("i1", "img/1.png", ("a",)),
        ops.ImageRetag("i2", "img/2.png", ("b",)),
    )
    assert plan.of_type(ops.AddImageTags)[0].images == (
        ops.ImageRetag("i1", "img/1.png", ("b",)),
        ops.ImageRetag("i2", "img/2.png", ("a",)),
    )


def test_pruned_images_are_deleted_by_id_with_their_tags() -> None:
    plan = diff(desired(images=(image(1, "a"),), prune_images=True), live())
    (delete,) = plan.of_type(ops.DeleteImages)
    assert (delete.image_ids, delete.tags) == (("i2",), (("b",),))


def test_publish_carries_gates_and_the_iteration_it_replaces() -> None:
    gates = ops.Gates(
        min_precision=0.9, per_tag=(ops.TagGate("a", min_recall=0.8),), no_regression=True
    )
    plan = diff(
        desired(training=NEW_TRAINING, publish=DesiredPublish("prod", RID, 3, gates)), live()
    )
    (publish,) = plan.of_type(ops.Publish)
    assert (publish.iteration_name, publish.gates, publish.baseline_iteration_id) == (
        "cvspec-fp2",
        gates,
        "it1",
    )


def test_train_names_the_iteration_by_fingerprint_and_the_previous_one() -> None:
    (train,) = diff(desired(training=NEW_TRAINING), live()).of_type(ops.Train)
    assert (train.iteration_name, train.previous_iteration) == ("cvspec-fp2", FP1)


TRAINED_REGULAR = replace(TRAINED, training_type="Regular", budget_hours=0)
ADVANCED = replace(NEW_TRAINING, training_type="Advanced", budget_hours=2)


@pytest.mark.parametrize(
    ("previous", "training", "expected"),
    [
        (TRAINED_REGULAR, ADVANCED, {"training_type": "Regular", "budget_hours": 0}),
        (TRAINED_REGULAR, NEW_TRAINING, {"training_type": "Regular", "budget_hours": 0}),
        (
            replace(TRAINED, training_type="Advanced", budget_hours=3),
            ADVANCED,
            {"training_type": "Advanced", "budget_hours": 3},
        ),
        (TRAINED, ADVANCED, {}),  # the service did not say how it was trained
    ],
    ids=["type-and-budget", "same-settings", "budget-only", "unknown"],
)
def test_train_carries_the_settings_of_the_iteration_it_succeeds(
    previous: LiveIteration, training: DesiredTraining, expected: dict
) -> None:
    (train,) = diff(desired(training=training), live(iterations=(previous,))).of_type(ops.Train)
    assert train.previous_settings == expected


DRIFT_CASES: list[tuple[str, LiveState, Desired, list[tuple[object, ...]]]] = [
    (
        "unmanaged images, by what training does with them, counted per tag",
        live(
            images=(
                *IMAGES,
                LiveImage("u1", None, ("c",)),
                LiveImage("u2", None, ()),
                LiveImage("u3", None, ("a",)),
                LiveImage("u4", None, ("c", "d")),
            )
        ),
        desired(),
        [
            (DriftKind.UNMANAGED_TRAINED, "images", (("a", 1),), ("u3",)),
            (DriftKind.UNMANAGED_UNTAGGED, "images", (("(untagged)", 1),), ("u2",)),
            (DriftKind.UNMANAGED_IMAGES, "images", (("c", 2), ("d", 1)), ("u1", "u4")),
        ],
    ),
    (
        "a pending image that could not be downloaded is noted, not adopted",
        live(images=(*IMAGES, LiveImage("p", None, (), pending=True))),
        desired(),
        [(DriftKind.PENDING_IMAGES, "images", (("(untagged)", 1),), ("p",))],
    ),
    (
        "images an interrupted apply left pending",
        live(images=(managed(1, "a"), replace(managed(2, "b"), pending=True))),
        desired(),
        [(DriftKind.PENDING_IMAGES, "images", (("b", 1),), ("i2",))],
    ),
    (
        "cvspec images the spec dropped",
        live(),
        desired(images=(image(1, "a"),)),
        [(DriftKind.UNLISTED_IMAGES, "images", (("b", 1),), ("i2",))],
    ),
    (
        "a tag added in the portal",
        live(tags=(*TAGS, LiveTag("tc", "c", "", "Regular", 0))),
        desired(),
        [(DriftKind.UNLISTED_TAG, "tag.c", (), ())],
    ),
    (
        "an iteration trained and published by hand",
        live(iterations=(TRAINED, iteration(1, "Iteration 1", publish_name="manual"))),
        desired(),
        [
            (DriftKind.MANUAL_ITERATION, "iteration.Iteration 1", (), ()),
            (DriftKind.MANUAL_PUBLISH, "publish.manual", (), ()),
        ],
    ),
    (
        "the spec's iteration failed the gates",
        live(iterations=(replace(unpublished(TRAINED), name=FAILED1),)),
        desired(publish=DesiredPublish("prod", RID, 3, GATES)),
        [(DriftKind.GATES_FAILED, f"iteration.{FAILED1}", (), ())],
    ),
    (
        "two images with one identity",
        live(images=(*IMAGES, managed(1, "a", image_id="i9"))),
        desired(),
        [(DriftKind.DUPLICATE_IMAGES, "images", (("a", 1),), ("i9",))],
    ),
]


@pytest.mark.parametrize(
    ("name", "have", "want", "expected"), DRIFT_CASES, ids=[c[0] for c in DRIFT_CASES]
)
def test_drift(
    name: str, have: LiveState, want: Desired, expected: list[tuple[object, ...]]
) -> None:
    plan = diff(want, have)
    assert [(d.kind, d.address, d.counts, d.items) for d in plan.drift] == expected
    # Drift that changes what is trained, and pending images, are acted on by the plan.
    adopted = [d for d in plan.drift if "this plan adopts them" in d.detail]
    acted_on = any(d.changes_model for d in plan.drift) or bool(adopted)
    assert plan.is_empty() is not acted_on
    assert bool(plan.of_type(ops.AdoptPendingImages)) is bool(adopted)


def test_every_drift_kind_is_covered() -> None:
    assert {e[0] for case in DRIFT_CASES for e in case[3]} == set(DriftKind)


def test_destroy_plan() -> None:
    plan = destroy_plan("p", live(), protect=False)
    assert [(type(op).__name__, op.reason_code) for op in plan.operations] == [
        ("DeleteProject", R.DESTROY)
    ]
    assert plan.destroy
    assert destroy_plan("p", LiveState(DOMAINS, None), protect=False).is_empty()
    with pytest.raises(PlanError, match="protected"):
        destroy_plan("p", live(), protect=True)


def test_the_plan_fingerprints_the_live_state_it_read() -> None:
    one, other = diff(desired(), live()), diff(desired(), live(images=IMAGES[:1]))
    assert one.live_fingerprint != other.live_fingerprint
    assert one.live_summary is not None and one.live_summary.images == 2
    tag_counts_only = live(tags=(replace(TAGS[0], image_count=9), TAGS[1]))
    assert diff(desired(), tag_counts_only).live_fingerprint == one.live_fingerprint


def test_retention_deletes_the_oldest_first() -> None:
    olds = (iteration(3), iteration(1), iteration(2))
    plan = diff(desired(training=NEW_TRAINING), live(iterations=(*olds, TRAINED)))
    deleted = [op.iteration_name for op in plan.of_type(ops.DeleteIteration)]
    assert deleted == ["cvspec-old1", "cvspec-old2"]


def test_training_carries_the_gates_threshold_for_its_evaluation() -> None:
    training = DesiredTraining(FP1, "Regular", 0, None, False, threshold=0.7, min_images_per_tag=1)
    plan = diff(desired(training=training, publish=None), LiveState(DOMAINS, None))
    (train,) = plan.of_type(ops.Train)
    assert train.threshold == 0.7


def test_training_without_room_under_the_limit_is_refused_at_plan_time() -> None:
    hand = tuple(iteration(n, f"Iteration {n}") for n in range(1, ITERATION_LIMIT))
    with pytest.raises(PlanError, match="training needs room"):
        diff(desired(training=NEW_TRAINING), live(iterations=(*hand, TRAINED)))


def test_retention_never_deletes_the_published_iteration_before_publishing() -> None:
    olds = tuple(iteration(n) for n in range(1, ITERATION_LIMIT))
    plan = diff(desired(training=NEW_TRAINING), live(iterations=(*olds, TRAINED)))
    before = [op for op in plan.of_type(ops.DeleteIteration) if not op.after_publish]
    assert [op.iteration_id for op in before] == ["it-old1"]
    assert "it1" not in {op.iteration_id for op in plan.of_type(ops.DeleteIteration)}
    train = plan.operations.index(plan.of_type(ops.Train)[0])
    assert all(plan.operations.index(op) < train for op in before)


def test_a_publish_move_names_the_iteration_it_moves_from() -> None:
    (publish,) = diff(desired(training=NEW_TRAINING), live()).of_type(ops.Publish)
    assert (publish.from_iteration, publish.gates_key) == (FP1, gates_key(ops.Gates()))


# --- settings: what changes inside a setting, by dotted path (cvspec.settings_diff) ----------

GATES = {"threshold": 0.5, "min_recall": None, "per_tag": {"cat": {"min_recall": 0.8}}}

SETTING_CASES = [
    ("equal", {"description": "x"}, {"description": "x"}, []),
    ("one flat setting", {"description": ""}, {"description": "new"}, [("description", "", "new")]),
    (
        "nested per-tag gate",
        {"gates": GATES},
        {"gates": {**GATES, "per_tag": {"cat": {"min_recall": 0.9}}}},
        [("gates.per_tag.cat.min_recall", 0.8, 0.9)],
    ),
    (
        "a gate set where there was none",
        {"gates": GATES},
        {"gates": {**GATES, "min_recall": 0.7}},
        [("gates.min_recall", None, 0.7)],
    ),
    (
        "a per-tag gate added and one removed",
        {"gates": GATES},
        {"gates": {**GATES, "per_tag": {"dog": {"min_ap": 0.5}}}},
        [
            ("gates.per_tag.dog", None, {"min_ap": 0.5}),
            ("gates.per_tag.cat", {"min_recall": 0.8}, None),
        ],
    ),
    (
        "a tag name that is not a plain word is quoted",
        {"per_tag": {"big cat": {"min_recall": 0.8}}},
        {"per_tag": {"big cat": {"min_recall": 0.85}}},
        [('per_tag["big cat"].min_recall', 0.8, 0.85)],
    ),
    ("numbers compare by value", {"budget_hours": 1}, {"budget_hours": 1.0}, []),
    (
        "a list is one setting",
        {"selected_tags": ["a", "b"]},
        {"selected_tags": ["a", "c", "d"]},
        [("selected_tags", ["a", "b"], ["a", "c", "d"])],
    ),
    (
        "in the order of the desired settings",
        {"name": "a", "description": "", "type": "Regular"},
        {"name": "A", "description": "d", "type": "Negative"},
        [("name", "a", "A"), ("description", "", "d"), ("type", "Regular", "Negative")],
    ),
]


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [case[1:] for case in SETTING_CASES],
    ids=[case[0] for case in SETTING_CASES],
)
def test_setting_changes(before: dict, after: dict, expected: list) -> None:
    from cvspec.settings_diff import setting_changes

    found = [(c.path, c.before, c.after) for c in setting_changes(before, after)]
    assert found == expected


UPDATE_CASES = [
    (
        "project description",
        desired(description="new"),
        live(),
        ops.UpdateProject,
        {"description": ""},
        {"description": "new"},
    ),
    (
        "project domain",
        desired(domain="Food"),
        live(),
        ops.UpdateProject,
        {"domain_id": GENERAL.id},
        {"domain_id": FOOD.id},
    ),
    (
        "tag type only",
        desired(tags=(DesiredTag("a", "", "Negative"), DesiredTag("b", "", "Regular"))),
        live(),
        ops.UpdateTag,
        {"type": "Regular"},
        {"type": "Negative"},
    ),
    (
        "tag case rename and description",
        desired(
            tags=(DesiredTag("A", "apples", "Regular"), DesiredTag("b", "", "Regular")),
            images=(image(1, "A"), image(2, "b")),
        ),
        live(),
        ops.UpdateTag,
        {"name": "a", "description": ""},
        {"name": "A", "description": "apples"},
    ),
]


@pytest.mark.parametrize(
    ("want", "have", "kind", "before", "after"),
    [case[1:] for case in UPDATE_CASES],
    ids=[case[0] for case in UPDATE_CASES],
)
def test_updates_carry_only_the_changed_settings(
    want: Desired, have: LiveState, kind: type, before: dict, after: dict
) -> None:
    found = [op for op in diff(want, have).operations if isinstance(op, kind)]
    assert len(found) == 1
    assert (found[0].before, found[0].after) == (before, after)
    assert found[0].reason.startswith(", ".join(before).replace("domain_id", "domain"))
