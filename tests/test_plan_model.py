"""The plan as a value (cvspec.plan, cvspec.ops): the execution order of every operation
kind, what counts as deleting, and the domains a plan names."""

from __future__ import annotations

import pytest

from cvspec import ops
from cvspec.live import LiveDomain
from cvspec.plan import Plan, domain_names, order

R = ops.Reason
WHY = {"reason": "r", "reason_code": R.MISSING}


def _ops() -> list[ops.Op]:
    """One operation of every kind, listed in their execution order."""
    account = {"arm_id": "/subscriptions/0/x", "kind": "CustomVision.Training"}
    return [
        ops.CreateAccount(**WHY, name="a", role="training", sku="S0", location="x", **account),
        ops.UpdateAccountSku(**WHY, name="a", before="F0", after="S0", **account),
        ops.DeleteProject(**WHY, project_id="p0", name="old"),
        ops.CreateProject(**WHY, name="p", description="", domain_id="d", classification_type="M"),
        ops.UpdateProject(**WHY, project_id="p", name="p", before={}, after={}),
        ops.DeleteTag(**WHY, tag_id="t0", name="gone"),
        ops.CreateTag(**WHY, name="new", description="", type="Regular"),
        ops.UpdateTag(**WHY, tag_id="t1", name="kept", before={}, after={}),
        ops.AdoptPendingImages(**WHY, image_ids=("i0",)),
        ops.RemoveImageTags(**WHY, images=()),
        ops.DeleteImages(**WHY, image_ids=("i1",)),
        ops.UploadImages(**WHY, images=()),
        ops.AddImageTags(**WHY, images=()),
        ops.RenameIteration(**WHY, iteration_id="it0", iteration_name="Iteration 1", new_name="x"),
        ops.DeleteIteration(**WHY, iteration_id="it1", iteration_name="cvspec-a"),
        ops.Train(
            **WHY,
            iteration_name="cvspec-b",
            training_type="Regular",
            budget_hours=0,
            notification_email=None,
            force=False,
        ),
        ops.Publish(
            **WHY, iteration_name="cvspec-b", publish_name="prod", prediction_resource_id=""
        ),
        ops.Unpublish(**WHY, iteration_id="it2", iteration_name="cvspec-c", publish_name="old"),
        ops.DeleteIteration(
            **WHY, iteration_id="it3", iteration_name="cvspec-d", after_publish=True
        ),
        ops.DeleteAccount(**WHY, name="a", **account),
    ]


def test_every_kind_of_operation_runs_in_its_place() -> None:
    planned = _ops()
    assert list(order(list(reversed(planned)))) == planned
    assert [ops.rank(op) for op in planned] == list(range(-2, 18))
    assert set(ops.op_types()) == {type(op).__name__ for op in planned}
    assert ops.op_types()["Publish"] is ops.Publish


def test_within_a_kind_operations_run_by_name_then_iteration_then_publish_name() -> None:
    tags = [ops.CreateTag(**WHY, name=n, description="", type="Regular") for n in "cab"]
    assert [op.name for op in order(tags)] == ["a", "b", "c"]
    unpublish = [
        ops.Unpublish(**WHY, iteration_id="i", iteration_name=i, publish_name=p)
        for i, p in [("y", "b"), ("x", "b"), ("x", "a")]
    ]
    assert [(op.iteration_name, op.publish_name) for op in order(unpublish)] == [
        ("x", "a"),
        ("x", "b"),
        ("y", "b"),
    ]


DELETING = (2, 5, 10, 14, 17, 18)  # project, tag, images, iteration, unpublish, retention


@pytest.mark.parametrize("index", DELETING)
def test_a_plan_deletes_anything_when_it_holds_a_deleting_operation(index: int) -> None:
    deleting = _ops()[index]
    safe = [op for n, op in enumerate(_ops()) if n not in DELETING]
    assert not Plan("p", tuple(safe), (), "fp").deletes_anything()
    assert Plan("p", (*safe, deleting), (), "fp").deletes_anything()
    assert Plan("p", (), (), "fp").is_empty() and not Plan("p", (deleting,), (), "fp").is_empty()


def test_a_plan_names_the_domains_of_its_project_operations_with_their_type() -> None:
    domains = [
        LiveDomain("g", "General", "Classification"),
        LiveDomain("o", "General", "ObjectDetection"),
        LiveDomain("f", "Food", "Classification"),
        LiveDomain("r", "Retail", "Classification"),
    ]
    planned = [
        ops.CreateProject(**WHY, name="p", description="", domain_id="g", classification_type=""),
        ops.DeleteProject(**WHY, project_id="q", name="q", settings={"domain_id": "o"}),
        ops.UpdateProject(
            **WHY, project_id="p", name="p", before={"domain_id": "f"}, after={"x": "y"}
        ),
        ops.CreateTag(**WHY, name="r", description="", type="Regular"),
    ]
    assert domain_names(domains, planned) == {
        "g": "General",
        "o": "General (ObjectDetection)",
        "f": "Food",
    }
    after = ops.UpdateProject(**WHY, project_id="p", name="p", before={}, after={"domain_id": "r"})
    assert domain_names(domains, [after]) == {"r": "Retail"}
    assert domain_names(domains, []) == {}
