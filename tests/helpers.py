"""Shared helpers for tests that drive cvspec as a user would: through its CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment minus any Azure settings, so commands use the built-in emulator."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CVSPEC_", "VISION_")) and k != "NO_COLOR"
    }
    env.update(extra)
    return env


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run `python -m cvspec ARGS` in a separate process, as a user's shell would."""
    return subprocess.run(
        [sys.executable, "-m", "cvspec", *args],
        cwd=cwd,
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def copy_example(dest: Path) -> Path:
    """Copy the example spec and its images into `dest`; return the spec's path."""
    shutil.copytree(REPO / "specs" / "digits", dest / "digits")
    shutil.copy(REPO / "specs" / "digits.yaml", dest / "digits.yaml")
    return dest / "digits.yaml"


def emulator_env(server: Any) -> dict[str, str]:
    """The environment that points cvspec at a running EmulatorServer, as at Azure."""
    return clean_env(
        CVSPEC_TRAINING_ENDPOINT=server.training_endpoint,
        CVSPEC_TRAINING_KEY=server.training_key,
        CVSPEC_PREDICTION_ENDPOINT=server.prediction_endpoint,
        CVSPEC_PREDICTION_KEY=server.prediction_key,
        CVSPEC_PREDICTION_RESOURCE_ID=server.prediction_resource_id,
        NO_COLOR="",
    )
