"""Builders for spec tests: a project directory with small generated images."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

BASIC_SPEC = """\
version: 1
project: {name: pets, classification: multiclass, domain: General}
tags: [{name: cat}, {name: dog}]
images: [{path: "images/{tag}/*.png"}]
training: {}
"""

_counter = iter(range(1, 1_000_000))


def write_image(
    path: Path, size: tuple[int, int] = (64, 48), fmt: str = "PNG", seed: int | None = None
) -> Path:
    """A small image whose content is unique (unless `seed` repeats)."""
    value = next(_counter) if seed is None else seed
    colour = (value % 251, (value // 251) % 251, 7)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, fmt)
    return path


def age(path: Path, seconds: float = 3600) -> None:
    """Move the file's mtime into the past, out of the hash cache's racy window."""
    past = time.time() - seconds
    os.utime(path, (past, past))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`tmp_path/project`, the cwd, with images/cat/0-4.png and images/dog/0-4.png."""
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.chdir(root)
    monkeypatch.delenv("CVSPEC_TEST_UNSET_RESOURCE", raising=False)
    for tag in ("cat", "dog"):
        for index in range(5):
            age(write_image(root / "images" / tag / f"{index}.png"))
    return root


@pytest.fixture
def write_spec(project: Path) -> Callable[[str, str], Path]:
    """Write a spec file into the project directory."""

    def write(text: str, name: str = "spec.yaml") -> Path:
        path = project / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
