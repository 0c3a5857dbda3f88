"""The planner knows the service's training rules, and trains the spec's tags only.

Through the CLI against an emulator served from this process: a tag moved to a new name
while the old tag stays, images tagged in the portal (trained on when they carry the spec's
tags, drift otherwise), a plan refused before any change, images an interrupted apply left
pending (adopted by the plan, never by planning). Then the pure rules on the diff's tables.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from azure.cognitiveservices.vision.customvision.training import models as m
from click.testing import CliRunner, Result

from cvspec import ops
from cvspec.cli import main
from cvspec.diff import diff
from cvspec.errors import PlanError
from cvspec.live import LiveImage, LiveTag
from cvspec.plan import DriftKind
from cvspec.sdk import call
from tests.apply_support import Emulator, SpecModel, emulator, png, snapshot
from tests.test_diff import IMAGES, NEW_TRAINING, TAGS, desired, image, live, managed

R = ops.Reason


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with emulator(tmp_path_factory.mktemp("rules-emulator")) as running:
        yield running


def cli(emu: Emulator, *args: str | Path) -> Result:
    runner = CliRunner(env={**emu.env(), "COLUMNS": "100"})
    return runner.invoke(main, [str(a) for a in args])


def plan_json(emu: Emulator, spec: Path) -> dict[str, Any]:
    result = cli(emu, "plan", spec, "--format", "json")
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.output)
    return doc


def drift_kinds(doc: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {d["kind"]: d["counts"] for d in doc["resource_drift"]}


def apply_ok(emu: Emulator, spec: Path) -> Result:
    result = cli(emu, "apply", spec, "--auto-approve")
    assert result.exit_code == 0, result.output
    return result


def exit_code(emu: Emulator, spec: Path) -> int:
    return cli(emu, "plan", spec, "--detailed-exitcode").exit_code


def two_tags(name: str, **kw: Any) -> SpecModel:
    return SpecModel(
        name=name,
        tags={"red": "", "blue": ""},
        images={"red": list(range(100, 105)), "blue": list(range(200, 205))},
        **kw,
    )


def project_of(emu: Emulator, name: str) -> tuple[str, dict[str, str]]:
    """The project's id and its tag ids by name."""
    pid = snapshot(emu.service, name).project_id
    assert pid is not None
    tags = {t.name: t.id for t in call(emu.service.training.get_tags, pid)}
    return pid, tags


def portal_upload(emu: Emulator, pid: str, seeds: list[int], tag_ids: list[str]) -> list[str]:
    """Images uploaded behind cvspec's back (no identity), as the portal does."""
    entries = [m.ImageFileCreateEntry(name=f"{s}.png", contents=png(s)) for s in seeds]
    batch = m.ImageFileCreateBatch(images=entries, tag_ids=tag_ids or None)
    summary = call(emu.service.training.create_images_from_files, pid, batch)
    return [i.image.id for i in summary.images]


def trained_tags(emu: Emulator, pid: str) -> set[str]:
    """The tags of the newest completed iteration."""
    client = emu.service.training
    done = [i for i in call(client.get_iterations, pid) if i.status == "Completed"]
    newest = max(done, key=lambda i: i.created)
    return {t.name for t in call(client.get_tags, pid, iteration_id=newest.id)}


# --- the scenario of the issue: a tag's images move to a new tag, the old tag stays ----------


def test_moving_every_image_to_a_new_tag_trains_while_the_old_tag_stays(
    emu: Emulator, tmp_path: Path
) -> None:
    model = two_tags("rules-move", prune=False, keep=1)
    spec = model.write(tmp_path)
    apply_ok(emu, spec)
    first = {n for n, _, _ in snapshot(emu.service, model.name).iterations}

    model.tags = {"crimson": "", "blue": ""}
    model.images = {"crimson": model.images.pop("red"), "blue": model.images["blue"]}
    spec = model.write(tmp_path)
    assert exit_code(emu, spec) == 2
    apply_ok(emu, spec)

    snap = snapshot(emu.service, model.name)
    pid, _ = project_of(emu, model.name)
    assert "red" in snap.tags  # kept (no prune.tags), now without images, and not trained
    assert trained_tags(emu, pid) == {"crimson", "blue"}
    (published,) = snap.published("latest")
    assert published not in first and all(s == "Completed" for _, s, _ in snap.iterations)
    assert exit_code(emu, spec) == 0


# --- images tagged behind cvspec's back --------------------------------------------------------


def test_portal_images_with_spec_tags_are_trained_on_and_change_the_plan(
    emu: Emulator, tmp_path: Path
) -> None:
    model = two_tags("rules-portal", prune=False)
    spec = model.write(tmp_path)
    apply_ok(emu, spec)
    pid, tag_ids = project_of(emu, model.name)
    (portal_image,) = portal_upload(emu, pid, [9001], [tag_ids["red"]])

    doc = plan_json(emu, spec)
    assert drift_kinds(doc)["unmanaged_images_trained"] == {"red": 1}
    assert "Train" in {op for c in doc["resource_changes"] for op in c["operations"]}
    assert exit_code(emu, spec) == 2
    apply_ok(emu, spec)
    assert exit_code(emu, spec) == 0  # the iteration's name covers the portal image

    portal_tag = call(emu.service.training.create_tag, pid, "portal")
    portal_upload(emu, pid, [9002], [portal_tag.id])  # 1 image: this tag could not train
    portal_upload(emu, pid, [9003], [])
    doc = plan_json(emu, spec)
    kinds = drift_kinds(doc)
    assert kinds["unmanaged_images"] == {"portal": 1}
    assert kinds["unmanaged_images_untagged"] == {"(untagged)": 1}
    assert doc["resource_changes"] == []
    assert exit_code(emu, spec) == 0  # not trained: drift only

    model.images["blue"].append(205)  # a new training: the portal tag does not block it
    spec = model.write(tmp_path)
    apply_ok(emu, spec)
    assert trained_tags(emu, pid) == {"red", "blue"}
    assert exit_code(emu, spec) == 0
    assert portal_image in {i.id for i in call(emu.service.training.get_images, pid)}


def _with_negative_tag(spec: Path, description: str = "") -> None:
    doc = yaml.safe_load(spec.read_text())
    if all(t["name"] != "nothing" for t in doc["tags"]):
        doc["tags"].append({"name": "nothing", "type": "negative"})
    doc["project"]["description"] = description
    spec.write_text(yaml.safe_dump(doc, sort_keys=False))


def test_a_plan_that_training_would_refuse_is_refused_before_any_change(
    emu: Emulator, tmp_path: Path
) -> None:
    model = two_tags("rules-refuse")
    spec = model.write(tmp_path)
    _with_negative_tag(spec)  # declared, without images: not trained
    apply_ok(emu, spec)
    pid, tag_ids = project_of(emu, model.name)
    portal_upload(emu, pid, [9101, 9102], [tag_ids["nothing"]])  # now trained, with 2 images
    before = snapshot(emu.service, model.name)

    _with_negative_tag(spec, description="changed")
    refused = cli(emu, "apply", spec, "--auto-approve")
    assert refused.exit_code == 1
    message = refused.output.strip().splitlines()[-1]
    assert "'nothing' (2 images: 0 in the spec, 2 not uploaded by cvspec)" in message
    assert "at least" in message or "fewer than the 5 images" in message
    assert snapshot(emu.service, model.name) == before
    project = call(emu.service.training.get_project, pid)
    assert project.description == ""  # nothing was applied
    assert cli(emu, "plan", spec).exit_code == 1


def test_a_portal_image_with_two_trained_tags_in_a_multiclass_project_is_refused(
    emu: Emulator, tmp_path: Path
) -> None:
    model = two_tags("rules-multiclass")
    spec = model.write(tmp_path)
    apply_ok(emu, spec)
    pid, tag_ids = project_of(emu, model.name)
    client = emu.service.training
    project = call(client.get_project, pid)

    def switch(kind: str) -> None:  # as the portal's settings page does
        project.settings.classification_type = kind
        call(client.update_project, pid, project)

    switch("Multilabel")
    (both,) = portal_upload(emu, pid, [9201], [tag_ids["red"], tag_ids["blue"]])
    switch("Multiclass")
    refused = cli(emu, "plan", spec)
    assert refused.exit_code == 1
    (message,) = [line for line in refused.output.splitlines() if line.strip()]
    assert f"{both} (blue/red)" in message and "multiclass" in message
    assert "prune.unmanaged_images" in message

    doc = yaml.safe_load(spec.read_text())
    doc["prune"]["unmanaged_images"] = True  # what the message suggests: then it plans
    spec.write_text(yaml.safe_dump(doc, sort_keys=False))
    apply_ok(emu, spec)
    assert both not in {i.id for i in call(client.get_images, pid)}
    assert exit_code(emu, spec) == 0


# --- images an interrupted apply left pending --------------------------------------------------


def test_pending_images_are_adopted_by_the_plan_not_by_planning(
    emu: Emulator, tmp_path: Path
) -> None:
    model = two_tags("rules-pending", training=False, publish=None)
    spec = model.write(tmp_path)
    client = emu.service.training
    project = call(client.create_project, model.name, classification_type="Multiclass")
    tags = {t: call(client.create_tag, project.id, t).id for t in ("red", "blue")}
    for tag, seeds in model.images.items():
        extra = [7001, 7002] if tag == "red" else []  # not in the spec: adopted, then pruned
        entries = [
            m.ImageFileCreateEntry(name=f"{s}.png", contents=model.image(tag, s))
            for s in [*seeds, *extra]
        ]
        batch = m.ImageFileCreateBatch(
            images=entries, tag_ids=[tags[tag]], metadata={"cvspec": "pending"}
        )
        call(client.create_images_from_files, project.id, batch)

    shown = cli(emu, "plan", spec)
    assert shown.exit_code == 0, shown.output
    assert "not uploaded by cvspec" not in shown.output
    assert "12 image(s) uploaded by an interrupted apply" in shown.output
    doc = plan_json(emu, spec)
    assert drift_kinds(doc)["pending_images"] == {"blue": 5, "red": 7}
    changes = {op: c["change"] for c in doc["resource_changes"] for op in c["operations"]}
    assert set(changes) == {"AdoptPendingImages", "DeleteImages"}
    assert changes["AdoptPendingImages"]["after"]["count"] == 12
    assert changes["DeleteImages"]["before"]["count"] == 2
    still = call(client.get_images, project.id)  # planning changed nothing
    assert {(i.metadata or {}).get("cvspec") for i in still} == {"pending"}

    applied = cli(emu, "apply", spec, "--auto-approve", "--json")
    assert applied.exit_code == 0, applied.output
    summary = json.loads(applied.output.strip().splitlines()[-1])
    calls = summary["calls_by_operation"]
    assert "create_images_from_files" not in calls  # matched, not uploaded again
    assert calls["update_image_metadata"] == 1  # 12 images: one manifest
    snap = snapshot(emu.service, model.name)
    assert snap.managed() == model.expected() and len(snap.images) == 10
    assert exit_code(emu, spec) == 0


# --- the rules on the diff's tables -----------------------------------------------------------

# desired(): multiclass, tags a and b, images 1 (a) and 2 (b), trained as FP1; the tables
# lower the service's minimum of images per tag to 1.


def test_the_train_operation_selects_the_spec_tags() -> None:
    plan = diff(desired(), live(images=(*IMAGES, LiveImage("u", None, ("a",)))))
    (train,) = plan.of_type(ops.Train)
    assert train.selected_tags == ("a", "b")


def test_an_empty_negative_tag_is_not_selected_and_a_tagged_one_is() -> None:
    tags = (*desired().tags, replace(desired().tags[0], name="neg", type="Negative"))
    (train,) = diff(desired(tags=tags, training=NEW_TRAINING), live()).of_type(ops.Train)
    assert train.selected_tags == ("a", "b")
    want = desired(tags=tags, images=(*desired().images, image(3, "neg")), training=NEW_TRAINING)
    (train,) = diff(want, live()).of_type(ops.Train)
    assert train.selected_tags == ("a", "b", "neg")


def test_a_multiclass_image_with_two_trained_tags_is_refused_naming_it() -> None:
    portal = LiveImage("3f2a-portal", None, ("a", "b"))
    with pytest.raises(PlanError) as refused:
        diff(desired(), live(images=(*IMAGES, portal)))
    message = str(refused.value)
    assert "\n" not in message
    assert "multiclass" in message and "3f2a-portal (a/b)" in message
    assert "prune.unmanaged_images" in message
    # deleted by the plan (prune.unmanaged_images), it is not trained: no refusal
    plan = diff(desired(prune_unmanaged=True), live(images=(*IMAGES, portal)))
    assert [type(op).__name__ for op in plan.operations] == ["DeleteImages"]
    # in a multilabel project, two tags are fine
    assert diff(desired(classification_type="Multilabel"), live()).operations


def test_an_unlisted_tag_on_a_multiclass_image_is_not_trained() -> None:
    portal = LiveImage("u", None, ("a", "c"))
    tags = (*TAGS, LiveTag("tc", "c", "", "Regular", 1))
    plan = diff(desired(), live(images=(*IMAGES, portal), tags=tags))
    (train,) = plan.of_type(ops.Train)
    assert train.selected_tags == ("a", "b")


def test_the_minimum_counts_what_the_service_will_hold() -> None:
    two = replace(NEW_TRAINING, min_images_per_tag=2)
    # tag b: one image in the spec, one kept by cvspec (prune.images off), one from the portal
    spec_images = (image(1, "a"), image(4, "a"), image(2, "b"))
    kept = (managed(1, "a"), managed(4, "a"), managed(2, "b"), managed(3, "b"))
    assert diff(desired(images=spec_images, training=two), live(images=kept)).of_type(ops.Train)
    with pytest.raises(PlanError, match=r"'b' \(1 image\) would have fewer than the 2 images"):
        diff(
            desired(images=spec_images, training=two, prune_images=True),
            live(images=kept),
        )
    portal = LiveImage("u", None, ("b",))
    plan = diff(
        desired(images=spec_images, training=two, prune_images=True),
        live(images=(*kept, portal)),
    )
    assert plan.of_type(ops.Train) and plan.of_type(ops.DeleteImages)


def test_no_refusal_when_nothing_is_trained() -> None:
    """The rules guard a training: a plan that trains nothing is not refused by them."""
    assert diff(desired(images=(image(1, "a"),), training=None), live()).operations == ()


def test_the_fingerprint_covers_trained_portal_images_only() -> None:
    base = diff(desired(), live())
    assert base.is_empty()
    unlisted = diff(desired(), live(images=(*IMAGES, LiveImage("u", None, ("c",)))))
    assert unlisted.is_empty()
    untagged = diff(desired(), live(images=(*IMAGES, LiveImage("u", None, ()))))
    assert untagged.is_empty()
    trained = diff(desired(), live(images=(*IMAGES, LiveImage("u", None, ("a",)))))
    other = diff(desired(), live(images=(*IMAGES, LiveImage("v", None, ("a",)))))
    names = {p.of_type(ops.Train)[0].iteration_name for p in (trained, other)}
    assert len(names) == 2  # by image id
    (drift,) = [d for d in trained.drift if d.kind is DriftKind.UNMANAGED_TRAINED]
    assert drift.changes_model and drift.items == ("u",)


def test_a_pending_image_that_could_not_be_read_is_trained_as_any_image_with_spec_tags() -> None:
    unreadable = LiveImage("p", None, ("a",), pending=True)
    plan = diff(desired(), live(images=(*IMAGES, unreadable)))
    (drift,) = plan.drift
    assert drift.kind is DriftKind.PENDING_IMAGES and drift.changes_model
    assert "could not be downloaded" in drift.detail
    assert plan.of_type(ops.Train) and not plan.of_type(ops.AdoptPendingImages)
