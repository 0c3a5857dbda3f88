"""`cvspec status` through the CLI against a running emulator, compared with what the
official SDK reads of the same project: a spec applied by cvspec (multilabel, trained and
published), then images added the portal's way (tagged by someone else, and untagged)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient

from cvspec.emulator.server import EmulatorServer
from tests.emulator.support import PALETTE, make_image, training_client, unique_name
from tests.export_support import (
    PortalProject,
    add_images,
    build_portal_project,
    sdk_tag_counts,
    sdk_untagged,
)
from tests.helpers import emulator_env, run_cli

SPEC = """\
version: 1
project: {{name: {name}, classification: multilabel}}
tags: [{{name: red}}, {{name: blue}}]
images:
  - path: "images/{{tag}}/*.png"
training: {{}}
publish: {{name: {publish}}}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with EmulatorServer(tmp_path_factory.mktemp("status-emulator")) as srv:
        yield srv


@pytest.fixture(scope="module")
def trainer(server: EmulatorServer) -> CustomVisionTrainingClient:
    return training_client(server)


@pytest.fixture(scope="module")
def applied(
    server: EmulatorServer, trainer: CustomVisionTrainingClient, tmp_path_factory: Any
) -> dict[str, Any]:
    """5 red and 5 blue images applied by cvspec; then 2 red and 2 untagged by the portal."""
    folder = tmp_path_factory.mktemp("status-spec")
    for tag in ("red", "blue"):
        (folder / "images" / tag).mkdir(parents=True)
        for n in range(5):
            data = make_image(PALETTE[tag], label=unique_name())
            (folder / "images" / tag / f"{n}.png").write_bytes(data)
    name, publish = unique_name("status"), unique_name("pub")
    (folder / "spec.yaml").write_text(SPEC.format(name=name, publish=publish))
    result = run_cli("apply", "spec.yaml", "--auto-approve", cwd=folder, env=emulator_env(server))
    assert result.returncode == 0, result.stdout + result.stderr
    (found,) = [p for p in trainer.get_projects() if p.name == name]
    project = PortalProject(found.id, name)
    red = next(t for t in trainer.get_tags(found.id) if t.name == "red")
    add_images(trainer, project, [red.id], 2, PALETTE["red"])
    add_images(trainer, project, [], 2, PALETTE["yellow"])
    return {"folder": folder, "project": project, "publish": publish}


def _status(server: EmulatorServer, folder: Path, *args: str) -> Any:
    result = run_cli("status", "spec.yaml", *args, cwd=folder, env=emulator_env(server))
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_status_json__matches_what_the_sdk_reads(
    server: EmulatorServer, trainer: CustomVisionTrainingClient, applied: dict[str, Any]
) -> None:
    project_id = applied["project"].id
    status = json.loads(_status(server, applied["folder"], "--format", "json").stdout)
    assert status["format_version"] == 1
    assert status["project"]["id"] == project_id
    assert status["project"]["classification"] == "Multilabel"
    tags = {t["name"]: t for t in status["tags"]}
    assert {n: t["images"] for n, t in tags.items()} == sdk_tag_counts(trainer, project_id)
    assert (tags["red"]["by_cvspec"], tags["red"]["by_others"]) == (5, 2)
    assert (tags["blue"]["by_cvspec"], tags["blue"]["by_others"]) == (5, 0)
    assert status["images"]["untagged"] == sdk_untagged(trainer, project_id) == 2
    assert status["images"]["total"] == 14
    assert (status["images"]["by_cvspec"], status["images"]["by_others"]) == (10, 4)

    sdk_iterations = trainer.get_iterations(project_id)
    assert [(i["id"], i["name"], i["status"]) for i in status["iterations"]] == [
        (i.id, i.name, i.status) for i in sdk_iterations
    ]
    (iteration,) = status["iterations"]
    assert iteration["name"] == "cvspec-" + iteration["fingerprint"]
    perf = trainer.get_iteration_performance(project_id, iteration["id"], threshold=0.5)
    evaluation = iteration["evaluation"]
    assert (evaluation["precision"], evaluation["recall"], evaluation["average_precision"]) == (
        perf.precision,
        perf.recall,
        perf.average_precision,
    )
    assert {t.name: t.recall for t in perf.per_tag_performance} == {
        n: m["recall"] for n, m in evaluation["per_tag"].items()
    }
    (sdk_iteration,) = sdk_iterations
    published = iteration["published"]
    assert published["name"] == sdk_iteration.publish_name == applied["publish"]
    assert published["prediction_resource_id"] == sdk_iteration.original_publish_resource_id


def test_status__prediction_url_is_what_a_client_calls(
    server: EmulatorServer, applied: dict[str, Any]
) -> None:
    status = json.loads(_status(server, applied["folder"], "--format", "json").stdout)
    url = status["iterations"][0]["published"]["prediction_url"]
    assert server.prediction_key not in json.dumps(status)
    answer = requests.post(
        url,
        data=make_image(PALETTE["red"]),
        headers={"Prediction-Key": server.prediction_key},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    assert {p["tagName"] for p in answer.json()["predictions"]} == {"red", "blue"}


def test_status_text__tables_in_a_log(server: EmulatorServer, applied: dict[str, Any]) -> None:
    text = _status(server, applied["folder"]).stdout
    lines = text.splitlines()
    assert lines[0] == f"Project: {applied['project'].name} ({applied['project'].id})"
    assert "  14 image(s): 10 uploaded by cvspec, 4 by others; 2 untagged" in lines
    rows = {line.split()[0]: line.split()[1:] for line in lines if line.startswith("  ")}
    assert rows["red"] == ["regular", "7", "5", "2"]
    assert rows["(untagged)"] == ["2", "0", "2"]
    assert f"  '{applied['publish']}' -> cvspec-" in text
    assert "POST http://127.0.0.1:" in text
    assert "\x1b[" not in text  # not a terminal: no colour, no rich drawing


def test_status__project_missing__one_line(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text("version: 1\nproject: {name: nowhere}\ntraining: null\n")
    result = run_cli("status", "spec.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "Error: project 'nowhere' does not exist at the built-in emulator; run `cvspec apply` first"
    ]


def test_status__portal_project_with_two_iterations_and_a_negative_tag(
    server: EmulatorServer, trainer: CustomVisionTrainingClient, tmp_path: Path
) -> None:
    """Nothing of it is cvspec's: no identity on the images, no fingerprint in the names."""
    portal = build_portal_project(server, trainer)
    (tmp_path / "spec.yaml").write_text(
        f"version: 1\nproject: {{name: {portal.name}}}\ntraining: null\n"
    )
    status = json.loads(_status(server, tmp_path, "--format", "json").stdout)
    tags = {t["name"]: t for t in status["tags"]}
    assert {n: t["images"] for n, t in tags.items()} == sdk_tag_counts(trainer, portal.id)
    assert {n: t["type"] for n, t in tags.items()} == {
        t.name: t.type for t in trainer.get_tags(portal.id)
    }
    assert all(t["by_cvspec"] == 0 and t["by_others"] == t["images"] for t in tags.values())
    assert status["images"]["untagged"] == sdk_untagged(trainer, portal.id) == 3
    iterations = status["iterations"]
    assert [i["id"] for i in iterations] == portal.iterations
    assert [i["fingerprint"] for i in iterations] == [None, None]
    for entry in iterations:
        sdk = trainer.get_iteration(portal.id, entry["id"])
        assert (entry["name"], entry["status"]) == (sdk.name, sdk.status)
        perf = trainer.get_iteration_performance(portal.id, entry["id"], threshold=0.5)
        assert entry["evaluation"]["average_precision"] == perf.average_precision
    assert [i["published"] and i["published"]["name"] for i in iterations] == [
        None,
        portal.publish_name,
    ]
