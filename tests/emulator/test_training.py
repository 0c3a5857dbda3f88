"""Training, iterations, evaluation and publishing through the official SDK."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
import requests
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    CustomVisionErrorException,
    Iteration,
    Project,
)

from cvspec.emulator.server import EmulatorServer

from .support import PALETTE, service_error, upload, wait_trained


def test_train_poll_completed(
    trainer: CustomVisionTrainingClient, trainable: dict[str, Any]
) -> None:
    project = trainable["project"]
    iteration = trainer.train_project(project.id)
    assert iteration.status == "Training"
    assert iteration.name == "Iteration 1"
    assert iteration.domain_id is None  # filled in once trained, as on Azure
    done = wait_trained(trainer, project.id, iteration)
    assert done.status == "Completed"
    assert done.trained_at is not None
    assert done.domain_id == project.settings.domain_id
    assert done.classification_type == "Multiclass"
    assert done.training_time_in_minutes >= 1
    assert done.publish_name is None
    assert [i.id for i in trainer.get_iterations(project.id)] == [iteration.id]


def test_iteration_performance(
    trainer: CustomVisionTrainingClient, trained: dict[str, Any]
) -> None:
    project, iteration = trained["project"], trained["iteration"]
    perf = trainer.get_iteration_performance(project.id, iteration.id, threshold=0.5)
    assert perf.precision == pytest.approx(1.0)
    assert perf.recall == pytest.approx(1.0)
    assert {t.name for t in perf.per_tag_performance} == {"red", "blue"}
    for tag in perf.per_tag_performance:
        assert 0.0 <= tag.precision <= 1.0 and tag.average_precision is not None
    strict = trainer.get_iteration_performance(project.id, iteration.id, threshold=1.0)
    assert strict.recall <= perf.recall


def test_image_performances(trainer: CustomVisionTrainingClient, trained: dict[str, Any]) -> None:
    project, iteration = trained["project"], trained["iteration"]
    images = trainer.get_image_performances(project.id, iteration.id)
    assert len(images) == 12
    assert trainer.get_image_performance_count(project.id, iteration.id) == 12
    red_only = trainer.get_image_performances(project.id, iteration.id, tag_ids=[trained["red"].id])
    assert len(red_only) == 6
    assert trainer.get_image_performance_count(project.id, iteration.id, [trained["red"].id]) == 6
    first = images[0]
    probabilities = [p.probability for p in first.predictions]
    assert probabilities == sorted(probabilities, reverse=True)
    assert {p.tag_name for p in first.predictions} == {"red", "blue"}
    assert len(trainer.get_image_performances(project.id, iteration.id, take=5, skip=10)) == 2


def test_training_not_needed_and_force(
    trainer: CustomVisionTrainingClient, trained: dict[str, Any]
) -> None:
    project = trained["project"]
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.train_project(project.id)
    assert service_error(excinfo)[:2] == (400, "BadRequestTrainingNotNeeded")
    again = wait_trained(trainer, project.id, trainer.train_project(project.id, force_train=True))
    assert again.status == "Completed" and again.name == "Iteration 2"


def test_training_after_a_change(
    trainer: CustomVisionTrainingClient, trained: dict[str, Any]
) -> None:
    project = trained["project"]
    upload(trainer, project.id, [trained["red"].id], 1, PALETTE["red"])
    assert (
        wait_trained(trainer, project.id, trainer.train_project(project.id)).status == "Completed"
    )


def test_training_needs_five_images_per_tag(
    trainer: CustomVisionTrainingClient, make_project: Callable[..., Project]
) -> None:
    project = make_project()
    a, b = trainer.create_tag(project.id, "a"), trainer.create_tag(project.id, "b")
    upload(trainer, project.id, [a.id], 5, PALETTE["red"])
    upload(trainer, project.id, [b.id], 4, PALETTE["blue"])
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.train_project(project.id)
    status, code, message = service_error(excinfo)
    assert (status, code) == (400, "BadRequestMultiLabelClassificationTrainingValidationFailed")
    assert "Not enough images" in message
    upload(trainer, project.id, [b.id], 1, PALETTE["blue"])
    assert (
        wait_trained(trainer, project.id, trainer.train_project(project.id)).status == "Completed"
    )


def test_training_needs_two_tags(
    trainer: CustomVisionTrainingClient, make_project: Callable[..., Project]
) -> None:
    project = make_project(classification_type="Multiclass")
    a = trainer.create_tag(project.id, "a")
    upload(trainer, project.id, [a.id], 5, PALETTE["red"])
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.train_project(project.id)
    assert service_error(excinfo)[:2] == (
        400,
        "BadRequestMultiClassClassificationTrainingValidationFailed",
    )


def test_selected_tags(
    trainer: CustomVisionTrainingClient, make_project: Callable[..., Project]
) -> None:
    project = make_project()
    a, b = trainer.create_tag(project.id, "a"), trainer.create_tag(project.id, "b")
    c = trainer.create_tag(project.id, "few")
    upload(trainer, project.id, [a.id], 5, PALETTE["red"])
    upload(trainer, project.id, [b.id], 5, PALETTE["blue"])
    upload(trainer, project.id, [c.id], 1, PALETTE["green"])
    iteration = trainer.train_project(project.id, selected_tags=[a.id, b.id])
    assert wait_trained(trainer, project.id, iteration).status == "Completed"
    assert {t.name for t in trainer.get_tags(project.id, iteration_id=iteration.id)} == {"a", "b"}


def test_selected_tags_train_only_the_images_that_carry_them(
    trainer: CustomVisionTrainingClient, make_project: Callable[..., Project]
) -> None:
    """TrainingParameters.selectedTags: other tags, and images carrying only other tags,
    are ignored: they neither block the training (too few images) nor enter it."""
    project = make_project(classification_type="Multilabel")
    a, b = trainer.create_tag(project.id, "a"), trainer.create_tag(project.id, "b")
    few = trainer.create_tag(project.id, "few")
    trainer.create_tag(project.id, "empty")  # no image at all: ignored too
    a_ids = upload(trainer, project.id, [a.id], 5, PALETTE["red"])
    b_ids = upload(trainer, project.id, [b.id], 5, PALETTE["blue"])
    both = upload(trainer, project.id, [a.id, few.id], 1, PALETTE["yellow"])
    upload(trainer, project.id, [few.id], 1, PALETTE["green"])
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.train_project(project.id)  # every tag: 'few' has 2 images, 'empty' none
    assert "Not enough" in service_error(excinfo)[2]

    iteration = trainer.train_project(project.id, selected_tags=[a.id, b.id])
    assert wait_trained(trainer, project.id, iteration).status == "Completed"
    assert {t.name for t in trainer.get_tags(project.id, iteration_id=iteration.id)} == {"a", "b"}
    trained = trainer.get_images(project.id, iteration_id=iteration.id, take=256)
    assert {i.id for i in trained} == {*a_ids, *b_ids, *both}
    assert {t.tag_name for i in trained if i.id == both[0] for t in i.tags} == {"a"}

    upload(trainer, project.id, [few.id], 2, PALETTE["green"])  # only an ignored tag grows
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.train_project(project.id, selected_tags=[a.id, b.id])
    assert service_error(excinfo)[1] == "BadRequestTrainingNotNeeded"

    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.train_project(project.id, selected_tags=[a.id, b.id, few.id])
    status, code, message = service_error(excinfo)
    assert (status, code) == (400, "BadRequestMultiLabelClassificationTrainingValidationFailed")
    assert "(few)" in message  # 4 images: the selected tag is held to the minimum


def test_a_multiclass_project_trains_one_selected_tag_per_image(
    trainer: CustomVisionTrainingClient, make_project: Callable[..., Project]
) -> None:
    """In a multiclass project, a selected tag needs its 5 images; unselected tags don't."""
    project = make_project(classification_type="Multiclass")
    a, b = trainer.create_tag(project.id, "a"), trainer.create_tag(project.id, "b")
    old = trainer.create_tag(project.id, "old")  # a tag whose images all moved away
    upload(trainer, project.id, [a.id], 5, PALETTE["red"])
    upload(trainer, project.id, [b.id], 5, PALETTE["blue"])
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.train_project(project.id)
    assert "(old)" in service_error(excinfo)[2]
    iteration = trainer.train_project(project.id, selected_tags=[a.id, b.id])
    assert wait_trained(trainer, project.id, iteration).status == "Completed"
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.train_project(project.id, selected_tags=[a.id, old.id])
    assert "(old)" in service_error(excinfo)[2]


def test_negative_tag_training(
    trainer: CustomVisionTrainingClient, make_project: Callable[..., Project]
) -> None:
    project = make_project(classification_type="Multiclass")
    red = trainer.create_tag(project.id, "red")
    negative = trainer.create_tag(project.id, "Negative", type="Negative")
    upload(trainer, project.id, [red.id], 6, PALETTE["red"])
    upload(trainer, project.id, [negative.id], 6, PALETTE["green"])
    iteration = wait_trained(trainer, project.id, trainer.train_project(project.id))
    assert iteration.status == "Completed"
    perf = trainer.get_iteration_performance(project.id, iteration.id, threshold=0.5)
    assert {t.name for t in perf.per_tag_performance} >= {"red"}


def test_advanced_training_and_email(
    trainer: CustomVisionTrainingClient, trainable: dict[str, Any]
) -> None:
    project = trainable["project"]
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.train_project(project.id, training_type="Advanced")
    assert service_error(excinfo)[1] == (
        "BadRequestReservedBudgetInHoursNotEnoughForAdvancedTraining"
    )
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.train_project(project.id, notification_email_address="not-an-email")
    assert service_error(excinfo)[1] == "BadRequestInvalidEmailAddress"
    iteration = trainer.train_project(
        project.id, training_type="Advanced", reserved_budget_in_hours=1
    )
    iteration = wait_trained(trainer, project.id, iteration)
    assert (iteration.training_type, iteration.reserved_budget_in_hours) == ("Advanced", 1)


def test_iteration_snapshot(trainer: CustomVisionTrainingClient, trained: dict[str, Any]) -> None:
    project, iteration = trained["project"], trained["iteration"]
    red = trained["red"]
    ids = [i.id for i in trainer.get_tagged_images(project.id, tag_ids=[red.id])]
    trainer.delete_images(project.id, image_ids=ids[:2])
    trainer.update_tag(
        project.id, red.id, {"name": "crimson", "description": "", "type": "Regular"}
    )
    assert trainer.get_tagged_image_count(project.id, tag_ids=[red.id]) == 4
    assert trainer.get_tagged_image_count(project.id, iteration.id, [red.id]) == 6
    assert len(trainer.get_images(project.id, iteration_id=iteration.id)) == 12
    assert trainer.get_tag(project.id, red.id, iteration_id=iteration.id).name == "red"
    assert trainer.get_tag(project.id, red.id, iteration_id=iteration.id).image_count == 6
    by_ids = trainer.get_images_by_ids(project.id, ids[:1], iteration_id=iteration.id)
    assert [i.id for i in by_ids] == ids[:1]


def test_update_iteration(trainer: CustomVisionTrainingClient, trained: dict[str, Any]) -> None:
    project, iteration = trained["project"], trained["iteration"]
    updated = trainer.update_iteration(project.id, iteration.id, "Best so far")
    assert updated.name == "Best so far"
    assert trainer.get_iteration(project.id, iteration.id).name == "Best so far"


def test_get_iteration__not_found(trainer: CustomVisionTrainingClient, project: Project) -> None:
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.get_iteration(project.id, "00000000-0000-0000-0000-000000000000")
    assert service_error(excinfo)[:2] == (404, "NotFoundIteration")


def test_publish_unpublish_delete(
    server: EmulatorServer, trainer: CustomVisionTrainingClient, trained: dict[str, Any]
) -> None:
    project, iteration = trained["project"], trained["iteration"]
    assert trainer.publish_iteration(
        project.id, iteration.id, "prod", server.prediction_resource_id
    )
    published = trainer.get_iteration(project.id, iteration.id)
    assert published.publish_name == "prod"
    assert published.original_publish_resource_id == server.prediction_resource_id
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.delete_iteration(project.id, iteration.id)
    assert service_error(excinfo)[:2] == (400, "BadRequestIterationIsPublished")
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.publish_iteration(project.id, iteration.id, "again", server.prediction_resource_id)
    assert service_error(excinfo)[1] == "BadRequestIterationIsPublished"
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.delete_project(project.id)
    assert service_error(excinfo)[1] == "BadRequestIterationIsPublished"
    trainer.unpublish_iteration(project.id, iteration.id)
    assert trainer.get_iteration(project.id, iteration.id).publish_name == ""
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.unpublish_iteration(project.id, iteration.id)
    assert service_error(excinfo)[1] == "BadRequestIterationNotPublished"
    trainer.delete_iteration(project.id, iteration.id)
    assert trainer.get_iterations(project.id) == []


def test_publish_errors(
    server: EmulatorServer, trainer: CustomVisionTrainingClient, trained: dict[str, Any]
) -> None:
    project, iteration = trained["project"], trained["iteration"]
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.publish_iteration(project.id, iteration.id, "prod", "/subscriptions/nope")
    assert service_error(excinfo)[:2] == (400, "BadRequestInvalidPublishTarget")
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.publish_iteration(
            project.id, iteration.id, "bad/name", server.prediction_resource_id
        )
    assert service_error(excinfo)[1] == "BadRequestInvalidPublishName"


def test_publish_overwrite(
    server: EmulatorServer, trainer: CustomVisionTrainingClient, trained: dict[str, Any]
) -> None:
    project, first = trained["project"], trained["iteration"]
    resource = server.prediction_resource_id
    trainer.publish_iteration(project.id, first.id, "live", resource)
    second = wait_trained(trainer, project.id, trainer.train_project(project.id, force_train=True))
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.publish_iteration(project.id, second.id, "live", resource)
    assert service_error(excinfo)[1] == "BadRequestInvalidPublishName"
    assert trainer.publish_iteration(project.id, second.id, "live", resource, overwrite=True)
    assert trainer.get_iteration(project.id, first.id).publish_name == ""
    assert trainer.get_iteration(project.id, second.id).publish_name == "live"


def test_publish_untrained_iteration(
    server: EmulatorServer, trainer: CustomVisionTrainingClient, trainable: dict[str, Any]
) -> None:
    project = trainable["project"]
    iteration = trainer.train_project(project.id)
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.publish_iteration(project.id, iteration.id, "early", server.prediction_resource_id)
    assert service_error(excinfo)[1] in ("BadRequestIterationIsNotTrained",)
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.train_project(project.id, force_train=True)
    assert service_error(excinfo)[1] == "BadRequestTrainingAlreadyInProgress"
    wait_trained(trainer, project.id, iteration)


def test_iteration_limit(tmp_path_factory: pytest.TempPathFactory) -> None:
    from .support import training_client

    with EmulatorServer(tmp_path_factory.mktemp("iterations")) as srv:
        client = training_client(srv)
        project = client.create_project("p", classification_type="Multiclass")
        a, b = client.create_tag(project.id, "a"), client.create_tag(project.id, "b")
        upload(client, project.id, [a.id], 5, PALETTE["red"])
        upload(client, project.id, [b.id], 5, PALETTE["blue"])
        iterations: list[Iteration] = []
        for _ in range(20):
            iterations.append(client.train_project(project.id, force_train=True))
            srv.wait_for_training(30)
        with pytest.raises(CustomVisionErrorException) as excinfo:
            client.train_project(project.id, force_train=True)
        assert service_error(excinfo)[:2] == (400, "BadRequestExceedIterationPerProjectLimit")
        client.delete_iteration(project.id, iterations[0].id)
        latest = client.train_project(project.id, force_train=True)
        assert latest.name == "Iteration 21"


def test_export_iteration(
    trainer: CustomVisionTrainingClient, make_project: Callable[..., Project]
) -> None:
    project = make_project(domain_id="0732100f-1a38-4e49-a514-c9b44c697ab5")
    a, b = trainer.create_tag(project.id, "a"), trainer.create_tag(project.id, "b")
    upload(trainer, project.id, [a.id], 5, PALETTE["red"])
    upload(trainer, project.id, [b.id], 5, PALETTE["blue"])
    iteration = wait_trained(trainer, project.id, trainer.train_project(project.id))
    assert iteration.exportable is True
    export = trainer.export_iteration(project.id, iteration.id, "ONNX")
    assert (export.status, export.download_uri) == ("Exporting", "")  # the Swagger's example
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.export_iteration(project.id, iteration.id, "ONNX")
    assert service_error(excinfo)[:2] == (400, "BadRequestExportAlreadyInProgress")
    deadline = time.monotonic() + 30
    while (exports := trainer.get_exports(project.id, iteration.id))[0].status == "Exporting":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert [(e.platform, e.status) for e in exports] == [("ONNX", "Done")]
    package = requests.get(exports[0].download_uri, timeout=30)  # no key: a storage URL
    assert package.status_code == 200
    with zipfile.ZipFile(io.BytesIO(package.content)) as archive:
        assert archive.read("labels.txt").decode().split() == ["a", "b"]
        assert archive.read("model.bin")


def test_export_iteration__not_compact(
    trainer: CustomVisionTrainingClient, trained: dict[str, Any]
) -> None:
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.export_iteration(trained["project"].id, trained["iteration"].id, "ONNX")
    assert service_error(excinfo)[:2] == (400, "BadRequestExportValidationFailed")


def test_training_is_deterministic(
    trainer: CustomVisionTrainingClient, trained: dict[str, Any]
) -> None:
    project, first = trained["project"], trained["iteration"]
    second = wait_trained(trainer, project.id, trainer.train_project(project.id, force_train=True))

    def probabilities(iteration_id: Any) -> dict[str, list[tuple[str, float]]]:
        images = trainer.get_image_performances(project.id, iteration_id, take=256)
        return {i.id: [(p.tag_id, p.probability) for p in i.predictions] for i in images}

    assert probabilities(first.id) == probabilities(second.id)
    a = trainer.get_iteration_performance(project.id, first.id, threshold=0.7)
    b = trainer.get_iteration_performance(project.id, second.id, threshold=0.7)
    assert a.as_dict() == b.as_dict()


def test_failed_training_reports_details(tmp_path_factory: pytest.TempPathFactory) -> None:
    from .support import training_client

    data_dir = tmp_path_factory.mktemp("failing")
    with EmulatorServer(data_dir) as srv:
        client = training_client(srv)
        project = client.create_project("p", classification_type="Multiclass")
        a, b = client.create_tag(project.id, "a"), client.create_tag(project.id, "b")
        upload(client, project.id, [a.id], 5, PALETTE["red"])
        upload(client, project.id, [b.id], 5, PALETTE["blue"])
        for blob in (data_dir / "blobs").rglob("*"):
            if blob.is_file():
                blob.write_bytes(b"lost")  # the image store got damaged behind our back
        iteration = wait_trained(client, project.id, client.train_project(project.id))
        assert iteration.status == "Failed"
        assert iteration.training_error_details
        with pytest.raises(CustomVisionErrorException) as excinfo:
            client.get_iteration_performance(project.id, iteration.id)
        assert service_error(excinfo)[1] == "BadRequestIterationIsNotTrained"
