"""Saved plans are portable: the spec's path is relative (to the current directory, and to
the plan file), image paths are relative to the spec's folder, and a plan file is recognised
by its content whatever its name. Tested as CI uses them: plan in one checkout, apply the
artifact in a copy of the tree somewhere else. Also: a wrong endpoint fails fast."""

from __future__ import annotations

import json
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cvspec import ops, sdk
from cvspec.emulator.faults import FaultConfig
from cvspec.errors import ServiceError
from cvspec.planfile import FILE_VERSION, is_plan_file, load_plan
from tests.apply_support import Emulator, SpecModel, emulator, snapshot
from tests.helpers import clean_env, run_cli


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with emulator(tmp_path_factory.mktemp("emulator")) as running:
        yield running


def _checkout(root: Path, name: str) -> Path:
    """A checkout: `root/specs/pets.yaml` with its images under `root/specs/images`."""
    model = SpecModel(
        name=name,
        tags={"red": "", "blue": ""},
        images={"red": list(range(5)), "blue": list(range(5, 10))},
        training=False,
        publish=None,
    )
    spec = model.write(root / "specs")
    spec.rename(root / "specs" / "pets.yaml")
    return root


def _ok(result: Any) -> Any:
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_plan_artifact__applies_from_a_moved_checkout(emu: Emulator, tmp_path: Path) -> None:
    first = _checkout(tmp_path / "job1" / "repo", "portable-moved")
    _ok(run_cli("plan", "specs/pets.yaml", "-out", "tfplan", cwd=first, env=emu.env()))
    text = (first / "tfplan").read_text()
    assert str(tmp_path) not in text  # no absolute path anywhere in the file
    plan = load_plan(first / "tfplan")
    assert plan.spec_path == "specs/pets.yaml"
    uploads = [i.path for op in plan.of_type(ops.UploadImages) for i in op.images]
    assert len(uploads) == 10 and all(p.startswith("images/") for p in uploads)

    # Another job checks the tree out elsewhere; the first checkout is gone.
    second = tmp_path / "job2" / "work" / "repo"
    shutil.copytree(first, second)
    shutil.rmtree(tmp_path / "job1")
    applied = _ok(run_cli("apply", "tfplan", cwd=second, env=emu.env()))
    assert "Apply complete!" in applied.stdout
    assert len(snapshot(emu.service, "portable-moved").managed()) == 10
    _ok(run_cli("plan", "specs/pets.yaml", "--detailed-exitcode", cwd=second, env=emu.env()))


def test_plan_artifact__downloaded_into_another_folder(emu: Emulator, tmp_path: Path) -> None:
    repo = _checkout(tmp_path / "repo", "portable-artifact")
    artifacts = tmp_path / "repo" / "artifacts"
    artifacts.mkdir()
    # planned from inside specs/, saved under artifacts/ with no .json suffix
    _ok(
        run_cli(
            "plan", "pets.yaml", "-out", "../artifacts/plan.out", cwd=repo / "specs", env=emu.env()
        )
    )
    moved = tmp_path / "elsewhere" / "repo"
    shutil.copytree(repo, moved)
    shutil.rmtree(repo)
    # applied from the checkout's root: the recorded `pets.yaml` is not there, so the spec is
    # found relative to the plan file
    shown = _ok(run_cli("show", "artifacts/plan.out", cwd=moved, env=emu.env()))
    assert "project.portable-artifact" in shown.stdout
    _ok(run_cli("apply", "artifacts/plan.out", cwd=moved, env=emu.env()))
    assert len(snapshot(emu.service, "portable-artifact").managed()) == 10


def test_plan_file__images_outside_the_spec_folder_are_relative_too(
    emu: Emulator, tmp_path: Path
) -> None:
    repo = _checkout(tmp_path / "repo", "portable-outside")
    shutil.move(repo / "specs" / "images", repo / "shared")
    spec = repo / "specs" / "pets.yaml"
    doc = yaml.safe_load(spec.read_text())
    doc["images"] = [{"path": "../shared/{tag}/*.png"}]
    doc["allow_outside"] = True
    spec.write_text(yaml.safe_dump(doc))
    _ok(run_cli("plan", "specs/pets.yaml", "-out", "plan.out", cwd=repo, env=emu.env()))
    plan = load_plan(repo / "plan.out")
    uploads = [i.path for op in plan.of_type(ops.UploadImages) for i in op.images]
    assert len(uploads) == 10 and all(p.startswith("../shared/") for p in uploads)
    moved = tmp_path / "moved"
    shutil.copytree(repo, moved)
    _ok(run_cli("apply", "plan.out", cwd=moved, env=emu.env()))
    assert len(snapshot(emu.service, "portable-outside").managed()) == 10


def test_plan_file__spec_not_found_is_one_clear_line(emu: Emulator, tmp_path: Path) -> None:
    repo = _checkout(tmp_path / "repo", "portable-missing")
    _ok(run_cli("plan", "specs/pets.yaml", "-out", "plan.out", cwd=repo, env=emu.env()))
    (repo / "specs" / "pets.yaml").unlink()
    refused = run_cli("apply", "plan.out", cwd=repo, env=emu.env())
    assert refused.returncode == 1
    (line,) = refused.stderr.strip().splitlines()
    assert "the spec the plan was made from is not at specs/pets.yaml" in line
    assert snapshot(emu.service, "portable-missing").project_id is None


def test_plan_file__recognised_by_content_and_old_formats_refused(
    emu: Emulator, tmp_path: Path
) -> None:
    repo = _checkout(tmp_path / "repo", "portable-old")
    _ok(run_cli("plan", "specs/pets.yaml", "-out", "plan", cwd=repo, env=emu.env()))
    assert is_plan_file(repo / "plan")
    assert not is_plan_file(repo / "specs" / "pets.yaml")
    json_spec = repo / "specs" / "as.json"  # a spec may be written as JSON: it is no plan
    json_spec.write_text(json.dumps({"version": 1, "project": {"name": "x"}}))
    assert not is_plan_file(json_spec)

    doc = json.loads((repo / "plan").read_text())
    doc["format_version"] = FILE_VERSION - 1
    (repo / "old.plan").write_text(json.dumps(doc))
    refused = run_cli("apply", "old.plan", cwd=repo, env=emu.env())
    assert refused.returncode == 1
    assert f"plan file format {FILE_VERSION - 1} (written by cvspec" in refused.stderr
    assert "run `cvspec plan -out` again" in refused.stderr


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("endpoint", "reason"),
    [
        (f"http://127.0.0.1:{_closed_port()}", "connection refused"),
        ("https://cvspec-no-such-host.invalid", "host name not found (DNS)"),
    ],
)
def test_unreachable_endpoint__one_line_within_seconds(
    tmp_path: Path, endpoint: str, reason: str
) -> None:
    repo = _checkout(tmp_path / "repo", "unreachable")
    env = clean_env(CVSPEC_TRAINING_ENDPOINT=endpoint, CVSPEC_TRAINING_KEY="k")
    started = time.monotonic()
    result = run_cli("plan", "specs/pets.yaml", cwd=repo, env=env)
    seconds = time.monotonic() - started
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: cannot reach the Custom Vision endpoint {endpoint}: {reason}"
    ]
    assert seconds < 6, f"took {seconds:.1f}s"


def test_dropped_connections__one_clean_line_after_the_retries(tmp_path: Path) -> None:
    faults = FaultConfig(rate=1.0, kinds=("drop",), seed=1)
    with emulator(tmp_path, faults=faults) as emu:
        policy = sdk.configure(emu.service.endpoint, rate=1000, retries=2)
        with pytest.raises(ServiceError) as raised:
            sdk.call(emu.service.training.get_domains)
    where = emu.service.endpoint.rstrip("/")
    assert str(raised.value) == (
        f"cannot reach the Custom Vision endpoint {where}: the connection was dropped"
    )
    assert policy.stats.retries["connection"] == 2  # a drop after connecting: the full budget


def test_refused_once_reached__is_transient_and_gets_the_full_budget(tmp_path: Path) -> None:
    with emulator(tmp_path) as emu:
        policy = sdk.configure(emu.service.endpoint, rate=1000, retries=4)
        sdk.call(emu.service.training.get_domains)
    # the emulator is gone: connection refused, but the endpoint answered before
    with pytest.raises(ServiceError, match=r"connection refused$"):
        sdk.call(emu.service.training.get_domains)
    assert policy.stats.retries["connection"] == 4
