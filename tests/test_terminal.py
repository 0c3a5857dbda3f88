"""cvspec at a terminal and in a CI log: rich draws bars, the training line and the evaluation
table only on a terminal; colour follows NO_COLOR / FORCE_COLOR / `--no-color`; logs keep the
documented plain lines (docs/apply.md "Progress")."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from cvspec.emulator.server import EmulatorServer
from cvspec.progress import Reporter
from tests.helpers import copy_example, emulator_env, run_cli
from tests.test_summary import in_terminal

SGR_COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # colours and bold, not cursor movement


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with EmulatorServer(data_dir=tmp_path_factory.mktemp("terminal-emulator")) as running:
        yield running


def _spec(tmp_path: Path, name: str) -> Path:
    spec = copy_example(tmp_path)
    spec.write_text(spec.read_text().replace("name: digits-example", f"name: {name}"))
    return spec


def _env(server: EmulatorServer, **extra: str) -> dict[str, str]:
    env = emulator_env(server)
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS"):
        env.pop(name, None)
    return {**env, **extra}


def _last_draw(text: str, marker: str) -> str:
    """The last redraw of the live line that contains `marker`, escapes removed."""
    draws = [d for d in text.split("\r") if marker in d]
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", draws[-1]).split("\n")[0]


def test_apply_at_a_terminal_draws_a_bar_a_training_line_and_a_table(
    tmp_path: Path, server: EmulatorServer
) -> None:
    spec = _spec(tmp_path, "terminal-rich")
    shown = in_terminal(_env(server), tmp_path, "apply", spec.name, "--auto-approve")
    progress = shown.split("\n  uploading 24 images in 1 batch(es)\n")[1]
    bar = _last_draw(progress, "uploading")
    assert "━" in bar and bar.split()[2:5] == ["24/24", "100%", bar.split()[4]]
    assert bar.split()[4].endswith("/s")
    assert "uploaded 24/24 images" not in progress  # the CI line is not shown at a terminal
    assert re.search(r"cvspec-\w+: Completed after \d+s", _last_draw(progress, "Completed"))
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", progress)
    table = [line for line in plain.splitlines() if "│" in line or "┃" in line]
    assert [line.split()[1] for line in table] == ["tag", "one", "seven", "zero", "overall"]
    assert "\x1b[32m" in progress and "\x1b[1m" in progress  # coloured, by rich
    assert shown.endswith("service call(s).\n")


def test_no_color_at_a_terminal_keeps_the_bars_without_colour(
    tmp_path: Path, server: EmulatorServer
) -> None:
    spec = _spec(tmp_path, "terminal-no-color")
    flag = in_terminal(_env(server), tmp_path, "apply", spec.name, "--auto-approve", "--no-color")
    assert "━" in _last_draw(flag, "uploading") and "┃ tag" in flag  # still live, still a table
    assert not SGR_COLOUR.search(flag)
    spec.write_text(spec.read_text().replace("The digit 0", "Zero"))
    planned = in_terminal(_env(server, NO_COLOR="1"), tmp_path, "plan", spec.name)
    assert "~ tag.zero" in planned and "\x1b[" not in planned
    coloured = in_terminal(_env(server), tmp_path, "plan", spec.name)
    assert "\x1b[33m  ~\x1b[0m tag.zero" in coloured


def test_a_ci_log_keeps_the_plain_lines_and_force_color_only_colours(
    tmp_path: Path, server: EmulatorServer
) -> None:
    spec = _spec(tmp_path, "terminal-ci-log")
    applied = run_cli(
        "apply", spec.name, "--auto-approve", cwd=tmp_path, env=_env(server, FORCE_COLOR="1")
    )
    assert applied.returncode == 0, applied.stderr
    out = applied.stdout
    assert "\x1b[1mPlan: 30 to add, 0 to change, 0 to destroy.\x1b[0m" in out  # FORCE_COLOR
    progress = out.split("Publishing: ")[1]
    assert "\r" not in out and "━" not in out and "\x1b[?25l" not in out  # nothing live
    assert "\n  uploaded 24/24 images  100%  " in progress
    assert re.search(r"\n  Evaluation of cvspec-\w+ at threshold 0.5:\n  tag      precision", out)
    assert not SGR_COLOUR.search(progress)  # the plain lines stay byte-identical
    planned = run_cli("plan", spec.name, cwd=tmp_path, env=_env(server))
    assert planned.returncode == 0 and "\x1b[" not in planned.stdout  # a pipe: no colour


def test_a_dumb_terminal_gets_the_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as terminal:
        for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("TERM", "xterm")
        assert Reporter(terminal).tty
        monkeypatch.setenv("TTY_INTERACTIVE", "0")
        assert not Reporter(terminal).tty
        monkeypatch.delenv("TTY_INTERACTIVE")
        monkeypatch.setenv("TERM", "dumb")
        assert not Reporter(terminal).tty
    os.close(leader)
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert not Reporter(io.StringIO()).tty  # FORCE_COLOR colours; it does not make a log live
