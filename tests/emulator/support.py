"""Helpers for the emulator tests: generated images, SDK clients, upload and polling."""

from __future__ import annotations

import io
import itertools
import random
import time
from pathlib import Path
from typing import Any

import pytest
from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    ImageFileCreateBatch,
    ImageFileCreateEntry,
    Iteration,
)
from msrest.authentication import ApiKeyCredentials
from PIL import Image, PngImagePlugin

from cvspec.emulator.server import EmulatorServer

SHARED = Path(__file__).parents[2] / ".." / "shared"
_counter = itertools.count(1)

PALETTE = {
    "red": (200, 30, 30),
    "green": (30, 180, 40),
    "blue": (30, 40, 200),
    "yellow": (220, 210, 40),
}


def make_image(
    color: tuple[int, int, int] = (128, 128, 128),
    size: tuple[int, int] = (48, 48),
    fmt: str = "PNG",
    seed: int | None = None,
    label: str | None = None,
) -> bytes:
    """A small image of one colour with a little noise; unique bytes for every call."""
    rng = random.Random(next(_counter) if seed is None else seed)
    img = Image.new("RGB", size, color)
    pixels = img.load()
    assert pixels is not None
    for _ in range(min(2000, max(8, size[0] * size[1] // 20))):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        jitter = tuple(max(0, min(255, c + rng.randint(-60, 60))) for c in color)
        pixels[x, y] = jitter
    out = io.BytesIO()
    if label is not None and fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text("label", label)  # other bytes, the same pixels
        img.save(out, fmt, pnginfo=info)
    else:
        img.save(out, fmt)
    return out.getvalue()


def unique_name(prefix: str = "p") -> str:
    return f"{prefix}-{next(_counter)}-{random.randrange(10**6)}"


def training_client(srv: EmulatorServer, key: str | None = None) -> CustomVisionTrainingClient:
    credentials = ApiKeyCredentials(in_headers={"Training-key": key or srv.training_key})
    return CustomVisionTrainingClient(srv.training_endpoint, credentials)


def prediction_client(srv: EmulatorServer, key: str | None = None) -> CustomVisionPredictionClient:
    credentials = ApiKeyCredentials(in_headers={"Prediction-key": key or srv.prediction_key})
    return CustomVisionPredictionClient(srv.prediction_endpoint, credentials)


def cleanup(trainer: CustomVisionTrainingClient, project_id: str) -> None:
    try:
        for iteration in trainer.get_iterations(project_id):
            if iteration.publish_name:
                trainer.unpublish_iteration(project_id, iteration.id)
        trainer.delete_project(project_id)
    except Exception:
        pass


def upload(
    trainer: CustomVisionTrainingClient,
    project_id: Any,  # the SDK's models type their ids as None
    tag_ids: list[Any],
    count: int,
    color: tuple[int, int, int],
    first_seed: int | None = None,
) -> list[str]:
    """Upload ``count`` fresh images tagged ``tag_ids``; returns their ids. With
    ``first_seed`` their pixels are always the same (seeds first_seed, first_seed + 1, ...)."""
    seeds = [None if first_seed is None else first_seed + i for i in range(count)]
    # With fixed seeds the pixels repeat but the bytes do not (a unique PNG text chunk), so
    # the emulator computes the features afresh and trains for as long as with new images.
    entries = [
        ImageFileCreateEntry(
            name=f"img{i}.png",
            contents=bytearray(make_image(color, seed=seed, label=str(next(_counter)))),
            tag_ids=tag_ids,
        )
        for i, seed in enumerate(seeds)
    ]
    summary = trainer.create_images_from_files(project_id, ImageFileCreateBatch(images=entries))
    assert summary.is_batch_successful, [i.status for i in summary.images]
    return [i.image.id for i in summary.images]


def wait_trained(
    trainer: CustomVisionTrainingClient, project_id: Any, iteration: Iteration, timeout: float = 60
) -> Iteration:
    deadline = time.monotonic() + timeout
    while iteration.status == "Training":
        assert time.monotonic() < deadline, "training did not finish"
        time.sleep(0.1)
        iteration = trainer.get_iteration(project_id, iteration.id)
    return iteration


def service_error(excinfo: pytest.ExceptionInfo[Any]) -> tuple[int, str, str]:
    """(HTTP status, code, message) of a CustomVisionErrorException."""
    error = excinfo.value
    return error.response.status_code, error.inner_exception.code, error.inner_exception.message
