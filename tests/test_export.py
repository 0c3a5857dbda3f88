"""`cvspec export` through the CLI against running emulators.

The source project is built with the official SDK the portal's way (multiclass, compact
domain, a negative tag, untagged images, two iterations, one published); the exported folder
is checked against what the SDK reads and against the bytes that were uploaded; its spec is
applied to a second emulator (another training resource) and reproduces the tags and per-tag
counts. Bad input gives one line, exit 1, and nothing half-written without a way to resume.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient

from cvspec.emulator.server import EmulatorServer
from tests.emulator.support import PALETTE, training_client, unique_name
from tests.export_support import (
    PortalProject,
    add_images,
    build_portal_project,
    files_under,
    manifest_counts,
    sdk_tag_counts,
    sdk_untagged,
    sha256,
)
from tests.helpers import emulator_env, run_cli


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with EmulatorServer(tmp_path_factory.mktemp("export-source")) as srv:
        yield srv


@pytest.fixture
def target(tmp_path: Path) -> Iterator[EmulatorServer]:
    """A second training resource: its own emulator, its own state."""
    with EmulatorServer(tmp_path / "target-emulator") as srv:
        yield srv


@pytest.fixture(scope="module")
def trainer(source: EmulatorServer) -> CustomVisionTrainingClient:
    return training_client(source)


@pytest.fixture(scope="module")
def portal(source: EmulatorServer, trainer: CustomVisionTrainingClient) -> PortalProject:
    return build_portal_project(source, trainer)


@pytest.fixture(scope="module")
def exported(
    source: EmulatorServer, portal: PortalProject, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The portal project exported by name, with ONNX and CoreML models."""
    folder = tmp_path_factory.mktemp("export-out") / "dataset"
    result = run_cli(
        "export", portal.name, "--to", str(folder), "--model-platform", "ONNX",
        "--model-platform", "coreml", cwd=folder.parent, env=emulator_env(source),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return folder


def _rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "manifest.csv").open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_export__every_image_with_its_tags_as_the_sdk_reads_them(
    trainer: CustomVisionTrainingClient, portal: PortalProject, exported: Path
) -> None:
    rows = _rows(exported)
    assert manifest_counts(rows) == sdk_tag_counts(trainer, portal.id)
    assert sum(1 for r in rows if not r["tags"]) == sdk_untagged(trainer, portal.id) == 3
    # the files are the bytes that were uploaded, named by image id
    assert {r["id"]: r["sha256"] for r in rows} == {
        i: sha256(data) for i, data in portal.uploaded.items()
    }
    for row in rows:
        assert sha256((exported / row["path"]).read_bytes()) == row["sha256"]
    jsonl = [json.loads(line) for line in (exported / "manifest.jsonl").read_text().splitlines()]
    assert [(j["path"], ";".join(j["tags"])) for j in jsonl] == [
        (r["path"], r["tags"]) for r in rows
    ]


def test_export__imagefolder_holds_the_single_tag_images(
    trainer: CustomVisionTrainingClient, portal: PortalProject, exported: Path
) -> None:
    tree = Counter(p.parent.name for p in (exported / "imagefolder").rglob("*") if p.is_file())
    assert tree == sdk_tag_counts(trainer, portal.id)  # multiclass: every tagged image
    for path in (exported / "imagefolder").rglob("*.png"):
        assert path.read_bytes() == (exported / "images" / path.name).read_bytes()


def test_export__checksums_verify_with_sha256sum(exported: Path) -> None:
    lines = (exported / "SHA256SUMS").read_text().splitlines()
    listed = {line.split("  ", 1)[1] for line in lines}
    assert listed == set(files_under(exported)) - {"SHA256SUMS"}
    for line in lines:
        digest, path = line.split("  ", 1)
        assert hashlib.sha256((exported / path).read_bytes()).hexdigest() == digest
    if shutil.which("sha256sum"):
        check = subprocess.run(
            ["sha256sum", "--check", "--strict", "--quiet", "SHA256SUMS"],
            cwd=exported, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert check.returncode == 0, check.stdout + check.stderr


def test_export__card_has_counts_and_every_iterations_evaluation(
    trainer: CustomVisionTrainingClient, portal: PortalProject, exported: Path
) -> None:
    card = json.loads((exported / "dataset.json").read_text())
    assert card["format_version"] == 1
    assert card["project"]["id"] == portal.id
    assert {t["name"]: t["images"] for t in card["tags"]} == sdk_tag_counts(trainer, portal.id)
    assert {t["name"]: t["type"] for t in card["tags"]}["Negative"] == "Negative"
    assert card["images"]["untagged"] == 3
    assert [i["name"] for i in card["iterations"]] == [
        trainer.get_iteration(portal.id, i).name for i in portal.iterations
    ]
    for iteration_id, entry in zip(portal.iterations, card["iterations"], strict=True):
        perf = trainer.get_iteration_performance(portal.id, iteration_id, threshold=0.5)
        evaluation = entry["evaluation"]
        assert (evaluation["precision"], evaluation["recall"]) == (perf.precision, perf.recall)
    assert [i["published_as"] for i in card["iterations"]] == [None, portal.publish_name]
    readme = (exported / "README.md").read_text()
    assert f"| red | regular | {sdk_tag_counts(trainer, portal.id)['red']} |" in readme
    assert "| (untagged) | | 3 |" in readme


def test_export__models_of_the_compact_iterations(
    trainer: CustomVisionTrainingClient, portal: PortalProject, exported: Path
) -> None:
    card = json.loads((exported / "dataset.json").read_text())
    models = {(m["iteration"], m["platform"]): m for m in card["models"]}
    names = [trainer.get_iteration(portal.id, i).name for i in portal.iterations]
    assert set(models) == {(n, p) for n in names for p in ("ONNX", "CoreML")}
    for model in models.values():
        assert model["status"] == "Done"
        with zipfile.ZipFile(exported / model["path"]) as archive:
            assert sorted(archive.read("labels.txt").decode().split()) == [
                "Negative", "blue", "red"
            ]  # fmt: skip
    exports = trainer.get_exports(portal.id, portal.iterations[0])
    assert {e.platform for e in exports} == {"ONNX", "CoreML"}


def test_export__no_key_or_image_url_written(source: EmulatorServer, exported: Path) -> None:
    for name in files_under(exported):
        if name.endswith((".csv", ".jsonl", ".json", ".md", ".yaml")):
            text = (exported / name).read_text()
            assert source.training_key not in text, name
            assert "127.0.0.1" not in text, name  # image and model URLs are SAS URLs on Azure


def test_exported_spec__applied_to_another_resource_reproduces_the_project(
    trainer: CustomVisionTrainingClient,
    portal: PortalProject,
    exported: Path,
    target: EmulatorServer,
    tmp_path: Path,
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(exported, copy)
    env = emulator_env(target)
    result = run_cli("apply", "spec.yaml", "--auto-approve", cwd=copy, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    other = training_client(target)
    (project,) = [p for p in other.get_projects() if p.name == portal.name]
    assert sdk_tag_counts(other, project.id) == sdk_tag_counts(trainer, portal.id)
    assert {t.name: t.type for t in other.get_tags(project.id)}["Negative"] == "Negative"
    assert {t.name: t.description for t in other.get_tags(project.id)}["red"] == "red squares"
    assert project.settings.domain_id == trainer.get_project(portal.id).settings.domain_id
    again = run_cli("plan", "spec.yaml", "--detailed-exitcode", cwd=copy, env=env)
    assert again.returncode == 0, again.stdout + again.stderr


# -- copying with one spec, and multilabel round trips ----------------------------------

MULTILABEL = """\
version: 1
project: {{name: {name}, classification: multilabel}}
tags: [{{name: red}}, {{name: warm}}, {{name: "a/b"}}]
images:
  - manifest: labels.csv
training: null
"""


def _multilabel_folder(folder: Path, name: str) -> Path:
    from tests.emulator.support import make_image

    folder.mkdir(parents=True)
    rows = ["path,tags"]
    for n, tags in enumerate(["red;warm"] * 3 + ["red"] * 2 + ["warm"] + ["a/b"] * 2):
        (folder / f"{n}.png").write_bytes(make_image(PALETTE["red"], label=unique_name()))
        rows.append(f"{n}.png,{tags}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    (folder / "spec.yaml").write_text(MULTILABEL.format(name=name))
    return folder


def test_one_spec_applied_to_two_resources__same_tags_and_counts(
    source: EmulatorServer, target: EmulatorServer, tmp_path: Path
) -> None:
    name = unique_name("copy")
    folder = _multilabel_folder(tmp_path / "spec", name)
    for server in (source, target):
        result = run_cli(
            "apply", "spec.yaml", "--auto-approve", cwd=folder, env=emulator_env(server)
        )
        assert result.returncode == 0, result.stdout + result.stderr
    counts = []
    for server in (source, target):
        client = training_client(server)
        (project,) = [p for p in client.get_projects() if p.name == name]
        counts.append((sdk_tag_counts(client, project.id), sdk_untagged(client, project.id)))
    assert counts[0] == counts[1] == ({"red": 5, "warm": 4, "a/b": 2}, 0)

    # and a multilabel export (several tags, a tag that is no folder name) rebuilds it too
    out = tmp_path / "out"
    result = run_cli("export", name, "--to", str(out), cwd=tmp_path, env=emulator_env(source))
    assert result.returncode == 0, result.stdout + result.stderr
    assert {p.name for p in (out / "imagefolder").iterdir()} == {"red", "warm"}
    with EmulatorServer(tmp_path / "third") as third:
        result = run_cli("apply", "spec.yaml", "--auto-approve", cwd=out, env=emulator_env(third))
        assert result.returncode == 0, result.stdout + result.stderr
        client = training_client(third)
        (project,) = [p for p in client.get_projects() if p.name == name]
        assert sdk_tag_counts(client, project.id) == counts[0][0]


# -- bad input ---------------------------------------------------------------------------


def test_export__unknown_project__one_line_nothing_written(
    source: EmulatorServer, tmp_path: Path
) -> None:
    result = run_cli("export", "nope", "--to", "out", cwd=tmp_path, env=emulator_env(source))
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["Error: no project is named 'nope' or has that id"]
    assert not (tmp_path / "out").exists()


def test_export__folder_not_empty__one_line_untouched(
    source: EmulatorServer, portal: PortalProject, tmp_path: Path
) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    result = run_cli("export", portal.name, "--to", "out", cwd=tmp_path, env=emulator_env(source))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "Error: out is not empty; export into a new or empty folder (an interrupted export "
        "resumes only in its own folder)"
    ]
    assert files_under(tmp_path / "out") == ["notes.txt"]


def test_export__name_of_several_projects__refused_listing_ids(tmp_path: Path) -> None:
    spec = "version: 1\nproject: {name: pets}\ntags: [{name: cat}]\ntraining: null\n"
    (tmp_path / "spec.yaml").write_text(spec)
    assert run_cli("apply", "spec.yaml", "--auto-approve", cwd=tmp_path).returncode == 0
    with sqlite3.connect(tmp_path / ".cvspec" / "emulator" / "emulator.sqlite3") as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(projects)")]
        (row,) = db.execute("SELECT * FROM projects").fetchall()
        copy = list(row)
        copy[columns.index("id")] = str(uuid.uuid4())
        copy[columns.index("seq")] = row[columns.index("seq")] + 1
        db.execute(f"INSERT INTO projects VALUES ({','.join('?' * len(copy))})", copy)
    ids = sorted([row[columns.index("id")], copy[columns.index("id")]])
    result = run_cli("export", "spec.yaml", "--to", "out", cwd=tmp_path)  # its project: pets
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"Error: 2 projects are named 'pets' ({ids[0]}, {ids[1]}); export one by its id"
    ]
    assert not (tmp_path / "out").exists()
    by_id = run_cli("export", row[columns.index("id")], "--to", "out", cwd=tmp_path)
    assert by_id.returncode == 0, by_id.stderr


def _blob(server: EmulatorServer, data: bytes) -> Path:
    return server.data_dir / "blobs" / sha256(data)[:2] / sha256(data)


def test_export__images_the_service_cannot_serve__partial_then_resumed(
    source: EmulatorServer, trainer: CustomVisionTrainingClient, tmp_path: Path
) -> None:
    created = trainer.create_project(unique_name("lost"), classification_type="Multiclass")
    project = PortalProject(created.id, created.name)
    tag = trainer.create_tag(project.id, "red")
    ids = add_images(trainer, project, [tag.id], 4, PALETTE["red"])
    lost = ids[1]
    blob = _blob(source, project.uploaded[lost])
    kept = blob.read_bytes()
    blob.unlink()  # the service's storage no longer has it
    env = emulator_env(source)
    try:
        result = run_cli("export", project.name, "--to", "out", cwd=tmp_path, env=env)
    finally:
        blob.write_bytes(kept)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"Error: 1 image(s) could not be downloaded: {lost}: the image store kept failing "
        "(HTTP 500, 4 attempts). out holds a partial export: run the same command again to "
        "retry them, or add --skip-missing to finish without them"
    ]
    out = tmp_path / "out"
    assert (out / ".cvspec-export.json").is_file() and not (out / "SHA256SUMS").exists()
    assert len(list((out / "images").glob("*.png"))) == 3
    resumed = run_cli("export", project.name, "--to", "out", cwd=tmp_path, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert "Exported 4 image(s) (1 downloaded now;" in resumed.stdout
    assert not (out / ".cvspec-export.json").exists()
    assert sorted(r["id"] for r in _rows(out)) == sorted(ids)

    blob.unlink()
    try:
        skipped = run_cli(
            "export", project.name, "--to", "skip", "--skip-missing", cwd=tmp_path, env=env
        )
    finally:
        blob.write_bytes(kept)
    assert skipped.returncode == 0, skipped.stderr
    card = json.loads((tmp_path / "skip" / "dataset.json").read_text())
    reason = "the image store kept failing (HTTP 500, 4 attempts)"
    assert card["images"]["missing"] == [{"id": lost, "reason": reason}]
    assert lost not in {r["id"] for r in _rows(tmp_path / "skip")}


def test_export__spec_file_names_the_project(
    source: EmulatorServer, portal: PortalProject, tmp_path: Path
) -> None:
    (tmp_path / "spec.yaml").write_text(
        f"version: 1\nproject: {{name: {portal.name}}}\ntraining: null\n"
    )
    result = run_cli(
        "export", "spec.yaml", "--to", "out", "--model-platform", "none", "--json",
        cwd=tmp_path, env=emulator_env(source),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert {e["event"] for e in events} == {"calls_progress", "exported"}
    assert events[-1]["images"] == events[-1]["downloaded"] == len(portal.uploaded)
    assert events[-1]["untagged"] == 3 and events[-1]["models"] == []
    assert not (tmp_path / "out" / "models").exists()
    data = io.StringIO((tmp_path / "out" / "manifest.csv").read_text())
    assert len(list(csv.DictReader(data))) == len(portal.uploaded)


def _start_export(server: EmulatorServer, name: str, cwd: Path) -> subprocess.Popen[str]:
    args = ["export", name, "--to", "out", "--rate", "5", "--model-platform", "none"]
    return subprocess.Popen(
        [sys.executable, "-m", "cvspec", *args],
        cwd=cwd, env=emulator_env(server), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def _wait_for_files(folder: Path, count: int, process: subprocess.Popen[str]) -> int:
    deadline = time.monotonic() + 120
    while True:
        found = len(list(folder.glob("*.png"))) if folder.is_dir() else 0
        if found >= count:
            return found
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the export downloaded nothing"
        time.sleep(0.02)


def test_export__killed_then_interrupted__resumes_to_a_complete_export(
    source: EmulatorServer, trainer: CustomVisionTrainingClient, tmp_path: Path
) -> None:
    """At 5 downloads a second, 20 images take 4 s: killed (SIGKILL) after 3 files, then
    interrupted (Ctrl-C, exit 130) after a few more, the third run finishes the export."""
    created = trainer.create_project(unique_name("killed"), classification_type="Multiclass")
    project = PortalProject(created.id, created.name)
    tag = trainer.create_tag(project.id, "red")
    add_images(trainer, project, [tag.id], 20, PALETTE["red"])
    images = tmp_path / "out" / "images"

    killed = _start_export(source, project.name, tmp_path)
    _wait_for_files(images, 3, killed)
    killed.send_signal(signal.SIGKILL)
    killed.communicate()
    assert (tmp_path / "out" / ".cvspec-export.json").is_file()
    assert not (tmp_path / "out" / "SHA256SUMS").exists()

    interrupted = _start_export(source, project.name, tmp_path)
    before = len(list(images.glob("*.png")))
    _wait_for_files(images, before + 2, interrupted)
    interrupted.send_signal(signal.SIGINT)
    _, stderr = interrupted.communicate(timeout=60)
    assert interrupted.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == (
        "Interrupted. The files downloaded are kept; run the same command again to finish "
        "the export in out."
    )
    assert "Traceback" not in stderr
    kept = len(list(images.glob("*.png")))
    assert kept < 20

    finished = run_cli("export", project.name, "--to", "out", "--model-platform", "none",
                       cwd=tmp_path, env=emulator_env(source))  # fmt: skip
    assert finished.returncode == 0, finished.stderr
    assert f"Exported 20 image(s) ({20 - kept} downloaded now;" in finished.stdout
    rows = _rows(tmp_path / "out")
    assert {r["id"]: r["sha256"] for r in rows} == {
        i: sha256(data) for i, data in project.uploaded.items()
    }
    assert not list(images.glob(".part-*"))
