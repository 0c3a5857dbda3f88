"""The diff's project, tag and image operations and drift with every field they carry
(tests/test_diff.py checks the kinds and reason codes of whole plans; these pin the rest:
ids, names, before/after values, the reason shown, the drift's detail, counts and items)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cvspec import ops
from cvspec.desired import DesiredTag
from cvspec.diff import check_replace_consent, destroy_plan, diff
from cvspec.errors import PlanError
from cvspec.identity import failed_iteration_name
from cvspec.live import (
    LiveImage,
    LiveIteration,
    LiveState,
    LiveTag,
    fingerprint_live,
    summarize_live,
)
from cvspec.plan import Drift, DriftKind, Plan
from tests.test_diff import (
    DETECTION,
    DOMAINS,
    FOOD,
    FP1,
    GENERAL,
    IMAGES,
    PROJECT,
    TAGS,
    TRAINED,
    desired,
    image,
    live,
    managed,
)
from tests.test_renames_replace import FP_C, renamed

R = ops.Reason


def test_a_new_project_is_created_with_its_tags_and_images() -> None:
    tags = (*desired().tags, DesiredTag("none", "nothing", "Negative"))
    want = desired(
        description="d",
        tags=tags,
        images=(*desired().images, image(3, "c")),
        training=None,
        publish=None,
    )
    plan = diff(want, LiveState(DOMAINS, None))
    assert plan.operations[0] == ops.CreateProject(
        reason="the project does not exist",
        reason_code=R.MISSING,
        name="p",
        description="d",
        domain_id=GENERAL.id,
        classification_type="Multiclass",
    )
    assert plan.of_type(ops.CreateTag) == [
        ops.CreateTag(
            reason="the tag is not in the project",
            reason_code=R.MISSING,
            name="a",
            description="",
            type="Regular",
        ),
        ops.CreateTag(
            reason="the tag is not in the project",
            reason_code=R.MISSING,
            name="b",
            description="",
            type="Regular",
        ),
        ops.CreateTag(  # used by an image only: a Regular tag without description
            reason="the tag is not in the project",
            reason_code=R.MISSING,
            name="c",
            description="",
            type="Regular",
        ),
        ops.CreateTag(
            reason="the tag is not in the project (Negative)",
            reason_code=R.MISSING,
            name="none",
            description="nothing",
            type="Negative",
        ),
    ]
    (upload,) = plan.of_type(ops.UploadImages)
    assert (upload.reason, upload.reason_code) == ("the images are not in the project", R.MISSING)
    assert plan.project_name == "p" and plan.domains == {GENERAL.id: "General"}
    assert plan.live_fingerprint == fingerprint_live(LiveState(DOMAINS, None))


def test_an_unknown_domain_names_the_classification_domains() -> None:
    with pytest.raises(PlanError) as unknown:
        diff(desired(domain="Nope"), LiveState(DOMAINS, None))
    assert "Food, General" in str(unknown.value) and "(ObjectDetection)" not in str(unknown.value)


@pytest.mark.parametrize(
    ("changes", "reason", "before", "after"),
    [
        (
            {"description": "new"},
            "description differs from the spec",
            {"description": ""},
            {"description": "new"},
        ),
        (
            {"domain": "Food"},
            "domain differs from the spec",
            {"domain_id": GENERAL.id},
            {"domain_id": FOOD.id},
        ),
        (
            {"description": "new", "domain": "Food"},
            "description, domain differs from the spec",
            {"description": "", "domain_id": GENERAL.id},
            {"description": "new", "domain_id": FOOD.id},
        ),
    ],
)
def test_project_settings_are_updated_in_place(
    changes: dict[str, str], reason: str, before: dict[str, str], after: dict[str, str]
) -> None:
    plan = diff(desired(**changes, publish=None), live())
    assert plan.of_type(ops.UpdateProject) == [
        ops.UpdateProject(
            reason=reason,
            reason_code=R.SETTINGS_DIFFER,
            project_id="pid",
            name="p",
            before=before,
            after=after,
        )
    ]
    assert plan.operations[0] is plan.of_type(ops.UpdateProject)[0]


def test_a_replaced_project_is_deleted_with_its_settings_then_created() -> None:
    detection = replace(PROJECT, domain_id=DETECTION.id, description="old")
    plan = diff(desired(publish=None), live(project=detection, iterations=()))
    why = (
        "domain type changes from ObjectDetection to Classification, which the service "
        "cannot change in place"
    )
    assert plan.operations[:2] == (
        ops.DeleteProject(
            reason=why,
            reason_code=R.REPLACE_BECAUSE_CANNOT_UPDATE,
            project_id="pid",
            name="p",
            settings={
                "description": "old",
                "domain_id": DETECTION.id,
                "classification_type": "Multiclass",
            },
            losses=("2 images",),
        ),
        ops.CreateProject(
            reason=why,
            reason_code=R.REPLACE_BECAUSE_CANNOT_UPDATE,
            name="p",
            description="",
            domain_id=GENERAL.id,
            classification_type="Multiclass",
        ),
    )


def test_destroy_deletes_the_project_with_what_goes_with_it() -> None:
    have = live()
    assert destroy_plan("p", have, protect=False) == Plan(
        project_name="p",
        operations=(
            ops.DeleteProject(
                reason="destroy was requested",
                reason_code=R.DESTROY,
                project_id="pid",
                name="p",
                settings={
                    "description": "",
                    "domain_id": GENERAL.id,
                    "classification_type": "Multiclass",
                },
                losses=(
                    "2 images",
                    "1 iteration",
                    "publish name 'prod' (clients calling it will fail)",
                ),
            ),
        ),
        drift=(),
        live_fingerprint=fingerprint_live(have),
        live_summary=summarize_live(have),
        destroy=True,
        domains={GENERAL.id: "General"},
    )
    assert destroy_plan("p", LiveState(DOMAINS, None), protect=True).operations == ()


def test_tag_updates_name_what_differs_and_renames_say_so() -> None:
    tags = (
        DesiredTag("a", "new", "Negative"),
        DesiredTag("x", "why", "Negative", renamed_from="B"),
    )
    plan = diff(desired(tags=tags, images=(image(1, "a"), image(2, "x")), publish=None), live())
    assert plan.of_type(ops.UpdateTag) == [
        ops.UpdateTag(
            reason="description, type differs from the spec",
            reason_code=R.SETTINGS_DIFFER,
            tag_id="ta",
            name="a",
            before={"description": "", "type": "Regular"},
            after={"description": "new", "type": "Negative"},
        ),
        ops.UpdateTag(
            reason=(
                "the spec's tag 'x' is renamed_from 'b'; description, type differs from the spec"
            ),
            reason_code=R.TAG_RENAMED,
            tag_id="tb",
            name="x",
            before={"name": "b", "description": "", "type": "Regular"},
            after={"name": "x", "description": "why", "type": "Negative"},
        ),
    ]


def test_a_tag_the_spec_dropped_is_deleted_with_its_image_count_or_kept_as_drift() -> None:
    extra = (*TAGS, LiveTag("tc", "c", "", "Regular", 3), LiveTag("td", "d", "", "Regular", 0))
    plan = diff(desired(prune_tags=True, publish=None), live(tags=extra))
    assert plan.of_type(ops.DeleteTag) == [
        ops.DeleteTag(
            reason="the spec does not list it (prune.tags); it is removed from its 3 image(s)",
            reason_code=R.NOT_IN_SPEC,
            tag_id="tc",
            name="c",
        ),
        ops.DeleteTag(
            reason="the spec does not list it (prune.tags)",
            reason_code=R.NOT_IN_SPEC,
            tag_id="td",
            name="d",
        ),
    ]
    kept = diff(desired(publish=None), live(tags=extra))
    assert next(d for d in kept.drift if d.kind is DriftKind.UNLISTED_TAG) == Drift(
        DriftKind.UNLISTED_TAG,
        "tag.c",
        "is in the project (3 image(s)) but not in the spec; kept (set prune.tags to delete it)",
    )


def test_images_the_spec_dropped_are_deleted_or_kept_as_drift() -> None:
    extra = (*IMAGES, managed(3, "a"), managed(4, "b"))
    pruned = diff(desired(prune_images=True, publish=None), live(images=extra))
    assert pruned.of_type(ops.DeleteImages) == [
        ops.DeleteImages(
            reason="the spec no longer lists them (prune.images)",
            reason_code=R.NOT_IN_SPEC,
            image_ids=("i4", "i3"),  # by hash key
            tags=(("b",), ("a",)),
        )
    ]
    kept = diff(desired(publish=None), live(images=extra, iterations=()))
    assert kept.drift == (
        Drift(
            DriftKind.UNLISTED_IMAGES,
            "images",
            "2 image(s) uploaded by cvspec are no longer in the spec; kept (set prune.images "
            "to delete them)",
            counts=(("a", 1), ("b", 1)),
            items=("i4", "i3"),
        ),
    )


def test_images_cvspec_did_not_upload_are_drift_by_what_training_does_with_them() -> None:
    portal = (
        LiveImage("u1", None, ("a",)),
        LiveImage("u2", None, ()),
        LiveImage("u3", None, ("zz",)),
        LiveImage("u4", None, ("b",), pending=True),  # could not be downloaded
    )
    plan = diff(
        desired(training=None, publish=None), live(images=(*IMAGES, *portal), iterations=())
    )
    assert plan.drift == (
        Drift(
            DriftKind.PENDING_IMAGES,
            "images",
            "1 image(s) uploaded by an interrupted apply could not be downloaded to be "
            "identified; kept (the service trains those that carry the spec's tags), and the "
            "next plan tries again",
            counts=(("b", 1),),
            items=("u4",),
            changes_model=True,
        ),
        Drift(
            DriftKind.UNMANAGED_TRAINED,
            "images",
            "1 image(s) in the project were not uploaded by cvspec and carry tags the spec "
            "lists: the service trains on them, and the plan's iteration includes them (set "
            "prune.unmanaged_images to delete them)",
            counts=(("a", 1),),
            items=("u1",),
            changes_model=True,
        ),
        Drift(
            DriftKind.UNMANAGED_UNTAGGED,
            "images",
            "1 image(s) in the project were not uploaded by cvspec and have no tag: not "
            "trained; kept",
            counts=(("(untagged)", 1),),
            items=("u2",),
        ),
        Drift(
            DriftKind.UNMANAGED_IMAGES,
            "images",
            "1 image(s) in the project were not uploaded by cvspec; their tags are not in the "
            "spec, so they are not trained; kept",
            counts=(("zz", 1),),
            items=("u3",),
        ),
    )
    pruned = diff(
        desired(training=None, publish=None, prune_unmanaged=True), live(images=(*IMAGES, *portal))
    )
    assert pruned.of_type(ops.DeleteImages) == [
        ops.DeleteImages(
            reason="cvspec did not upload them (prune.unmanaged_images)",
            reason_code=R.UNMANAGED,
            image_ids=("u1", "u2", "u3", "u4"),  # the undownloadable one too
            tags=(("a",), (), ("zz",), ("b",)),
        )
    ]


def test_images_an_interrupted_apply_left_pending_are_adopted() -> None:
    pending = (
        LiveImage("p1", managed(1, "a").hash_key, ("a",), pending=True),
        LiveImage("p2", managed(2, "b").hash_key, ("b",), pending=True),
    )
    plan = diff(desired(publish=None), live(images=pending))
    assert plan.operations[0] == ops.AdoptPendingImages(
        reason="an interrupted apply uploaded 2 image(s) without recording their identity",
        reason_code=R.PENDING_IMAGES,
        image_ids=("p1", "p2"),
        hash_keys=(str(pending[0].hash_key), str(pending[1].hash_key)),
        tags=(("a",), ("b",)),
    )
    assert plan.drift[0] == Drift(
        DriftKind.PENDING_IMAGES,
        "images",
        "2 image(s) uploaded by an interrupted apply were never marked as cvspec's; this plan "
        "adopts them, then keeps or prunes them like the others",
        counts=(("a", 1), ("b", 1)),
        items=("p1", "p2"),
    )
    assert not plan.of_type(ops.UploadImages)


def test_retags_say_why() -> None:
    plan = diff(desired(images=(image(1, "b"), image(2, "b")), publish=None), live())
    (remove,) = plan.of_type(ops.RemoveImageTags)
    assert (remove.reason, remove.reason_code) == (
        "the images' tags differ from the spec",
        R.TAGS_DIFFER,
    )


def test_a_multilabel_project_allows_two_trained_tags_on_an_image() -> None:
    portal = LiveImage("u", None, ("a", "b"))
    want = desired(classification_type="Multilabel", training=replace(desired().training))
    multilabel = replace(PROJECT, classification_type="Multilabel")
    plan = diff(want, live(project=multilabel, images=(*IMAGES, portal), iterations=(TRAINED,)))
    assert plan.of_type(ops.Train)
    with pytest.raises(PlanError) as refused:
        diff(desired(), live(images=(*IMAGES, portal)))
    assert str(refused.value).startswith(
        "the service would refuse to train this dataset: the project is multiclass"
    )


def test_a_project_on_a_domain_the_service_no_longer_lists_is_updated_not_replaced() -> None:
    gone = replace(PROJECT, domain_id="retired-domain")
    plan = diff(desired(publish=None), live(project=gone))
    assert not plan.of_type(ops.DeleteProject)
    (update,) = plan.of_type(ops.UpdateProject)
    assert update.after == {"domain_id": GENERAL.id}


def test_replacing_an_empty_project_needs_consent_and_names_no_losses() -> None:
    empty = live(
        project=replace(PROJECT, classification_type="Multilabel"), images=(), iterations=()
    )
    plan = diff(desired(publish=None, training=None), empty)
    with pytest.raises(PlanError) as refused:
        check_replace_consent(plan, consent=False)
    assert str(refused.value) == (
        "project 'p' must be replaced (classification type changes from Multilabel to "
        "Multiclass, which the service cannot change in place). Run again with --replace to "
        "allow it."
    )
    check_replace_consent(plan, consent=True)


def test_a_tag_rename_renames_the_latest_iteration_of_the_old_dataset_only() -> None:
    later = LiveIteration(
        "it9", failed_iteration_name(FP1, "k1"), "Completed", "2026-01-09", "", ""
    )
    plan = diff(renamed(), live(iterations=(TRAINED, later)))
    assert plan.of_type(ops.RenameIteration) == [
        ops.RenameIteration(
            reason="it was trained on the same images under the old tag names",
            reason_code=R.TAG_RENAMED,
            iteration_id="it9",
            iteration_name=later.name,
            new_name=failed_iteration_name(FP_C, "k1"),
        )
    ]
    (publish,) = plan.of_type(ops.Publish)  # checked again with these gates, from 'prod'
    assert (publish.recorded_failure, publish.from_iteration) == (
        failed_iteration_name(FP_C, "k1"),
        FP1,
    )
