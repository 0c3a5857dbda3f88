"""Saved plans: round trip of every operation type, integrity checks, staleness."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from cvspec import ops
from cvspec.desired import DesiredPublish
from cvspec.diff import destroy_plan, diff
from cvspec.errors import PlanError, StalePlanError
from cvspec.live import LiveImage, LiveState
from cvspec.planfile import check_fresh, load_plan, save_plan
from tests.test_diff import CASES, DOMAINS, IMAGES, RID, desired, live

GATES = ops.Gates(
    threshold=0.4,
    min_precision=0.9,
    per_tag=(ops.TagGate("a", min_recall=0.75), ops.TagGate("b", min_ap=1.0)),
    no_regression=True,
    regression_tolerance=0.02,
)


@pytest.mark.parametrize(("name", "want", "have", "expected"), CASES, ids=[c[0] for c in CASES])
def test_every_plan_of_the_diff_table_round_trips(
    tmp_path: Path, name: str, want: object, have: LiveState, expected: object
) -> None:
    plan = replace(diff(want, have), target="emulator", spec_path="/specs/x.yaml")  # type: ignore[arg-type]
    save_plan(plan, tmp_path / "plan.json")
    assert load_plan(tmp_path / "plan.json") == plan


def test_gates_drift_and_destroy_round_trip(tmp_path: Path) -> None:
    gated = diff(
        desired(publish=DesiredPublish("new", RID, 3, GATES)),
        live(images=(*IMAGES, LiveImage("u", None, ("a",)))),
    )
    for plan in (gated, destroy_plan("p", live(), protect=False)):
        save_plan(plan, tmp_path / "plan.json")
        assert load_plan(tmp_path / "plan.json") == plan
    assert load_plan(tmp_path / "plan.json").destroy


def test_an_altered_plan_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    save_plan(diff(desired(), LiveState(DOMAINS, None)), path)
    doc = json.loads(path.read_text())
    doc["plan"]["project_name"] = "other"
    path.write_text(json.dumps(doc))
    with pytest.raises(PlanError, match=r"altered after it was saved \(checksum\)"):
        load_plan(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not a cvspec plan file"),
        ('{"format": "terraform"}', "not a cvspec plan file"),
        ('{"format": "cvspec-plan", "format_version": 99}', "format 99 is not supported"),
    ],
)
def test_foreign_files_are_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(content)
    with pytest.raises(PlanError, match=message):
        load_plan(path)


def test_a_missing_file_is_a_plan_error(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="no such plan file"):
        load_plan(tmp_path / "absent.json")


def test_check_fresh_accepts_the_same_state_and_explains_a_changed_one() -> None:
    plan = diff(desired(), live())
    check_fresh(plan, live())
    with pytest.raises(StalePlanError, match=r"^Saved plan is stale: .*images: 2 -> 1"):
        check_fresh(plan, live(images=IMAGES[:1]))


def test_a_plan_made_against_nothing_is_stale_once_the_project_exists() -> None:
    plan = diff(desired(), LiveState(DOMAINS, None))
    with pytest.raises(StalePlanError, match="project id: none -> pid"):
        check_fresh(plan, live())


def test_a_count_preserving_retag_makes_a_saved_plan_stale(tmp_path: Path) -> None:
    """Two images swap tags: every count of the summary stays, the fingerprint does not."""
    path = tmp_path / "plan.json"
    save_plan(diff(desired(), live()), path)
    plan = load_plan(path)
    swapped = live(images=(replace(IMAGES[0], tags=("b",)), replace(IMAGES[1], tags=("a",))))
    with pytest.raises(StalePlanError) as stale:
        check_fresh(plan, swapped)
    assert str(stale.value) == (
        "Saved plan is stale: the project 'p' changed after the plan was made (images, tags "
        "or iterations were modified). Run `cvspec plan` again."
    )
    check_fresh(plan, live())
