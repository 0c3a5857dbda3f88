"""Domains, projects and tags through the official training SDK."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    CustomVisionErrorException,
    Project,
)

from .support import service_error, unique_name

GENERAL = "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31"
FOOD = "c151d5b5-dd07-472a-acc8-15d29dea8518"
DETECTION = "da2e3a8a-40a5-4171-82f4-58522f70fbc1"


def test_get_domains(trainer: CustomVisionTrainingClient) -> None:
    domains = trainer.get_domains()
    by_id = {d.id: d for d in domains}
    assert by_id[GENERAL].name == "General"
    assert by_id[GENERAL].type == "Classification"
    assert by_id["0732100f-1a38-4e49-a514-c9b44c697ab5"].exportable is True


def test_get_domain(trainer: CustomVisionTrainingClient) -> None:
    assert trainer.get_domain(FOOD).name == "Food"


def test_get_domain__unknown(trainer: CustomVisionTrainingClient) -> None:
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.get_domain("00000000-0000-0000-0000-000000000000")
    assert service_error(excinfo)[:2] == (404, "NotFoundDomain")


def test_create_project__defaults(make_project: Callable[..., Project]) -> None:
    project = make_project(description="about")
    assert project.description == "about"
    assert project.settings.domain_id == GENERAL
    assert project.settings.classification_type == "Multilabel"
    assert project.status == "Succeeded"
    assert project.created is not None and project.created.tzinfo is not None


def test_create_project__options(make_project: Callable[..., Project]) -> None:
    project = make_project(
        domain_id="0732100f-1a38-4e49-a514-c9b44c697ab5",
        classification_type="Multiclass",
        target_export_platforms=["ONNX", "CoreML"],
    )
    assert project.settings.classification_type == "Multiclass"
    assert project.settings.target_export_platforms == ["ONNX", "CoreML"]


def test_create_project__name_not_unique(
    trainer: CustomVisionTrainingClient, make_project: Callable[..., Project]
) -> None:
    project = make_project()
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.create_project(project.name)
    assert service_error(excinfo)[:2] == (400, "BadRequestProjectNameNotUnique")


def test_create_project__unknown_domain(trainer: CustomVisionTrainingClient) -> None:
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.create_project(unique_name(), domain_id="00000000-0000-0000-0000-000000000001")
    assert service_error(excinfo)[:2] == (400, "BadRequestProjectUnknownDomain")


def test_create_project__detection_domain_refused(trainer: CustomVisionTrainingClient) -> None:
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.create_project(unique_name(), domain_id=DETECTION)
    assert service_error(excinfo)[:2] == (400, "BadRequestUnsupportedDomain")


def test_get_projects_and_get_project(
    trainer: CustomVisionTrainingClient, make_project: Callable[..., Project]
) -> None:
    first, second = make_project(), make_project()
    ids = [p.id for p in trainer.get_projects()]
    assert ids.index(second.id) < ids.index(first.id)  # newest first
    assert trainer.get_project(first.id).name == first.name


def test_get_project__not_found(trainer: CustomVisionTrainingClient) -> None:
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.get_project("00000000-0000-0000-0000-000000000000")
    assert service_error(excinfo)[:2] == (404, "NotFoundProject")


def test_update_project(trainer: CustomVisionTrainingClient, project: Project) -> None:
    project.name = unique_name("renamed")
    project.description = "new description"
    project.settings.domain_id = FOOD
    project.settings.classification_type = "Multiclass"
    updated = trainer.update_project(project.id, project)
    assert updated.name == project.name
    assert updated.description == "new description"
    assert updated.settings.domain_id == FOOD
    assert updated.settings.classification_type == "Multiclass"
    assert updated.last_modified >= updated.created


def test_update_project__to_detection_domain(
    trainer: CustomVisionTrainingClient, project: Project
) -> None:
    project.settings.domain_id = DETECTION
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.update_project(project.id, project)
    assert service_error(excinfo)[:2] == (400, "BadRequestProjectUnsupportedDomainTypeChange")


def test_delete_project(trainer: CustomVisionTrainingClient) -> None:
    project = trainer.create_project(unique_name())
    trainer.delete_project(project.id)
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.get_project(project.id)
    assert service_error(excinfo)[:2] == (404, "NotFoundProject")


# -- tags ----------------------------------------------------------------------------------


def test_create_get_update_delete_tag(
    trainer: CustomVisionTrainingClient, project: Project
) -> None:
    tag = trainer.create_tag(project.id, "cat", description="a cat")
    assert (tag.name, tag.description, tag.type, tag.image_count) == ("cat", "a cat", "Regular", 0)
    assert trainer.get_tag(project.id, tag.id).name == "cat"
    tag.name, tag.description = "kitten", "small cat"
    updated = trainer.update_tag(project.id, tag.id, tag)
    assert (updated.name, updated.description) == ("kitten", "small cat")
    assert [t.name for t in trainer.get_tags(project.id)] == ["kitten"]
    trainer.delete_tag(project.id, tag.id)
    assert trainer.get_tags(project.id) == []


def test_create_tag__empty_description_is_null(
    trainer: CustomVisionTrainingClient, project: Project
) -> None:
    assert trainer.create_tag(project.id, "dog", description="").description is None


def test_create_tag__name_not_unique(trainer: CustomVisionTrainingClient, project: Project) -> None:
    trainer.create_tag(project.id, "dog")
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.create_tag(project.id, "dog")
    assert service_error(excinfo)[:2] == (400, "BadRequestTagNameNotUnique")


def test_create_tag__one_negative_only(
    trainer: CustomVisionTrainingClient, project: Project
) -> None:
    assert trainer.create_tag(project.id, "none", type="Negative").type == "Negative"
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.create_tag(project.id, "nothing", type="Negative")
    assert service_error(excinfo)[:2] == (400, "BadRequestMultipleNegativeTag")


def test_get_tag__not_found(trainer: CustomVisionTrainingClient, project: Project) -> None:
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.get_tag(project.id, "00000000-0000-0000-0000-000000000000")
    assert service_error(excinfo)[:2] == (404, "NotFoundTag")


def test_tags_per_project_limit(tmp_path_factory: pytest.TempPathFactory) -> None:
    from cvspec.emulator.server import EmulatorServer

    from .support import training_client

    with EmulatorServer(tmp_path_factory.mktemp("f0"), tier="F0") as srv:
        client = training_client(srv)
        project = client.create_project("one")
        for i in range(50):
            client.create_tag(project.id, f"t{i}")
        with pytest.raises(CustomVisionErrorException) as excinfo:
            client.create_tag(project.id, "t50")
        assert service_error(excinfo)[:2] == (400, "BadRequestExceedTagPerProjectLimit")
        client.create_project("two")
        with pytest.raises(CustomVisionErrorException) as excinfo:
            client.create_project("three")
        assert service_error(excinfo)[:2] == (400, "BadRequestExceedProjectLimit")
