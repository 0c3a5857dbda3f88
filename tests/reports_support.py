"""Shared by the `cvspec test` and HTML report tests: applied example projects, held-out test
sets generated from scikit-learn's digits and from coloured images, and the expected result
computed independently, straight from the official prediction SDK's answers."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from contextlib import chdir, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from click.testing import CliRunner
from sklearn.datasets import load_digits

from cvspec.cli import main
from cvspec.emulator.server import EmulatorServer
from specs.make_digits import TAGS, render
from tests.emulator.support import PALETTE, make_image, prediction_client, training_client
from tests.helpers import copy_example

HELDOUT = slice(20, 26)  # digits of each kind not in the example (it takes the first 8)
COLOURS = ("red", "green", "blue")

COLOUR_SPEC = """\
version: 1
project:
  name: colours
  classification: multiclass
tags: [{name: red}, {name: green}, {name: blue}]
images:
  - path: "train/{tag}/*.png"
publish:
  name: colours-latest
"""


def applied_digits(root: Path) -> Path:
    """The example spec copied under `root` and applied on the built-in emulator."""
    spec = copy_example(root)
    result = invoke("apply", spec.name, "--auto-approve", cwd=root)
    assert result.returncode == 0, result.stderr
    return spec


def digits_testset(folder: Path) -> Path:
    """Held-out digits, one folder per tag (rendered as the example renders its own)."""
    digits = load_digits()
    for digit, tag in TAGS.items():
        (folder / tag).mkdir(parents=True, exist_ok=True)
        for n, index in enumerate(np.flatnonzero(digits.target == digit)[HELDOUT]):
            render(digits.images[index]).save(folder / tag / f"{tag}-test-{n}.png")
    return folder


def applied_colours(root: Path) -> Path:
    """A spec of generated one-colour images (6 a tag), applied on the built-in emulator."""
    for k, colour in enumerate(COLOURS):
        folder = root / "train" / colour
        folder.mkdir(parents=True)
        for n in range(6):
            seed = 70_000 + 100 * k + n
            (folder / f"{colour}-{n}.png").write_bytes(make_image(PALETTE[colour], seed=seed))
    spec = root / "colours.yaml"
    spec.write_text(COLOUR_SPEC)
    result = invoke("apply", spec.name, "--auto-approve", cwd=root)
    assert result.returncode == 0, result.stderr
    return spec


def applied_multilabel(root: Path) -> Path:
    """The colour project as multilabel (red and blue images only), applied."""
    for k, colour in enumerate(("red", "blue")):
        folder = root / "train" / colour
        folder.mkdir(parents=True)
        for n in range(6):
            seed = 90_000 + 100 * k + n
            (folder / f"{colour}-{n}.png").write_bytes(make_image(PALETTE[colour], seed=seed))
    spec = root / "multi.yaml"
    text = COLOUR_SPEC.replace("multiclass", "multilabel").replace("{name: green}, ", "")
    spec.write_text(text.replace("  name: colours\n", "  name: colours-multi\n"))
    result = invoke("apply", spec.name, "--auto-approve", cwd=root)
    assert result.returncode == 0, result.stderr
    return spec


def sdk_probabilities(
    spec: Path, project: str, publish: str, paths: list[Path]
) -> list[dict[str, float]]:
    """Each image's probabilities by tag, from the official prediction SDK."""
    found = []
    with emulator_of(spec) as server:
        trainer: CustomVisionTrainingClient = training_client(server)
        project_id = next(p.id for p in trainer.get_projects() if p.name == project)
        predictor = prediction_client(server)
        for path in paths:
            with path.open("rb") as data:
                result = predictor.classify_image_with_no_store(project_id, publish, data)
            found.append({p.tag_name: p.probability for p in result.predictions})
    return found


def colour_testset(folder: Path, mislabelled: int = 2) -> tuple[Path, list[Path]]:
    """Fresh images of each colour in their folder, and `mislabelled` red images put in the
    `blue` folder (the model cannot get those right); returns the folder and those files."""
    wrong = []
    for k, colour in enumerate(COLOURS):
        (folder / colour).mkdir(parents=True, exist_ok=True)
        for n in range(4):
            seed = 80_000 + 100 * k + n
            image = make_image(PALETTE[colour], seed=seed)
            (folder / colour / f"{colour}-t{n}.png").write_bytes(image)
    for n in range(mislabelled):
        path = folder / "blue" / f"actually-red-{n}.png"
        path.write_bytes(make_image(PALETTE["red"], seed=81_000 + n))
        wrong.append(path)
    return folder, wrong


@contextmanager
def emulator_of(spec: Path) -> Iterator[EmulatorServer]:
    """The built-in emulator of `spec` (its state beside the spec), served for the SDK."""
    with EmulatorServer(spec.parent / ".cvspec" / "emulator") as server:
        yield server


def sdk_top1(spec: Path, project: str, publish: str, folder: Path) -> dict[str, str]:
    """Every image of a folder-per-tag test set -> the tag the official prediction SDK ranks
    first (ClassifyImageWithNoStore), read here without cvspec."""
    answers = {}
    with emulator_of(spec) as server:
        trainer: CustomVisionTrainingClient = training_client(server)
        project_id = next(p.id for p in trainer.get_projects() if p.name == project)
        predictor = prediction_client(server)
        for path in sorted(folder.glob("*/*.png")):
            with path.open("rb") as data:
                result = predictor.classify_image_with_no_store(project_id, publish, data)
            best = max(result.predictions, key=lambda p: p.probability)
            answers[str(path)] = best.tag_name
    return answers


def expected_matrix(answers: dict[str, str], tags: list[str]) -> list[list[int]]:
    """Rows: the label (the image's folder); columns: the SDK's top tag; tags sorted."""
    pairs = Counter((Path(path).parent.name, top) for path, top in answers.items())
    return [[pairs[(label, top)] for top in tags] for label in tags]


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def invoke(*args: str, cwd: Path) -> Ran:
    """Run a cvspec command in-process (click's CliRunner) from `cwd`, on the built-in
    emulator (no CVSPEC_*/VISION_* settings): much faster than a new Python per command."""
    unset: dict[str, str | None] = {
        k: None for k in os.environ if k.startswith(("CVSPEC_", "VISION_")) or k == "NO_COLOR"
    }
    with chdir(cwd):
        result = CliRunner(env={**unset, "COLUMNS": "100"}).invoke(main, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)


def run_json(*args: str, cwd: Path) -> tuple[int, dict[str, Any], str]:
    """Run a cvspec command with --format json; (exit status, document, stderr)."""
    result = invoke(*args, "--format", "json", cwd=cwd)
    document = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.returncode, document, result.stderr


def copy_tree(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest)
    return dest
