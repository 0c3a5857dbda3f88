"""Acceptance: an unmodified program written for Azure runs against `cvspec emulator serve`."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import REPO, clean_env

NAMES = (
    "VISION_TRAINING_ENDPOINT",
    "VISION_TRAINING_KEY",
    "VISION_PREDICTION_ENDPOINT",
    "VISION_PREDICTION_KEY",
    "VISION_PREDICTION_RESOURCE_ID",
)


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[dict[str, str]]:
    """`cvspec emulator serve` in its own process; yields the settings it printed."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cvspec",
            "emulator",
            "serve",
            "--port",
            "0",
            "--data",
            str(tmp_path / "data"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    assert proc.stdout is not None
    settings: dict[str, str] = {}
    while len(settings) < len(NAMES):
        line = proc.stdout.readline()
        assert line, f"server exited early: {proc.stderr.read() if proc.stderr else ''}"
        name, _, value = line.strip().partition("=")
        if name in NAMES:
            settings[name] = value
    try:
        yield settings
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0


def test_microsoft_style_program_runs_unmodified(served: dict[str, str]) -> None:
    assert served["VISION_TRAINING_ENDPOINT"].startswith("http://127.0.0.1:")
    assert served["VISION_PREDICTION_RESOURCE_ID"].startswith("/subscriptions/")
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "tests" / "samples" / "quickstart.py"),
            str(REPO / "specs" / "digits"),
        ],
        env=clean_env(**served),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Training status: Completed" in out
    assert "Done!" in out and "Deleted project." in out
    for tag in ("one", "seven", "zero"):
        rows = [line for line in out.splitlines() if line.startswith(f"{tag}-00.png\t")]
        assert len(rows) == 3, out  # a probability for every tag
        best = max(rows, key=lambda r: float(r.rsplit(" ", 1)[1].rstrip("%")))
        assert best.split("\t")[1].startswith(f"{tag}:"), out


def test_wrong_key_is_refused_like_azure(served: dict[str, str]) -> None:
    from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
    from azure.cognitiveservices.vision.customvision.training.models import (
        CustomVisionErrorException,
    )
    from msrest.authentication import ApiKeyCredentials

    client = CustomVisionTrainingClient(
        served["VISION_TRAINING_ENDPOINT"], ApiKeyCredentials(in_headers={"Training-key": "nope"})
    )
    with pytest.raises(CustomVisionErrorException) as err:
        client.get_projects()
    assert err.value.response.status_code == 401
