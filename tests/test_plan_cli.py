"""`cvspec plan` and `cvspec show` through the CLI against a real emulator on 127.0.0.1:
exit codes, saved plans (no secrets, stale refusal), drift, replacement, formats."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.cognitiveservices.vision.customvision.training.models import (
    ImageFileCreateBatch,
    ImageFileCreateEntry,
    ImageTagCreateEntry,
)
from click.testing import CliRunner, Result
from PIL import Image

from cvspec.cli import main
from cvspec.emulator.server import EmulatorServer
from cvspec.service import Service, Settings, make_service
from tests.helpers import copy_example, emulator_env

EXAMPLE_NAME = "name: digits-example"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with EmulatorServer(data_dir=tmp_path_factory.mktemp("plan-emulator")) as running:
        yield running


@pytest.fixture(scope="module")
def env(server: EmulatorServer) -> dict[str, str]:
    return emulator_env(server)


@pytest.fixture(scope="module")
def service(server: EmulatorServer) -> Service:
    return make_service(Settings(server.training_endpoint, server.training_key), target="test")


def spec_for(tmp_path: Path, name: str, edit: dict[str, str] | None = None) -> Path:
    """The example spec under its own project name, with text replacements."""
    spec = copy_example(tmp_path)
    text = spec.read_text().replace(EXAMPLE_NAME, f"name: {name}")
    for old, new in (edit or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    spec.write_text(text)
    return spec


def cli(env: dict[str, str], *args: str | Path) -> Result:
    return CliRunner(env={**env, "COLUMNS": "100"}).invoke(main, [str(a) for a in args])


def project_id(service: Service, name: str) -> str:
    return next(p.id for p in service.training.get_projects() if p.name == name)


def png(n: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), (n % 256, (n // 256) % 256, 77)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_plan_save_show_apply_then_no_changes(
    tmp_path: Path, env: dict[str, str], server: EmulatorServer
) -> None:
    spec = spec_for(tmp_path, "plan-roundtrip")
    planned = cli(env, "plan", spec, "--detailed-exitcode", "-out", tmp_path / "plan.json")
    assert planned.exit_code == 2, planned.output
    # 1 project, 3 tags, 24 images, 1 iteration, 1 publish name
    assert "Plan: 30 to add, 0 to change, 0 to destroy." in planned.output
    assert "Saved the plan to:" in planned.output

    saved = (tmp_path / "plan.json").read_text()
    for secret in (server.training_key, server.prediction_key, server.training_endpoint):
        assert secret not in saved
    shown = cli(env, "show", tmp_path / "plan.json")
    assert shown.exit_code == 0
    target = planned.output.split("\n\n", 1)[0]
    # the host and the project, never a key
    assert target == f"Target: 127.0.0.1:{server.port}, project 'plan-roundtrip'"
    assert planned.output.startswith(shown.output.rstrip("\n"))

    applied = cli(env, "apply", tmp_path / "plan.json")
    assert applied.exit_code == 0, applied.output
    again = cli(env, "plan", spec, "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert again.output.split("\n\n", 1)[1].startswith("No changes. Your project matches the spec.")
    stale = cli(env, "apply", tmp_path / "plan.json")
    assert stale.exit_code == 1
    assert "Error: Saved plan is stale" in stale.output


def test_a_saved_plan_is_refused_when_the_project_changed_by_hand(
    tmp_path: Path, env: dict[str, str], service: Service
) -> None:
    spec = spec_for(tmp_path, "plan-stale")
    assert cli(env, "apply", spec, "--auto-approve").exit_code == 0
    edited = spec_for(tmp_path / "edited", "plan-stale", {"The digit 7": "Seven"})
    assert cli(env, "plan", edited, "--out", tmp_path / "p.json").exit_code == 0
    pid = project_id(service, "plan-stale")
    service.training.create_tag(pid, "added-in-the-portal")

    refused = cli(env, "apply", tmp_path / "p.json")
    assert refused.exit_code == 1
    assert "Saved plan is stale" in refused.output and "tags: 3 -> 4" in refused.output
    seven = next(t for t in service.training.get_tags(pid) if t.name == "seven")
    assert seven.description == "The digit 7"  # nothing was applied


def test_hand_made_changes_show_as_drift_and_unmanaged_images_are_never_deleted(
    tmp_path: Path, env: dict[str, str], service: Service
) -> None:
    spec = spec_for(
        tmp_path, "plan-drift", {"publish:": "prune:\n  images: true\n  tags: false\npublish:"}
    )
    assert cli(env, "apply", spec, "--auto-approve").exit_code == 0
    pid = project_id(service, "plan-drift")
    tag = service.training.create_tag(pid, "portal")
    service.training.create_images_from_data(pid, png(1), tag_ids=[tag.id])

    text = cli(env, "plan", spec, "--detailed-exitcode")
    assert text.exit_code == 0, text.output  # drift alone is not a change
    assert "Note: Objects have changed outside of cvspec" in text.output
    assert "1 image(s) in the project were not uploaded by cvspec" in text.output
    assert "tag.portal: is in the project" in text.output
    doc = json.loads(cli(env, "plan", spec, "--format", "json").output)
    assert doc["applyable"] is False and doc["resource_changes"] == []
    kinds = {d["kind"]: d["counts"] for d in doc["resource_drift"]}
    assert kinds == {"unlisted_tag": {}, "unmanaged_images": {"portal": 1}}


def test_classification_change_is_a_replacement_and_protect_refuses_it(
    tmp_path: Path, env: dict[str, str]
) -> None:
    spec = spec_for(tmp_path, "plan-replace")
    assert cli(env, "apply", spec, "--auto-approve").exit_code == 0
    multilabel = spec_for(tmp_path / "m", "plan-replace", {"multiclass": "multilabel"})
    planned = cli(env, "plan", multilabel, "--detailed-exitcode", "--replace")
    assert planned.exit_code == 2, planned.output
    assert "-/+ project.plan-replace" in planned.output
    assert (
        '~ classification_type = "Multiclass" -> "Multilabel"  # forces replacement'
        in planned.output
    )
    assert "Plan: 30 to add, 0 to change, 1 to destroy." in planned.output
    protected = spec_for(
        tmp_path / "p",
        "plan-replace",
        {"multiclass": "multilabel", "tags:": "protect: true\ntags:"},
    )
    refused = cli(env, "plan", protected, "--detailed-exitcode", "--replace")
    assert refused.exit_code == 1
    assert "is protected (protect: true); refusing to replace it" in refused.output


def test_markdown_and_json_formats_of_plan_and_show(tmp_path: Path, env: dict[str, str]) -> None:
    spec = spec_for(tmp_path, "plan-formats")
    markdown = cli(env, "plan", spec, "--format", "markdown", "-out", tmp_path / "f.json")
    assert markdown.exit_code == 0
    assert markdown.output.startswith("<!-- cvspec-plan project=plan-formats -->")
    assert "<details>" in markdown.output and "Saved the plan" not in markdown.output
    shown = cli(env, "show", tmp_path / "f.json", "--format", "markdown")
    assert shown.output == markdown.output
    doc = json.loads(cli(env, "show", tmp_path / "f.json", "--format", "json").output)
    assert doc["format_version"] == "2.3"
    assert [c["change"]["actions"] for c in doc["resource_changes"]] == [["create"]] * 7


def test_show_refuses_an_altered_plan_file(tmp_path: Path, env: dict[str, str]) -> None:
    spec = spec_for(tmp_path, "plan-altered")
    assert cli(env, "plan", spec, "-out", tmp_path / "a.json").exit_code == 0
    path = tmp_path / "a.json"
    path.write_text(path.read_text().replace("digits-latest", "somewhere-else"))
    shown = cli(env, "show", path)
    assert shown.exit_code == 1
    assert "altered after it was saved" in shown.output


def test_the_live_reader_pages_by_256_and_reads_what_the_sdk_models_read(
    service: Service,
) -> None:
    from cvspec import live as live_module

    project = service.training.create_project("plan-paging")
    for start in range(0, 300, 64):
        entries = [
            ImageFileCreateEntry(name=f"{n}.png", contents=bytearray(png(n)))
            for n in range(start, min(start + 64, 300))
        ]
        service.training.create_images_from_files(project.id, ImageFileCreateBatch(images=entries))
    calls: list[str] = []
    original = live_module.call

    def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(fn.__name__)
        return original(fn, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(live_module, "call", counting)
        state = live_module.read_live(service, "plan-paging")
    assert len(state.images) == 300
    assert calls == [
        "get_domains",
        "get_projects",
        "get_tags",
        "get_images",
        "get_images",
        "get_iterations",
    ]
    models = [
        image
        for skip in (0, 256)
        for image in service.training.get_images(project.id, take=256, skip=skip)
    ]
    assert sorted(i.id for i in models) == [i.id for i in state.images]
    assert all(i.hash_key is None and i.tags == () for i in state.images)


@pytest.mark.parametrize(
    ("tty", "env", "flag", "expected"),
    [
        (True, {}, False, True),
        (True, {"NO_COLOR": "1"}, False, False),
        (True, {"NO_COLOR": ""}, False, True),  # no-color.org: set and not empty
        (True, {}, True, False),
        (False, {}, False, False),
        (True, {"TERM": "dumb"}, False, False),
        (False, {"FORCE_COLOR": "1"}, False, True),  # force-color.org, in a CI log
        (False, {"FORCE_COLOR": "1", "NO_COLOR": "1"}, False, False),  # NO_COLOR wins
        (False, {"FORCE_COLOR": "1"}, True, False),  # and so does the flag
        (True, {"TTY_COMPATIBLE": "0"}, False, False),
    ],
)
def test_colour_only_on_a_terminal_without_no_color(
    monkeypatch: pytest.MonkeyPatch, tty: bool, env: dict[str, str], flag: bool, expected: bool
) -> None:
    import sys

    from cvspec.commands.plan import use_color

    monkeypatch.setattr(sys.stdout, "isatty", lambda: tty)
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLORTERM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert use_color(flag) is expected


def test_service_errors_on_the_json_image_path_keep_their_code(service: Service) -> None:
    from cvspec import live as live_module
    from cvspec.errors import ServiceError

    missing = "00000000-0000-0000-0000-000000000000"
    with pytest.raises(ServiceError) as caught:
        live_module._read_images(service, missing, {})
    assert caught.value.status == 404
    assert caught.value.code is not None and caught.value.code.startswith("NotFound")


def test_plan_destroy_saves_a_plan_that_apply_runs(
    tmp_path: Path, env: dict[str, str], service: Service
) -> None:
    spec = spec_for(tmp_path, "plan-destroy")
    assert cli(env, "apply", spec, "--auto-approve").exit_code == 0
    planned = cli(
        env, "plan", spec, "--destroy", "--detailed-exitcode", "-out", tmp_path / "d.json"
    )
    assert planned.exit_code == 2, planned.output
    assert (
        "  # project.plan-destroy will be destroyed\n  # (because destroy was requested)"
        in planned.output
    )
    assert "Plan: 0 to add, 0 to change, 1 to destroy." in planned.output
    applied = cli(env, "apply", tmp_path / "d.json")
    assert applied.exit_code == 0, applied.output
    assert "plan-destroy" not in {p.name for p in service.training.get_projects()}
    nothing = cli(env, "plan", spec, "--destroy", "--detailed-exitcode")
    assert nothing.exit_code == 0
    assert "\n\nNo changes. No objects need to be destroyed." in nothing.output


def test_a_saved_plan_is_refused_after_a_count_preserving_retag_in_the_portal(
    tmp_path: Path, env: dict[str, str], service: Service
) -> None:
    spec = spec_for(tmp_path, "plan-retag")
    assert cli(env, "apply", spec, "--auto-approve").exit_code == 0
    edited = spec_for(tmp_path / "edited", "plan-retag", {"The digit 7": "Seven"})
    assert cli(env, "plan", edited, "--out", tmp_path / "p.json").exit_code == 0
    pid = project_id(service, "plan-retag")
    tags = {t.name: t.id for t in service.training.get_tags(pid)}
    one, other = sorted(tags)[:2]
    a = service.training.get_tagged_images(pid, tag_ids=[tags[one]], take=1)[0]
    b = service.training.get_tagged_images(pid, tag_ids=[tags[other]], take=1)[0]
    service.training.delete_image_tags(pid, [a.id, b.id], [tags[one], tags[other]])
    service.training.create_image_tags(
        pid,
        tags=[
            ImageTagCreateEntry(image_id=a.id, tag_id=tags[other]),
            ImageTagCreateEntry(image_id=b.id, tag_id=tags[one]),
        ],
    )  # the two images swap tags: as many images, tags and images per tag as before

    refused = cli(env, "apply", tmp_path / "p.json")
    assert refused.exit_code == 1
    assert "Saved plan is stale" in refused.output
    assert "images, tags or iterations were modified" in refused.output
    seven = next(t for t in service.training.get_tags(pid) if t.name == "seven")
    assert seven.description == "The digit 7"  # nothing was applied
