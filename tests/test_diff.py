"""The pure diff, table-driven: (desired, live) -> operations. No I/O."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from cvspec import ops
from cvspec.desired import Desired, DesiredImage, DesiredPublish, DesiredTag, DesiredTraining
from cvspec.diff import diff
from cvspec.errors import PlanError
from cvspec.live import LiveDomain, LiveImage, LiveIteration, LiveProject, LiveState, LiveTag

GENERAL = LiveDomain("ee85a74c-405e-4adc-bb47-ffa8ca0c9f31", "General", "Classification")
FOOD = LiveDomain("c151d5b5-dd07-472a-acc8-15d29dea8518", "Food", "Classification")
DOMAINS = (GENERAL, FOOD)
RID = "/subscriptions/0/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/p"


def _sha(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


def image(n: int, *tags: str) -> DesiredImage:
    return DesiredImage(_sha(n)[:16], _sha(n), f"img/{n}.png", tuple(sorted(tags)))


def desired(**changes: object) -> Desired:
    base = Desired(
        project_name="p",
        description="",
        domain="General",
        classification_type="Multiclass",
        tags=(DesiredTag("a", "", "Regular"), DesiredTag("b", "", "Regular")),
        images=(image(1, "a"), image(2, "b")),
        training=DesiredTraining("cvspec-fp1", "Regular", 0, None, False),
        publish=DesiredPublish("prod", RID, 3, ops.Gates()),
        prune_tags=False,
        prune_images=False,
        protect=False,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


PROJECT = LiveProject("pid", "p", "", GENERAL.id, "Multiclass")
TAGS = (LiveTag("ta", "a", "", "Regular", 1), LiveTag("tb", "b", "", "Regular", 1))
IMAGES = (LiveImage("i1", _sha(1)[:16], ("a",)), LiveImage("i2", _sha(2)[:16], ("b",)))
TRAINED = LiveIteration("it1", "cvspec-fp1", "Completed", "2026-01-01", "prod", RID)


def live(**changes: object) -> LiveState:
    base = LiveState(DOMAINS, PROJECT, TAGS, IMAGES, (TRAINED,))
    return replace(base, **changes)  # type: ignore[arg-type]


def kinds(plan_ops: tuple[ops.Op, ...]) -> list[str]:
    return [type(op).__name__ for op in plan_ops]


CASES = [
    ("in sync", desired(), live(), []),
    (
        "nothing exists",
        desired(),
        LiveState(DOMAINS, None),
        ["CreateProject", "CreateTag", "CreateTag", "UploadImages", "Train", "Publish"],
    ),
    ("description changed", desired(description="new"), live(), ["UpdateProject"]),
    ("domain changed", desired(domain="Food"), live(), ["UpdateProject"]),
    (
        "classification changed is a replace",
        desired(classification_type="Multilabel"),
        live(),
        [
            "DeleteProject",
            "CreateProject",
            "CreateTag",
            "CreateTag",
            "UploadImages",
            "Train",
            "Publish",
        ],
    ),
    (
        "new tag from images",
        desired(
            images=(image(1, "a"), image(2, "b"), image(3, "c")),
            training=DesiredTraining("cvspec-fp2", "Regular", 0, None, False),
        ),
        live(),
        ["CreateTag", "UploadImages", "Train", "Unpublish", "Publish"],
    ),
    (
        "tag description changed",
        desired(tags=(DesiredTag("a", "apples", "Regular"), DesiredTag("b", "", "Regular"))),
        live(),
        ["UpdateTag"],
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
        ["DeleteTag"],
    ),
    (
        "retag moves remove before add",
        desired(
            images=(image(1, "b"), image(2, "b")),
            training=DesiredTraining("cvspec-fp2", "Regular", 0, None, False),
        ),
        live(),
        ["RemoveImageTags", "AddImageTags", "Train", "Unpublish", "Publish"],
    ),
    (
        "managed image gone from spec is kept",
        desired(images=(image(1, "a"),)),
        live(),
        [],
    ),
    (
        "managed image gone from spec deleted with prune",
        desired(images=(image(1, "a"),), prune_images=True),
        live(),
        ["DeleteImages"],
    ),
    (
        "unmanaged images never deleted",
        desired(prune_images=True),
        live(images=(*IMAGES, LiveImage("u", None, ("a",)))),
        [],
    ),
    (
        "training in progress is waited for",
        desired(),
        live(
            iterations=(
                replace(TRAINED, status="Training", publish_name="", prediction_resource_id=""),
            )
        ),
        ["Train", "Publish"],
    ),
    (
        "trained but not published",
        desired(),
        live(iterations=(replace(TRAINED, publish_name="", prediction_resource_id=""),)),
        ["Publish"],
    ),
    ("no training asked", desired(training=None, publish=None), live(iterations=()), []),
]


@pytest.mark.parametrize(("name", "want", "have", "expected"), CASES, ids=[c[0] for c in CASES])
def test_diff(name: str, want: Desired, have: LiveState, expected: list[str]) -> None:
    assert kinds(diff(want, have).operations) == expected


def test_diff_is_deterministic() -> None:
    assert diff(desired(), LiveState(DOMAINS, None)) == diff(desired(), LiveState(DOMAINS, None))


def test_every_operation_has_a_reason() -> None:
    plan = diff(desired(classification_type="Multilabel"), live())
    assert all(op.reason for op in plan.operations)


def test_protected_project_is_never_replaced() -> None:
    with pytest.raises(PlanError, match="protected"):
        diff(desired(classification_type="Multilabel", protect=True), live())


def test_unknown_domain_is_an_error() -> None:
    with pytest.raises(PlanError, match="unknown classification domain 'Nope'"):
        diff(desired(domain="Nope"), live())


def test_retention_deletes_oldest_unpublished_cvspec_iterations() -> None:
    old = tuple(
        LiveIteration(f"old{n}", f"cvspec-old{n}", "Completed", f"2025-0{n}-01", "", "")
        for n in range(1, 5)
    )
    manual = LiveIteration("m", "Iteration 1", "Completed", "2024-01-01", "", "")
    plan = diff(desired(), live(iterations=(*old, manual, TRAINED)))
    deleted = [op.iteration_name for op in plan.of_type(ops.DeleteIteration)]
    assert deleted == ["cvspec-old1", "cvspec-old2"]  # keep 3 incl. the published one


def test_drift_is_reported() -> None:
    plan = diff(desired(), live(images=(*IMAGES, LiveImage("u", None, ()))))
    assert [(d.kind, d.counts, d.items) for d in plan.drift] == [
        ("unmanaged_images", (("(untagged)", 1),), ("u",))
    ]
