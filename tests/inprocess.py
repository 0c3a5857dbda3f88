"""The CLI in the test's own process (faster than a subprocess), as a subprocess's result."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from click.testing import CliRunner

from cvspec.cli import main


def run_here(
    *args: str, cwd: Path, env: dict[str, str | None] | None = None
) -> subprocess.CompletedProcess[str]:
    """`cvspec ARGS` in the current directory (which must be `cwd`: monkeypatch.chdir), with
    no Azure settings but those in `env` (None unsets a variable)."""
    assert Path.cwd() == cwd.resolve(), "chdir to the folder first (monkeypatch.chdir)"
    unset: dict[str, str | None] = {
        k: None for k in os.environ if k.startswith(("CVSPEC_", "VISION_"))
    }
    done = CliRunner(env={**unset, **(env or {})}).invoke(main, list(args))
    return subprocess.CompletedProcess(list(args), done.exit_code, done.stdout, done.stderr)
