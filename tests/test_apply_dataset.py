"""An iteration's name claims its dataset: what the service trains on must match it."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers import copy_example, run_cli


@pytest.fixture()
def example(tmp_path: Path) -> Path:
    return copy_example(tmp_path)


def _edit(spec: Path, old: str, new: str) -> None:
    text = spec.read_text()
    assert old in text
    spec.write_text(text.replace(old, new))


def test_excluding_an_image_without_prune_plans_no_training(example: Path) -> None:
    """The image stays in the project (prune off), so the service's dataset is unchanged."""
    _edit(example, "keep: 3", "keep: 1")
    assert run_cli("apply", example.name, "--auto-approve", cwd=example.parent).returncode == 0
    _edit(example, "images:\n", 'exclude: ["digits/one/one-07.png"]\nimages:\n')
    plan = run_cli("plan", example.name, "--detailed-exitcode", cwd=example.parent)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "no longer in the spec" in plan.stdout
    again = run_cli("apply", example.name, "--auto-approve", cwd=example.parent)
    assert again.returncode == 0, again.stdout + again.stderr


@pytest.fixture()
def web(tmp_path: Path) -> Iterator[str]:
    """A static file server on loopback, serving tmp_path/www."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_a_failed_image_stops_training_until_it_is_fixed(
    example: Path, web: str, tmp_path: Path
) -> None:
    url = f"{web}/extra-seven.png"
    _edit(example, "images:\n", f"images:\n  - urls: ['{url}']\n    tags: [seven]\n")
    first = run_cli("apply", example.name, "--auto-approve", cwd=example.parent)
    assert first.returncode == 1
    assert "extra-seven.png" in first.stderr
    assert "training and publishing skipped" in first.stdout + first.stderr
    plan = run_cli("plan", example.name, "--detailed-exitcode", cwd=example.parent)
    assert plan.returncode == 2
    assert "Training: new iteration" in plan.stdout

    # New content (a mirrored seven): not a duplicate of an image already in the project.
    source = Image.open(example.parent / "digits" / "seven" / "seven-00.png")
    source.transpose(Image.Transpose.FLIP_TOP_BOTTOM).save(tmp_path / "www" / "extra-seven.png")
    fixed = run_cli("apply", example.name, "--auto-approve", cwd=example.parent)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "published" in fixed.stdout
    final = run_cli("plan", example.name, "--detailed-exitcode", cwd=example.parent)
    assert final.returncode == 0, final.stdout


def test_apply_json_plan_event_names_the_target(example: Path) -> None:
    result = run_cli("apply", example.name, "--auto-approve", "--json", cwd=example.parent)
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert '"event": "plan"' in first
    assert '"target": "emulator"' in first
