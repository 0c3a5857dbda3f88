"""The server itself: persistence across restarts, resumed training, the serve command,
throttling, fault injection and concurrent requests."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from azure.cognitiveservices.vision.customvision.training.models import (
    CustomVisionErrorException,
    ImageFileCreateBatch,
    ImageFileCreateEntry,
)

from cvspec.emulator.faults import FaultConfig
from cvspec.emulator.server import EmulatorServer

from .support import PALETTE, make_image, prediction_client, training_client, upload


def test_state_and_keys_survive_a_restart(tmp_path: Path) -> None:
    data = make_image()
    with EmulatorServer(tmp_path) as first:
        keys = (first.training_key, first.prediction_key, first.prediction_resource_id)
        client = training_client(first)
        project = client.create_project("kept")
        tag = client.create_tag(project.id, "t")
        client.create_images_from_data(project.id, io.BytesIO(data), [tag.id])
        old_port = first.port
    with EmulatorServer(tmp_path) as second:
        assert (second.training_key, second.prediction_key, second.prediction_resource_id) == keys
        client = training_client(second)
        assert [p.name for p in client.get_projects()] == ["kept"]
        image = client.get_tagged_images(project.id)[0]
        assert f":{second.port}/" in image.original_image_uri or second.port == old_port
        assert requests.get(image.original_image_uri, timeout=5).content == data
        assert (tmp_path / "emulator.sqlite3").exists()
        assert any((tmp_path / "blobs").rglob("*"))


def test_fixed_keys_override_persisted_ones(tmp_path: Path) -> None:
    with EmulatorServer(tmp_path, training_key="t1", prediction_key="p1") as srv:
        assert (srv.training_key, srv.prediction_key) == ("t1", "p1")
    resource = "/subscriptions/x/resourceGroups/y/providers/Microsoft.CognitiveServices/accounts/z"
    with EmulatorServer(tmp_path, prediction_resource_id=resource) as srv:
        assert srv.training_key == "t1"
        assert srv.prediction_resource_id == resource


def test_interrupted_training_resumes_at_start(tmp_path: Path) -> None:
    with EmulatorServer(tmp_path) as first:
        client = training_client(first)
        project = client.create_project("p", classification_type="Multiclass")
        a, b = client.create_tag(project.id, "a"), client.create_tag(project.id, "b")
        upload(client, project.id, [a.id], 5, PALETTE["red"])
        upload(client, project.id, [b.id], 5, PALETTE["blue"])
        # the process "dies" after accepting the training but before the worker ran it
        first.backend.trainer.submit = lambda iteration_id: None  # type: ignore[method-assign]
        iteration = client.train_project(project.id)
        assert iteration.status == "Training"
    with EmulatorServer(tmp_path) as second:
        assert second.wait_for_training(30)
        resumed = training_client(second).get_iteration(project.id, iteration.id)
        assert resumed.status == "Completed"


def _serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-c",
        "from cvspec.emulator.command import emulator; emulator()",
        "serve",
        "--data",
        str(tmp_path),
        *args,
    ]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _read_environment(process: subprocess.Popen[str], count: int = 5) -> dict[str, str]:
    assert process.stdout is not None
    values: dict[str, str] = {}
    while len(values) < count:
        line = process.stdout.readline()
        assert line, "serve exited before printing its endpoints"
        name, _, value = line.strip().partition("=")
        values[name] = value.strip("'")
    return values


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serve_command(tmp_path: Path, stop_signal: signal.Signals) -> None:
    process = _serve(
        tmp_path, "--prediction-key", "pk", env={"CVSPEC_EMULATOR_TRAINING_KEY": "from-env"}
    )
    try:
        env = _read_environment(process)
        assert set(env) == {
            "VISION_TRAINING_ENDPOINT",
            "VISION_TRAINING_KEY",
            "VISION_PREDICTION_ENDPOINT",
            "VISION_PREDICTION_KEY",
            "VISION_PREDICTION_RESOURCE_ID",
        }
        assert env["VISION_TRAINING_KEY"] == "from-env"
        assert env["VISION_PREDICTION_KEY"] == "pk"
        assert env["VISION_TRAINING_ENDPOINT"].startswith("http://127.0.0.1:")
        assert env["VISION_PREDICTION_RESOURCE_ID"].startswith("/subscriptions/")
        url = env["VISION_TRAINING_ENDPOINT"] + "/customvision/v3.4-preview/training/domains"
        assert requests.get(url, headers={"Training-key": "from-env"}, timeout=5).ok
    finally:
        process.send_signal(stop_signal)
        assert process.wait(timeout=20) == 0


def test_fault_injection_429_has_retry_after(tmp_path: Path) -> None:
    with EmulatorServer(tmp_path, faults=FaultConfig(rate=1.0, kinds=("429",))) as srv:
        with pytest.raises(CustomVisionErrorException) as excinfo:
            training_client(srv).create_project("p")  # POST: the SDK does not retry
        assert excinfo.value.response.status_code == 429
        assert excinfo.value.response.headers["Retry-After"] == "1"
        assert excinfo.value.response.json()["error"]["code"] == "429"


def test_fault_injection_503_and_drop_and_slow(tmp_path: Path) -> None:
    with EmulatorServer(tmp_path, faults=FaultConfig(rate=1.0, kinds=("503",))) as srv:
        with pytest.raises(CustomVisionErrorException) as excinfo:
            training_client(srv).create_project("p")
        assert excinfo.value.response.status_code == 503
    with EmulatorServer(tmp_path, faults=FaultConfig(rate=1.0, kinds=("drop",))) as srv:
        url = srv.training_endpoint + "/customvision/v3.4-preview/training/domains"
        with pytest.raises(requests.exceptions.RequestException):
            requests.get(url, headers={"Training-Key": srv.training_key}, timeout=5)
    slow = FaultConfig(rate=1.0, kinds=("slow",), slow_seconds=0.3)
    with EmulatorServer(tmp_path, faults=slow) as srv:
        started = time.monotonic()
        assert training_client(srv).get_domains()
        assert time.monotonic() - started >= 0.3


def test_fault_config_from_env() -> None:
    config = FaultConfig.from_env(
        {"CVSPEC_EMULATOR_FAULT_RATE": "0.25", "CVSPEC_EMULATOR_FAULT_KINDS": "429,slow"}
    )
    assert config == FaultConfig(rate=0.25, kinds=("429", "slow"))
    assert FaultConfig.from_env({}) is None
    with pytest.raises(ValueError):
        FaultConfig(rate=2.0)


def test_fault_rate_is_a_share(tmp_path: Path) -> None:
    faults = FaultConfig(rate=0.5, kinds=("503",), seed=7)
    with EmulatorServer(tmp_path, faults=faults) as srv:
        url = srv.training_endpoint + "/customvision/v3.4-preview/training/projects"
        codes = [
            requests.post(
                url, params={"name": f"p{i}"}, headers={"Training-Key": srv.training_key}
            ).status_code
            for i in range(40)
        ]
    assert 8 <= codes.count(503) <= 32
    assert codes.count(200) == 40 - codes.count(503)


def test_tps_limit(tmp_path: Path) -> None:
    with EmulatorServer(tmp_path, tier="F0", tps_limit=True) as srv:
        url = srv.training_endpoint + "/customvision/v3.4-preview/training/domains"
        responses = [
            requests.get(url, headers={"Training-Key": srv.training_key}) for _ in range(15)
        ]
        throttled = [r for r in responses if r.status_code == 429]
        assert throttled, "15 requests at once exceed 10 per second"
        assert throttled[0].headers["Retry-After"] == "1"
        assert "exceeded rate limit" in throttled[0].json()["error"]["message"]
        time.sleep(1.1)
        assert requests.get(url, headers={"Training-Key": srv.training_key}).ok


def test_concurrent_uploads_and_tags(tmp_path: Path) -> None:
    with EmulatorServer(tmp_path) as srv:
        client = training_client(srv)
        project = client.create_project("busy")
        shared = [make_image(PALETTE["yellow"]) for _ in range(10)]

        def work(worker: int) -> list[str]:
            own = training_client(srv)
            images = [make_image(PALETTE["green"]) for _ in range(10)] + shared
            entries = [
                ImageFileCreateEntry(name=str(i), contents=bytearray(d))
                for i, d in enumerate(images)
            ]
            summary = own.create_images_from_files(project.id, ImageFileCreateBatch(images=entries))
            return [i.status for i in summary.images]

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = [s for result in pool.map(work, range(8)) for s in result]
        assert statuses.count("OK") == 8 * 10 + 10
        assert statuses.count("OKDuplicate") == 7 * 10
        assert client.get_image_count(project.id) == 90

        def tag(_: int) -> str:
            try:
                return training_client(srv).create_tag(project.id, "same").id
            except CustomVisionErrorException as error:
                return error.inner_exception.code

        with ThreadPoolExecutor(max_workers=8) as pool:
            outcomes = list(pool.map(tag, range(8)))
        assert outcomes.count("BadRequestTagNameNotUnique") == 7


def test_prediction_client_on_fresh_server(tmp_path: Path) -> None:
    with EmulatorServer(tmp_path) as srv:
        with pytest.raises(Exception) as excinfo:
            prediction_client(srv).classify_image(
                "00000000-0000-0000-0000-000000000000", "x", io.BytesIO(make_image())
            )
        assert excinfo.value.response.status_code == 404  # type: ignore[attr-defined]


def test_environment_turns_on_faults_and_tps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CVSPEC_EMULATOR_FAULT_RATE", "1")
    monkeypatch.setenv("CVSPEC_EMULATOR_FAULT_KINDS", "503")
    monkeypatch.setenv("CVSPEC_EMULATOR_TPS_LIMIT", "true")
    srv = EmulatorServer(tmp_path)
    assert srv.faults == FaultConfig(rate=1.0, kinds=("503",))
    assert srv.tps_limit is True
    srv.backend.close()


def test_serve_with_an_extra_prediction_resource(tmp_path: Path) -> None:
    resource = "/subscriptions/s/resourceGroups/g/providers/Microsoft.CognitiveServices/accounts/b"
    process = _serve(tmp_path, "--tier", "F0", "--extra-prediction-resource", f"k2={resource}")
    try:
        env = _read_environment(process, count=7)
        assert env["VISION_PREDICTION_KEY_2"] == "k2"
        assert env["VISION_PREDICTION_RESOURCE_ID_2"] == resource
        url = (
            env["VISION_PREDICTION_ENDPOINT"]
            + f"/customvision/v3.1/prediction/{uuid.uuid4()}/classify/iterations/y/url"
        )
        answer = requests.post(url, json={"url": "http://x"}, headers={"Prediction-Key": "k2"})
        assert answer.status_code == 404  # the key is known; the iteration is not
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0


def test_stop_does_not_wait_for_a_training_and_restart_resumes_it(tmp_path: Path) -> None:
    srv = EmulatorServer(tmp_path).start()
    client = training_client(srv)
    project = client.create_project("p", classification_type="Multiclass")
    a, b = client.create_tag(project.id, "a"), client.create_tag(project.id, "b")
    for _ in range(2):
        upload(client, project.id, [a.id], 64, PALETTE["red"])
        upload(client, project.id, [b.id], 64, PALETTE["blue"])
    iteration = client.train_project(project.id)
    started = time.monotonic()
    srv.stop()
    assert time.monotonic() - started < 5
    with EmulatorServer(tmp_path) as again:
        assert again.wait_for_training(60)
        assert training_client(again).get_iteration(project.id, iteration.id).status == "Completed"
