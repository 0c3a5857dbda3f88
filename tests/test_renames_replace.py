"""Tag renames (`renamed_from`: one UpdateTag, the trained iteration renamed, no retraining)
and project replacement (what is lost, and `--replace` consent): the pure diff, table-driven,
then the CLI against the emulator."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from cvspec import ops
from cvspec.desired import DesiredTag
from cvspec.diff import check_replace_consent, destroy_plan, diff
from cvspec.errors import PlanError
from cvspec.identity import dataset_iteration_name, failed_iteration_name
from cvspec.live import LiveImage, LiveState, LiveTag
from cvspec.planfile import load_plan
from cvspec.sdk import call
from tests.apply_support import Emulator, SpecModel, emulator, snapshot
from tests.helpers import run_cli
from tests.test_diff import (
    DOMAINS,
    FP1,
    TAGS,
    TRAINED,
    _sha,
    desired,
    image,
    iteration,
    live,
    managed,
)

R = ops.Reason

# The spec renames tag "a" to "c": image 1 is tagged "c", and the spec says where it came from.
RENAMED_TAGS = (DesiredTag("b", "", "Regular"), DesiredTag("c", "", "Regular", renamed_from="a"))
FP_C = dataset_iteration_name("{}", [(_sha(1)[:16], ("c",)), (_sha(2)[:16], ("b",))])


def renamed(**changes: object) -> Any:
    training = replace(desired().training, iteration_name=FP_C)  # type: ignore[arg-type]
    base = desired(tags=RENAMED_TAGS, images=(image(1, "c"), image(2, "b")), training=training)
    return replace(base, **changes)


def steps(plan: Any) -> list[tuple[str, R]]:
    return [(type(op).__name__, op.reason_code) for op in plan.operations]


# --- the pure diff ---------------------------------------------------------------------------


def test_rename__one_tag_update_and_the_iteration_renamed_no_training() -> None:
    plan = diff(renamed(), live())
    assert steps(plan) == [("UpdateTag", R.TAG_RENAMED), ("RenameIteration", R.TAG_RENAMED)]
    update, rename = plan.operations
    assert isinstance(update, ops.UpdateTag) and isinstance(rename, ops.RenameIteration)
    assert (update.tag_id, update.before, update.after) == ("ta", {"name": "a"}, {"name": "c"})
    assert update.reason == "the spec's tag 'c' is renamed_from 'a'"
    assert (rename.iteration_id, rename.iteration_name, rename.new_name) == ("it1", FP1, FP_C)


def test_rename__with_tag_names_in_the_training_settings() -> None:
    def settings(*names: str) -> str:
        return json.dumps({"tags": sorted([n, "Regular"] for n in names), "x": "c"})

    old = dataset_iteration_name(
        settings("a", "b"), [(_sha(1)[:16], ("a",)), (_sha(2)[:16], ("b",))]
    )
    new = dataset_iteration_name(
        settings("c", "b"), [(_sha(1)[:16], ("c",)), (_sha(2)[:16], ("b",))]
    )
    want = renamed(
        training=replace(renamed().training, iteration_name=new, settings_json=settings("c", "b"))
    )
    have = live(iterations=(replace(TRAINED, name=old),))
    plan = diff(want, have)
    assert steps(plan) == [("UpdateTag", R.TAG_RENAMED), ("RenameIteration", R.TAG_RENAMED)]
    assert plan.of_type(ops.RenameIteration)[0].new_name == new


def test_rename__without_an_iteration_of_the_old_dataset_trains_as_usual() -> None:
    plan = diff(renamed(), live(iterations=(replace(TRAINED, name="cvspec-other"),)))
    assert ("UpdateTag", R.TAG_RENAMED) in steps(plan)
    assert not plan.of_type(ops.RenameIteration)
    assert [op.iteration_name for op in plan.of_type(ops.Train)] == [FP_C]
    # the images keep their tag: renaming the tag renames it on them
    assert not plan.of_type(ops.RemoveImageTags) and not plan.of_type(ops.AddImageTags)


def test_rename__once_applied_the_leftover_renamed_from_changes_nothing() -> None:
    tags = (TAGS[1], LiveTag("ta", "c", "", "Regular", 1))
    have = live(
        tags=tags,
        images=(managed(1, "c"), managed(2, "b")),
        iterations=(replace(TRAINED, name=FP_C),),
    )
    assert diff(renamed(), have).is_empty()


def test_rename__after_an_apply_interrupted_between_the_tag_and_the_iteration() -> None:
    tags = (TAGS[1], LiveTag("ta", "c", "", "Regular", 1))
    have = live(tags=tags, images=(managed(1, "c"), managed(2, "b")))  # iteration: still FP1
    plan = diff(renamed(), have)
    assert steps(plan) == [("RenameIteration", R.TAG_RENAMED)]


def test_rename__of_case_only_renames_the_iteration_too() -> None:
    # no renamed_from needed: the service compares tag names case-insensitively
    fp = dataset_iteration_name("{}", [(_sha(1)[:16], ("A",)), (_sha(2)[:16], ("b",))])
    want = desired(
        tags=(DesiredTag("A", "", "Regular"), DesiredTag("b", "", "Regular")),
        images=(image(1, "A"), image(2, "b")),
        training=replace(desired().training, iteration_name=fp),  # type: ignore[arg-type]
    )
    plan = diff(want, live())
    assert steps(plan) == [("UpdateTag", R.SETTINGS_DIFFER), ("RenameIteration", R.TAG_RENAMED)]


def test_rename__not_when_the_project_has_both_names() -> None:
    tags = (*TAGS, LiveTag("tc", "c", "", "Regular", 0))
    plan = diff(renamed(), live(tags=tags))
    assert not plan.of_type(ops.UpdateTag)
    assert not plan.of_type(ops.RenameIteration)
    assert plan.of_type(ops.AddImageTags)  # image 1 moves from "a" to the existing "c"


def test_rename__keeps_a_gate_failure_record() -> None:
    failed = failed_iteration_name(FP1, "k1")
    plan = diff(renamed(), live(iterations=(replace(TRAINED, name=failed, publish_name=""),)))
    assert plan.of_type(ops.RenameIteration)[0].new_name == failed_iteration_name(FP_C, "k1")


def test_rename__images_kept_outside_the_spec_are_renamed_too() -> None:
    # prune.images is off: image 3, no longer listed, stays and is trained on under "a"
    kept = managed(3, "a")
    old = dataset_iteration_name(
        "{}", [(_sha(1)[:16], ("a",)), (_sha(2)[:16], ("b",)), (_sha(3)[:16], ("a",))]
    )
    have = live(images=(*live().images, kept), iterations=(replace(TRAINED, name=old),))
    plan = diff(renamed(), have)
    assert steps(plan) == [("UpdateTag", R.TAG_RENAMED), ("RenameIteration", R.TAG_RENAMED)]
    after = live(
        tags=(TAGS[1], LiveTag("ta", "c", "", "Regular", 2)),
        images=(managed(1, "c"), managed(2, "b"), managed(3, "c")),
        iterations=(replace(TRAINED, name=plan.of_type(ops.RenameIteration)[0].new_name),),
    )
    assert [d.kind for d in diff(renamed(), after).drift] == [
        d.kind for d in diff(renamed(), have).drift
    ]
    assert diff(renamed(), after).is_empty()


REPLACED = live(
    images=(*live().images, LiveImage("u1", None, ("a",)), LiveImage("u2", None, ())),
    iterations=(TRAINED, iteration(1)),
)


def test_replace__lists_what_is_lost() -> None:
    plan = diff(desired(classification_type="Multilabel"), REPLACED)
    delete = plan.of_type(ops.DeleteProject)[0]
    assert delete.reason_code is R.REPLACE_BECAUSE_CANNOT_UPDATE
    assert delete.losses == (
        "4 images, 2 of them not uploaded by cvspec",
        "2 iterations",
        "publish name 'prod' (clients calling it will fail)",
    )


def test_replace__needs_consent_one_line_naming_losses_and_flag() -> None:
    plan = diff(desired(classification_type="Multilabel"), REPLACED)
    with pytest.raises(PlanError) as raised:
        check_replace_consent(plan, consent=False)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("project 'p' must be replaced (classification type changes")
    assert "it deletes: 4 images, 2 of them not uploaded by cvspec; 2 iterations; " in message
    assert "'prod' (clients calling it will fail)" in message
    assert message.endswith("Run again with --replace to allow it.")
    check_replace_consent(plan, consent=True)
    check_replace_consent(diff(desired(description="x"), live()), consent=False)  # no replace


def test_replace__of_a_detection_project_needs_consent_too() -> None:
    detection = live(project=replace(live().project, domain_id=DOMAINS[2].id))  # type: ignore[arg-type]
    plan = diff(desired(), detection)
    assert plan.of_type(ops.DeleteProject)[0].losses == (
        "2 images",
        "1 iteration",
        "publish name 'prod' (clients calling it will fail)",
    )
    with pytest.raises(PlanError, match=r"domain type changes from ObjectDetection"):
        check_replace_consent(plan, consent=False)


def test_replace__protect_still_refuses() -> None:
    with pytest.raises(PlanError, match="protected"):
        diff(desired(classification_type="Multilabel", protect=True), REPLACED)


def test_destroy__lists_what_is_lost() -> None:
    plan = destroy_plan("p", REPLACED, protect=False)
    assert (
        plan.of_type(ops.DeleteProject)[0].losses[0] == "4 images, 2 of them not uploaded by cvspec"
    )
    assert destroy_plan("p", LiveState(DOMAINS, None), protect=False).is_empty()


# --- through the CLI, on the emulator ----------------------------------------------------------


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with emulator(tmp_path_factory.mktemp("emulator")) as running:
        yield running


def _cli(emu: Emulator, spec: Path, *args: str) -> Any:
    return run_cli(*args, cwd=spec.parent, env=emu.env())


def _edit(spec: Path, change: Any) -> None:
    doc = yaml.safe_load(spec.read_text())
    change(doc)
    spec.write_text(yaml.safe_dump(doc, sort_keys=False))


def _ok(result: Any) -> Any:
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_cli_rename__one_update_and_an_iteration_rename_then_no_op(
    emu: Emulator, tmp_path: Path
) -> None:
    model = SpecModel(
        name="rename-cli",
        tags={"red": "", "blue": ""},
        images={"red": list(range(6)), "blue": list(range(6, 12))},
        learnable=True,
    )
    spec = model.write(tmp_path)
    _ok(_cli(emu, spec, "apply", spec.name, "--auto-approve"))
    before = snapshot(emu.service, model.name)
    (published,) = before.published("latest")

    # Rename blue to navy: the folder moves (its {tag} is the tag), the spec says where from.
    shutil.move(tmp_path / "images" / "blue", tmp_path / "images" / "navy")

    def rename(doc: dict[str, Any]) -> None:
        doc["tags"] = [{"name": "navy", "renamed_from": "blue"}, {"name": "red"}]

    _edit(spec, rename)
    _ok(_cli(emu, spec, "plan", spec.name, "-out", "rename.plan"))
    plan = load_plan(tmp_path / "rename.plan")
    assert steps(plan) == [("UpdateTag", R.TAG_RENAMED), ("RenameIteration", R.TAG_RENAMED)]
    assert plan.of_type(ops.RenameIteration)[0].iteration_name == published
    text = _ok(_cli(emu, spec, "plan", spec.name)).stdout
    assert "tag.blue" in text and "is renamed_from 'blue'" in text

    _ok(_cli(emu, spec, "apply", "rename.plan"))
    after = snapshot(emu.service, model.name)
    assert after.tags == ("navy", "red")
    assert len(after.iterations) == len(before.iterations)  # no new training
    (renamed_iteration,) = after.published("latest")  # the same iteration, renamed in place
    assert renamed_iteration == plan.of_type(ops.RenameIteration)[0].new_name
    assert sorted(t for _, tags in after.images for t in tags).count("navy") == 6
    assert _cli(emu, spec, "plan", spec.name, "--detailed-exitcode").returncode == 0

    predicted = _ok(_cli(emu, spec, "predict", spec.name, "images/navy/6.png")).stdout
    names = {line.split()[0] for line in predicted.splitlines()[1:]}
    assert names == {"navy", "red"}
    client = emu.service.training
    iteration = next(
        i for i in call(client.get_iterations, after.project_id) if i.name == renamed_iteration
    )
    performance = call(client.get_iteration_performance, after.project_id, iteration.id)
    assert {t.name for t in performance.per_tag_performance} == {"navy", "red"}  # gates see it


def test_cli_replace__refused_without_consent_then_allowed(emu: Emulator, tmp_path: Path) -> None:
    model = SpecModel(
        name="replace-cli",
        tags={"red": "", "blue": ""},
        images={"red": list(range(5)), "blue": list(range(5, 10))},
    )
    spec = model.write(tmp_path)
    _ok(_cli(emu, spec, "apply", spec.name, "--auto-approve"))
    project_id = snapshot(emu.service, model.name).project_id
    # an image added in the portal (not by cvspec)
    call(emu.service.training.create_images_from_data, project_id, model.image("red", 99))

    def multilabel(doc: dict[str, Any]) -> None:
        doc["project"]["classification"] = "multilabel"

    _edit(spec, multilabel)
    for command in (("plan", spec.name), ("apply", spec.name, "--auto-approve")):
        refused = _cli(emu, spec, *command)
        assert refused.returncode == 1
        (line,) = refused.stderr.strip().splitlines()
        assert line.startswith("Error: project 'replace-cli' must be replaced (classification")
        assert "it deletes: 11 images, 1 of them not uploaded by cvspec; 1 iteration;" in line
        assert "publish name 'latest' (clients calling it will fail)" in line
        assert line.endswith("Run again with --replace to allow it.")
    assert snapshot(emu.service, model.name).project_id == project_id  # no change

    shown = _ok(_cli(emu, spec, "plan", spec.name, "--replace", "-out", "replace.out"))
    assert "must be replaced" in shown.stdout
    assert "# this destroys: 11 images, 1 of them not uploaded by cvspec" in shown.stdout
    assert "# this destroys: publish name 'latest' (clients calling it will fail)" in shown.stdout
    saved = load_plan(tmp_path / "replace.out")
    assert (
        saved.of_type(ops.DeleteProject)[0].losses[0]
        == "11 images, 1 of them not uploaded by cvspec"
    )
    _ok(_cli(emu, spec, "apply", "replace.out"))  # consent was given when planning
    snap = snapshot(emu.service, model.name)
    assert snap.project_id != project_id
    project = call(emu.service.training.get_project, snap.project_id)
    assert project.settings.classification_type == "Multilabel"
    assert _cli(emu, spec, "plan", spec.name, "--detailed-exitcode").returncode == 0


def test_cli_replace__protect_still_refuses(emu: Emulator, tmp_path: Path) -> None:
    model = SpecModel(
        name="replace-protected",
        tags={"red": "", "blue": ""},
        images={"red": list(range(5)), "blue": list(range(5, 10))},
        training=False,
        publish=None,
        protect=True,
    )
    spec = model.write(tmp_path)
    _ok(_cli(emu, spec, "apply", spec.name, "--auto-approve"))
    _edit(spec, lambda doc: doc["project"].__setitem__("classification", "multilabel"))
    refused = _cli(emu, spec, "plan", spec.name, "--replace")
    assert refused.returncode == 1 and "protected" in refused.stderr


def test_cli_destroy_plan__lists_losses(emu: Emulator, tmp_path: Path) -> None:
    model = SpecModel(
        name="destroy-losses",
        tags={"red": "", "blue": ""},
        images={"red": list(range(5)), "blue": list(range(5, 10))},
        training=False,
        publish=None,
    )
    spec = model.write(tmp_path)
    _ok(_cli(emu, spec, "apply", spec.name, "--auto-approve"))
    _ok(_cli(emu, spec, "plan", spec.name, "--destroy", "-out", "destroy.out"))
    delete = load_plan(tmp_path / "destroy.out").of_type(ops.DeleteProject)[0]
    assert delete.losses == ("10 images",)
