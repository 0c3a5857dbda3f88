"""Saved plans: round trip of every operation type, integrity checks, staleness."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from cvspec import __version__, ops
from cvspec.desired import DesiredPublish
from cvspec.diff import destroy_plan, diff
from cvspec.errors import PlanError, StalePlanError
from cvspec.live import LiveImage, LiveState
from cvspec.planfile import (
    FILE_VERSION,
    check_fresh,
    decode,
    encode,
    is_plan_file,
    load_plan,
    save_plan,
    saved_spec,
)
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


def test_the_settings_a_new_iteration_changes_round_trip(tmp_path: Path) -> None:
    from tests.test_diff import ADVANCED, TRAINED_REGULAR

    plan = diff(desired(training=ADVANCED), live(iterations=(TRAINED_REGULAR,)))
    (train,) = plan.of_type(ops.Train)
    assert train.previous_settings == {"training_type": "Regular", "budget_hours": 0}
    save_plan(plan, tmp_path / "plan.json")
    assert load_plan(tmp_path / "plan.json") == plan


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


# -- recognising a plan file, finding its spec, reading it back -------------------------


def _saved(tmp_path: Path, name: str = "plan.json", spec_path: str = "") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    save_plan(replace(diff(desired(), live()), spec_path=spec_path), path)
    return path


def test_a_saved_plan_is_compact_sorted_json_with_its_format_and_checksum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = _saved(tmp_path, "out/plan.json", spec_path="specs/x.yaml")
    text = path.read_text()
    assert text.endswith("}\n") and text.count("\n") == 1
    doc = json.loads(text)
    assert text == json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n"
    assert (doc["format"], doc["format_version"], doc["cvspec_version"]) == (
        "cvspec-plan",
        FILE_VERSION,
        __version__,
    )
    assert len(doc["checksum"]) == 64 and doc["spec_from_plan"] == "../specs/x.yaml"


@pytest.mark.parametrize(
    ("content", "is_plan"),
    [
        ('{"format": "cvspec-plan"}', True),
        ('\n  {"format":"cvspec-plan","other":1}', True),
        ("version: 1\nproject: {name: cvspec-plan}\n", False),  # a YAML spec
        ('{"version": 1, "project": {"name": "p"}}', False),  # a JSON spec
        ('{"format": "other", "note": "cvspec-plan"}', False),
        ('{"format": "cvspec-plan"', False),  # cut off
        ('["cvspec-plan"]', False),
        ('{"pad": "' + "x" * 5000 + '", "format": "cvspec-plan"}', False),  # not in its head
    ],
)
def test_a_plan_file_is_recognised_by_its_content(
    tmp_path: Path, content: str, is_plan: bool
) -> None:
    path = tmp_path / "anything.out"
    path.write_text(content)
    assert is_plan_file(path) is is_plan


def test_a_missing_or_undecodable_file_is_not_a_plan(tmp_path: Path) -> None:
    assert not is_plan_file(tmp_path / "absent.json")
    assert not is_plan_file(tmp_path)  # a folder
    (tmp_path / "latin1.json").write_bytes(b'{"format": "cvspec-plan", "x": "\xe9"}')
    assert not is_plan_file(tmp_path / "latin1.json")
    assert is_plan_file(_saved(tmp_path))


def test_the_spec_is_found_from_the_current_folder_first_then_beside_the_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkout = tmp_path / "checkout"
    (checkout / "specs").mkdir(parents=True)
    (checkout / "specs" / "x.yaml").write_text("version: 1\n")
    monkeypatch.chdir(checkout)
    path = _saved(checkout, "out/plan.json", spec_path="specs/x.yaml")
    plan = load_plan(path)
    assert saved_spec(path, plan) == Path("specs/x.yaml")  # relative to the current folder
    monkeypatch.chdir(tmp_path)  # elsewhere: found relative to the plan file
    assert saved_spec(path, plan) == checkout / "out" / "../specs/x.yaml"
    (checkout / "specs" / "x.yaml").unlink()
    with pytest.raises(PlanError) as missing:
        saved_spec(path, plan)
    assert str(missing.value) == (
        f"{path}: the spec the plan was made from is not at specs/x.yaml (relative to the "
        f"current directory) nor at {checkout / 'out' / '../specs/x.yaml'} (relative to the "
        "plan file); apply from the checkout folder the plan was made in"
    )


def test_a_plan_without_a_spec_says_so(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    with pytest.raises(PlanError, match="the plan does not say which spec it was made from"):
        saved_spec(path, load_plan(path))


def test_an_older_format_names_the_version_that_wrote_it(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text('{"format": "cvspec-plan", "format_version": 1, "cvspec_version": "0.0.9"}')
    with pytest.raises(PlanError) as old:
        load_plan(path)
    assert str(old.value) == (
        f"{path}: plan file format 1 (written by cvspec 0.0.9) is not supported by cvspec "
        f"{__version__} (expects {FILE_VERSION}); run `cvspec plan -out` again"
    )
    path.write_text('{"format": "cvspec-plan"}')
    with pytest.raises(PlanError, match=r"format None is not supported by cvspec \S+ \(expects"):
        load_plan(path)


def _resealed(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Edit a saved plan's body and give it a matching checksum (a damaged, not altered, file)."""
    doc = json.loads(path.read_text())
    edit(doc["plan"])
    text = json.dumps([doc["plan"], doc["spec_from_plan"]], sort_keys=True, separators=(",", ":"))
    doc["checksum"] = hashlib.sha256(text.encode()).hexdigest()
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda p: p["operations"][0].update(op="Explode"), "unknown operation 'Explode'"),
        (lambda p: p["operations"][0].update(extra=1), r"CreateTag: unknown field\(s\) extra"),
        (lambda p: p.update(project_name=7), "expected str, found int"),
        (lambda p: p.update(operations={}), "expected list, found dict"),
        (lambda p: p["live_summary"].update(tags=True), "expected int, found bool"),
        (lambda p: p["live_summary"].update(published=[1]), "expected str, found int"),
    ],
)
def test_a_damaged_plan_body_is_a_plan_error(
    tmp_path: Path, edit: Callable[[dict[str, Any]], None], message: str
) -> None:
    path = tmp_path / "plan.json"
    save_plan(diff(desired(), live(tags=())), path)  # the tags are created: CreateTag first
    _resealed(path, edit)
    with pytest.raises(PlanError, match=rf"^{path}: the plan file is damaged: {message}$"):
        load_plan(path)


def test_the_codec_turns_ints_into_floats_and_checks_fixed_tuples() -> None:
    assert decode(float, 1) == 1.0 and isinstance(decode(float, 1), float)
    assert decode(float | None, None) is None and decode(int | None, 3) == 3
    assert decode(tuple[str, int], ["a", 1]) == ("a", 1)
    assert decode(dict[str, int], {"a": 1}) == {"a": 1}
    with pytest.raises(ValueError, match="expected 2 items, found 3"):
        decode(tuple[str, int], ["a", 1, 2])
    with pytest.raises(ValueError, match="expected float, found bool"):
        decode(float, True)
    with pytest.raises(TypeError, match="cannot decode"):
        decode(bytes, b"")
    assert encode({1: (ops.Reason.MISSING, [GATES])})["1"][0] == "missing"


def test_a_stale_plan_lists_every_count_that_changed() -> None:
    plan = diff(desired(), live())
    with pytest.raises(StalePlanError, match=r"\(images: 2 -> 1; managed images: 2 -> 1\)"):
        check_fresh(plan, live(images=IMAGES[:1]))
    without_counts = replace(plan, live_summary=None)  # still stale, said in general terms
    with pytest.raises(StalePlanError, match=r"\(images, tags or iterations were modified\)"):
        check_fresh(without_counts, live(images=IMAGES[:1]))


def test_a_plan_without_a_spec_records_no_spec_path(tmp_path: Path) -> None:
    doc = json.loads(_saved(tmp_path).read_text())
    assert doc["spec_from_plan"] == "" and doc["plan"]["spec_path"] == ""


def test_any_dataclass_decodes_from_its_type_hints() -> None:
    @dataclass(frozen=True)
    class _Fresh:
        """A new class on every run: its field types are read on first use."""

        name: str
        weight: float = 0.0
        parts: tuple[str, ...] = ()

    assert decode(_Fresh, {"name": "a", "weight": 2, "parts": ["x"]}) == _Fresh("a", 2.0, ("x",))
    assert decode(_Fresh, encode(_Fresh("b"))) == _Fresh("b")
    with pytest.raises(ValueError, match=r"^_Fresh: unknown field\(s\) a, b$"):
        decode(_Fresh, {"name": "a", "b": 1, "a": 2})


def test_a_plan_that_does_not_record_where_its_spec_is_from_itself_says_less(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = _saved(tmp_path, spec_path="specs/x.yaml")
    doc = json.loads(path.read_text())
    doc["spec_from_plan"] = ""  # as a plan saved without the plan-relative path
    text = json.dumps([doc["plan"], ""], sort_keys=True, separators=(",", ":"))
    doc["checksum"] = hashlib.sha256(text.encode()).hexdigest()
    path.write_text(json.dumps(doc))
    with pytest.raises(PlanError) as missing:
        saved_spec(path, load_plan(path))
    assert str(missing.value) == (
        f"{path}: the spec the plan was made from is not at specs/x.yaml (relative to the "
        "current directory); apply from the checkout folder the plan was made in"
    )
