"""`cvspec import` through the CLI, against a served emulator holding projects built with the
official SDK the way the portal and Microsoft's samples build them."""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    ImageFileCreateBatch,
    ImageFileCreateEntry,
    ImageTagCreateEntry,
)

from cvspec.emulator.server import EmulatorServer
from cvspec.identity import decode_identity, hash_key
from cvspec.importing.download import PROGRESS_FILE
from tests.emulator.support import PALETTE, make_image, training_client, wait_trained
from tests.helpers import emulator_env, run_cli


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with EmulatorServer(tmp_path_factory.mktemp("emulator"), record=True) as srv:
        yield srv


@pytest.fixture(scope="module")
def trainer(server: EmulatorServer) -> CustomVisionTrainingClient:
    return training_client(server)


def _upload(
    trainer: CustomVisionTrainingClient, project_id: str, tag_ids: list[str], count: int, color: str
) -> list[str]:
    """Upload `count` new images (64 per call, the service's batch limit); their sha256s."""
    contents = [make_image(PALETTE[color]) for _ in range(count)]
    for start in range(0, count, 64):
        entries = [
            ImageFileCreateEntry(name=f"{color}{i}.png", contents=bytearray(c), tag_ids=tag_ids)
            for i, c in enumerate(contents[start : start + 64])
        ]
        batch = ImageFileCreateBatch(images=entries)
        assert trainer.create_images_from_files(project_id, batch).is_batch_successful
    return [hashlib.sha256(c).hexdigest() for c in contents]


def _train(trainer: CustomVisionTrainingClient, project_id: str) -> Any:
    return wait_trained(trainer, project_id, trainer.train_project(project_id))


@pytest.fixture(scope="module")
def multiclass(server: EmulatorServer, trainer: CustomVisionTrainingClient) -> Any:
    """Portal-style: tags cat, dog, a later tag without images, a negative tag, 3 untagged
    images, two iterations (images added between them), the second published."""
    project = trainer.create_project("portal pets", classification_type="Multiclass")
    cat = trainer.create_tag(project.id, "cat", description="small felines")
    dog = trainer.create_tag(project.id, "dog")
    none = trainer.create_tag(project.id, "none", type="Negative")
    _upload(trainer, project.id, [cat.id], 6, "red")
    _upload(trainer, project.id, [dog.id], 6, "blue")
    _upload(trainer, project.id, [none.id], 5, "yellow")
    _upload(trainer, project.id, [], 3, "green")
    first = _train(trainer, project.id)
    _upload(trainer, project.id, [cat.id], 2, "red")
    second = _train(trainer, project.id)
    trainer.publish_iteration(project.id, second.id, "pets", server.prediction_resource_id)
    trainer.create_tag(project.id, "bird")  # added later, no images yet
    return {"project": project, "first": first, "second": second}


@pytest.fixture(scope="module")
def imported(
    multiclass: Any, server: EmulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    work = tmp_path_factory.mktemp("mc")
    result = run_cli("import", "portal pets", "--to", "out", cwd=work, env=emulator_env(server))
    assert result.returncode == 0, result.stdout + result.stderr
    return work / "out"


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_import_writes_a_folder_per_tag_the_untagged_apart_and_the_spec(
    imported: Path, multiclass: Any, server: EmulatorServer
) -> None:
    files = _files(imported)
    by_folder = {f.split("/")[1] for f in files if f.startswith("images/")}
    assert by_folder == {"cat", "dog", "none"}
    assert sum(f.startswith("images/cat/") for f in files) == 8
    assert sum(f.startswith("untagged/") for f in files) == 3
    listed = (imported / "untagged.txt").read_text().split()
    assert sorted(listed) == sorted(f for f in files if f.startswith("untagged/"))
    assert not any(f.endswith(".part") for f in files)
    assert PROGRESS_FILE not in files
    spec = yaml.safe_load((imported / "spec.yaml").read_text())
    assert spec["project"] == {
        "name": "portal pets",
        "classification": "multiclass",
        "domain": "General",
    }
    assert spec["tags"] == [
        {"name": "cat", "description": "small felines"},
        {"name": "dog"},
        {"name": "none", "type": "negative"},
    ]
    assert spec["images"] == [{"path": "images/{tag}/*"}]
    assert spec["training"] == {"type": "regular"}
    assert spec["publish"] == {
        "name": "pets",
        "prediction_resource": "${CVSPEC_PREDICTION_RESOURCE_ID:-"
        + server.prediction_resource_id
        + "}",
    }


def test_plan_after_import_is_a_no_op(imported: Path, server: EmulatorServer) -> None:
    assert _plan_exit(imported / "spec.yaml", server) == 0


def _plan_exit(spec: Path, server: EmulatorServer) -> int:
    result = run_cli(
        "plan", str(spec), "--detailed-exitcode", cwd=spec.parent, env=emulator_env(server)
    )
    assert result.returncode in (0, 2), result.stdout + result.stderr
    if result.returncode == 0:
        assert "No changes" in result.stdout
    return result.returncode


def test_apply_after_import_uploads_nothing_and_the_images_carry_cvspec_identity(
    imported: Path, multiclass: Any, server: EmulatorServer, trainer: CustomVisionTrainingClient
) -> None:
    assert server.recorder is not None
    server.recorder.clear()
    result = run_cli(
        "apply", "out/spec.yaml", "--auto-approve", cwd=imported.parent, env=emulator_env(server)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert [c.operation for c in server.recorder.take()] == []
    project_id = multiclass["project"].id
    hashes = {
        p.stem: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (imported / "images").rglob("*.*")
    }
    images = trainer.get_tagged_images(project_id, take=256)
    assert len(images) == len(hashes) == 19
    for image in images:
        assert decode_identity(image.id, image.metadata) == hash_key(hashes[image.id])
    published = trainer.get_iteration(project_id, multiclass["second"].id)
    assert published.publish_name == "pets"
    assert published.name.startswith("cvspec-")
    assert trainer.get_iteration(project_id, multiclass["first"].id).name == "Iteration 1"


def test_multilabel_import_lists_every_image_in_a_manifest_untagged_ones_without_tags(
    server: EmulatorServer, trainer: CustomVisionTrainingClient, tmp_path: Path
) -> None:
    project = trainer.create_project("portal shapes", classification_type="Multilabel")
    red = trainer.create_tag(project.id, "red")
    round_ = trainer.create_tag(project.id, "round")
    _upload(trainer, project.id, [red.id], 5, "red")
    _upload(trainer, project.id, [round_.id], 5, "blue")
    _upload(trainer, project.id, [red.id, round_.id], 4, "yellow")
    _upload(trainer, project.id, [], 2, "green")
    _train(trainer, project.id)
    result = run_cli("import", project.id, "--to", "out", cwd=tmp_path, env=emulator_env(server))
    assert result.returncode == 0, result.stdout + result.stderr
    out = tmp_path / "out"
    rows = [json.loads(line) for line in (out / "labels.jsonl").read_text().splitlines()]
    assert sorted(len(r["tags"]) for r in rows) == [0] * 2 + [1] * 10 + [2] * 4
    assert sum(r["path"].startswith("untagged/") for r in rows) == 2
    assert all((out / r["path"]).is_file() for r in rows)
    spec = yaml.safe_load((out / "spec.yaml").read_text())
    assert spec["project"]["classification"] == "multilabel"
    assert spec["images"] == [{"manifest": "labels.jsonl"}]
    assert "publish" not in spec
    assert _plan_exit(out / "spec.yaml", server) == 0


def _progress_lines(folder: Path) -> list[str]:
    try:
        return (folder / PROGRESS_FILE).read_text().splitlines()
    except OSError:
        return []


def test_a_killed_import_resumes_without_downloading_finished_files_again(
    server: EmulatorServer, trainer: CustomVisionTrainingClient, tmp_path: Path
) -> None:
    project = trainer.create_project("portal many", classification_type="Multiclass")
    a, b = trainer.create_tag(project.id, "a"), trainer.create_tag(project.id, "b")
    _upload(trainer, project.id, [a.id], 65, "red")
    _upload(trainer, project.id, [b.id], 65, "blue")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "cvspec", "import", "portal many", "--to", "out"]
    slow = subprocess.Popen(
        [*command, "--download-rate", "20"],
        cwd=tmp_path,
        env=emulator_env(server),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while len(_progress_lines(out)) < 2 and slow.poll() is None:
        assert time.monotonic() < deadline, "no batch was downloaded"
        time.sleep(0.05)
    slow.send_signal(signal.SIGKILL)
    slow.wait()
    finished = [json.loads(line)["path"] for line in _progress_lines(out)[1:]]
    assert 0 < len(finished) < 130
    assert not (out / "spec.yaml").exists()
    before = {p: (out / p).stat() for p in finished}
    result = run_cli("import", "portal many", "--to", "out", cwd=tmp_path, env=emulator_env(server))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{130 - len(finished)} downloaded, {len(finished)} already downloaded" in result.stdout
    for path, stat in before.items():
        now = (out / path).stat()
        assert (now.st_ino, now.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns), path
    assert len(list((out / "images").rglob("*.png"))) == 130
    assert not list(out.rglob("*.part"))
    assert not (out / PROGRESS_FILE).exists()
    assert _plan_exit(out / "spec.yaml", server) == 0


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def test_unknown_project__one_line_and_nothing_written(
    server: EmulatorServer, tmp_path: Path
) -> None:
    result = run_cli(
        "import", "no such project", "--to", "out", cwd=tmp_path, env=emulator_env(server)
    )
    assert _one_error_line(result) == "Error: no project is named 'no such project' or has that id"
    assert not (tmp_path / "out").exists()


def test_target_folder_not_empty__refused(
    multiclass: Any, server: EmulatorServer, tmp_path: Path
) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    result = run_cli("import", "portal pets", "--to", "out", cwd=tmp_path, env=emulator_env(server))
    line = _one_error_line(result)
    assert line == "Error: out is not empty (notes.txt); import into a new or empty folder"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["notes.txt"]


def test_name_of_several_projects__refused_listing_their_ids(
    server: EmulatorServer, trainer: CustomVisionTrainingClient, tmp_path: Path
) -> None:
    """The emulator refuses two projects of one name (the service may hold them): the second
    is a copy of the first's row in its store, as in tests/test_project_names.py."""
    project = trainer.create_project("twice")
    with sqlite3.connect(server.data_dir / "emulator.sqlite3") as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(projects)")]
        row = db.execute("SELECT * FROM projects WHERE id = ?", (project.id,)).fetchone()
        copy = list(row)
        copy[columns.index("id")] = str(uuid.uuid4())
        copy[columns.index("seq")] = db.execute("SELECT MAX(seq) + 1 FROM projects").fetchone()[0]
        db.execute(f"INSERT INTO projects VALUES ({','.join('?' * len(copy))})", copy)
    ids = ", ".join(sorted([project.id, copy[columns.index("id")]]))
    result = run_cli("import", "twice", "--to", "out", cwd=tmp_path, env=emulator_env(server))
    assert _one_error_line(result) == (
        f"Error: 2 projects are named 'twice' ({ids}); import one by its id"
    )
    assert not (tmp_path / "out").exists()


def test_an_image_the_service_no_longer_serves__named_and_the_import_resumes_later(
    server: EmulatorServer, trainer: CustomVisionTrainingClient, tmp_path: Path
) -> None:
    project = trainer.create_project("portal gone", classification_type="Multiclass")
    tag = trainer.create_tag(project.id, "cat")
    lost, *_ = _upload(trainer, project.id, [tag.id], 6, "red")
    with sqlite3.connect(server.data_dir / "emulator.sqlite3") as db:
        (lost_id,) = db.execute("SELECT id FROM images WHERE sha256 = ?", (lost,)).fetchone()
    blob = server.data_dir / "blobs" / lost[:2] / lost
    kept = blob.read_bytes()
    blob.unlink()
    result = run_cli("import", "portal gone", "--to", "out", cwd=tmp_path, env=emulator_env(server))
    line = _one_error_line(result)
    assert (
        line.startswith(f"Error: 1 image(s) could not be downloaded: image {lost_id} (cat): ")
        and "run the same command again to resume" in line
    )
    out = tmp_path / "out"
    assert len(list((out / "images" / "cat").glob("*.png"))) == 5
    assert not (out / "spec.yaml").exists()
    blob.write_bytes(kept)  # served again
    # meanwhile, one of the downloaded images was retagged in the portal
    moved = next(p.stem for p in (out / "images" / "cat").glob("*.png"))
    dog = trainer.create_tag(project.id, "dog")
    trainer.delete_image_tags(project.id, [moved], [tag.id])
    trainer.create_image_tags(project.id, tags=[ImageTagCreateEntry(image_id=moved, tag_id=dog.id)])
    result = run_cli("import", "portal gone", "--to", "out", cwd=tmp_path, env=emulator_env(server))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 downloaded, 4 already downloaded" in result.stdout
    assert [p.stem for p in (out / "images" / "dog").iterdir()] == [moved]
    assert moved not in {p.stem for p in (out / "images" / "cat").iterdir()}
    assert _plan_exit(out / "spec.yaml", server) == 0


def test_import_token_creates_the_project_from_an_export_and_imports_it(
    multiclass: Any, server: EmulatorServer, trainer: CustomVisionTrainingClient, tmp_path: Path
) -> None:
    token = trainer.export_project(multiclass["project"].id).token
    result = run_cli(
        "import",
        "--token",
        token,
        "--name",
        "pets copy",
        "--to",
        "copy",
        cwd=tmp_path,
        env=emulator_env(server),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert token not in result.stdout + result.stderr
    assert result.stdout.startswith("Created project 'pets copy' (")
    spec = yaml.safe_load((tmp_path / "copy" / "spec.yaml").read_text())
    assert spec["project"]["name"] == "pets copy"
    assert spec["training"] is None  # the copy has no iteration
    assert len(list((tmp_path / "copy" / "images").rglob("*.png"))) == 19
    assert _plan_exit(tmp_path / "copy" / "spec.yaml", server) == 0


def test_a_spec_that_does_not_validate__the_import_completes_and_names_the_problem(
    server: EmulatorServer, trainer: CustomVisionTrainingClient, tmp_path: Path
) -> None:
    """Tags trained with 5 images each, then a tag with 2 images added in the portal: the
    spec trains, and training needs 5 per tag."""
    project = trainer.create_project("portal short", classification_type="Multiclass")
    for name, color in (("cat", "red"), ("dog", "blue")):
        _upload(trainer, project.id, [trainer.create_tag(project.id, name).id], 5, color)
    _train(trainer, project.id)
    _upload(trainer, project.id, [trainer.create_tag(project.id, "bird").id], 2, "green")
    result = run_cli(
        "import", "portal short", "--to", "out", cwd=tmp_path, env=emulator_env(server)
    )
    assert result.returncode == 1
    assert "tag 'bird' has 2 images; training needs at least 5 per tag" in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "Error: the import is complete, but the written spec has 1 problem(s) (above); fix "
        "them, then run cvspec plan"
    )
    assert (tmp_path / "out" / "spec.yaml").is_file()
    assert not (tmp_path / "out" / PROGRESS_FILE).exists()


def test_images_added_after_the_last_training__the_iteration_is_not_renamed_and_plan_trains(
    server: EmulatorServer, trainer: CustomVisionTrainingClient, tmp_path: Path
) -> None:
    project = trainer.create_project("portal moved on", classification_type="Multiclass")
    cat, dog = trainer.create_tag(project.id, "cat"), trainer.create_tag(project.id, "dog")
    _upload(trainer, project.id, [cat.id], 5, "red")
    _upload(trainer, project.id, [dog.id], 5, "blue")
    trained = _train(trainer, project.id)
    trainer.publish_iteration(project.id, trained.id, "moved", server.prediction_resource_id)
    _upload(trainer, project.id, [dog.id], 1, "blue")
    env = emulator_env(server)
    result = run_cli("import", "portal moved on", "--to", "out", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "Iteration 'Iteration 1' not adopted: the project's images or tags changed since it "
        "was trained." in result.stdout
    )
    assert trainer.get_iteration(project.id, trained.id).name == "Iteration 1"
    assert _plan_exit(tmp_path / "out" / "spec.yaml", server) == 2


def test_an_invalid_import_token__one_line_without_the_token(
    server: EmulatorServer, tmp_path: Path
) -> None:
    token = "not-a-token-" + uuid.uuid4().hex
    env = {**emulator_env(server), "CVSPEC_IMPORT_TOKEN": token}
    result = run_cli("import", "--name", "copy", "--to", "out", cwd=tmp_path, env=env)
    line = _one_error_line(result)
    assert line.startswith("Error: the service refused the import token: ")
    assert token not in result.stdout + result.stderr
    assert not (tmp_path / "out").exists()
