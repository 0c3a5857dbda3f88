"""Fixtures: one real emulator on 127.0.0.1 per test session, the official SDK clients
built the way Microsoft's samples build them, and projects cleaned up after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import Project

from cvspec.emulator.server import EmulatorServer

from .support import (
    PALETTE,
    cleanup,
    prediction_client,
    training_client,
    unique_name,
    upload,
    wait_trained,
)

FIXED_SEED = 50_000


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with EmulatorServer(tmp_path_factory.mktemp("emulator")) as srv:
        yield srv


@pytest.fixture(scope="session")
def trainer(server: EmulatorServer) -> CustomVisionTrainingClient:
    return training_client(server)


@pytest.fixture(scope="session")
def predictor(server: EmulatorServer) -> CustomVisionPredictionClient:
    return prediction_client(server)


@pytest.fixture
def make_project(trainer: CustomVisionTrainingClient) -> Iterator[Callable[..., Project]]:
    """Create projects that are deleted (unpublished first) after the test."""
    made: list[str] = []

    def factory(**kwargs: Any) -> Project:
        project = trainer.create_project(kwargs.pop("name", unique_name()), **kwargs)
        made.append(project.id)
        return project

    yield factory
    for project_id in made:
        cleanup(trainer, project_id)


@pytest.fixture
def project(make_project: Callable[..., Project]) -> Project:
    return make_project()


@pytest.fixture
def trainable(
    trainer: CustomVisionTrainingClient, make_project: Callable[..., Project]
) -> dict[str, Any]:
    """A multiclass project with two tags of 6 clearly different images each."""
    project = make_project(classification_type="Multiclass")
    red = trainer.create_tag(project.id, "red")
    blue = trainer.create_tag(project.id, "blue")
    # Fixed images: the held-out evaluation of noisy images depends on the noise, and a
    # counter-seeded noise made the figures depend on which tests ran before.
    upload(trainer, project.id, [red.id], 6, PALETTE["red"], first_seed=FIXED_SEED)
    upload(trainer, project.id, [blue.id], 6, PALETTE["blue"], first_seed=FIXED_SEED + 100)
    return {"project": project, "red": red, "blue": blue}


@pytest.fixture
def trained(trainer: CustomVisionTrainingClient, trainable: dict[str, Any]) -> dict[str, Any]:
    """``trainable``, trained once to Completed."""
    project = trainable["project"]
    iteration = wait_trained(trainer, project.id, trainer.train_project(project.id))
    assert iteration.status == "Completed", iteration.training_error_details
    return {**trainable, "iteration": iteration}


@pytest.fixture
def published(
    server: EmulatorServer, trainer: CustomVisionTrainingClient, trained: dict[str, Any]
) -> dict[str, Any]:
    project, iteration = trained["project"], trained["iteration"]
    name = unique_name("pub")
    assert trainer.publish_iteration(project.id, iteration.id, name, server.prediction_resource_id)
    return {**trained, "publish_name": name}
