"""The Prediction API, quick test, stored predictions, resources and keys."""

from __future__ import annotations

import io
from typing import Any

import pytest
import requests
from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.prediction.models import (
    CustomVisionErrorException as PredictionError,
)
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    CustomVisionErrorException,
    ImageIdCreateBatch,
    ImageIdCreateEntry,
    PredictionQueryTag,
    PredictionQueryToken,
    Project,
)

from cvspec.emulator.server import EmulatorServer

from .support import PALETTE, make_image, prediction_client, service_error, training_client


def test_classify_image(predictor: CustomVisionPredictionClient, published: dict[str, Any]) -> None:
    project = published["project"]
    result = predictor.classify_image(
        project.id, published["publish_name"], io.BytesIO(make_image(PALETTE["red"]))
    )
    assert result.project == project.id
    assert result.iteration == published["iteration"].id
    assert result.created.tzinfo is not None
    assert next(p.tag_name for p in result.predictions) == "red"
    probabilities = [p.probability for p in result.predictions]
    assert probabilities == sorted(probabilities, reverse=True)
    assert {p.tag_type for p in result.predictions} == {"Regular"}


def test_classify_image_with_no_store(
    trainer: CustomVisionTrainingClient,
    predictor: CustomVisionPredictionClient,
    published: dict[str, Any],
) -> None:
    project = published["project"]
    result = predictor.classify_image_with_no_store(
        project.id, published["publish_name"], io.BytesIO(make_image(PALETTE["blue"]))
    )
    assert result.predictions[0].tag_name == "blue"
    assert trainer.query_predictions(project.id, PredictionQueryToken()).results == []


def test_classify_image_url_and_stored_predictions(
    trainer: CustomVisionTrainingClient,
    predictor: CustomVisionPredictionClient,
    published: dict[str, Any],
) -> None:
    project, name = published["project"], published["publish_name"]
    url = trainer.get_tagged_images(project.id, tag_ids=[published["red"].id])[0].original_image_uri
    stored = predictor.classify_image_url(project.id, name, url)
    assert stored.predictions[0].tag_name == "red"
    assert predictor.classify_image_url_with_no_store(project.id, name, url).predictions
    other = predictor.classify_image(project.id, name, io.BytesIO(make_image(PALETTE["blue"])))

    everything = trainer.query_predictions(project.id, PredictionQueryToken())
    assert [r.id for r in everything.results] == [other.id, stored.id]  # newest first
    red = PredictionQueryTag(id=published["red"].id, min_threshold=0.5, max_threshold=1.0)
    only_red = trainer.query_predictions(project.id, PredictionQueryToken(tags=[red]))
    assert [r.id for r in only_red.results] == [stored.id]
    page = trainer.query_predictions(project.id, PredictionQueryToken(max_count=1))
    assert len(page.results) == 1 and page.token.continuation
    rest = trainer.query_predictions(project.id, page.token)
    assert [r.id for r in rest.results] == [stored.id]

    summary = trainer.create_images_from_predictions(
        project.id,
        ImageIdCreateBatch(
            images=[ImageIdCreateEntry(id=other.id)], tag_ids=[published["blue"].id]
        ),
    )
    assert summary.images[0].status == "OK"
    trainer.delete_prediction(project.id, [stored.id])
    assert [
        r.id for r in trainer.query_predictions(project.id, PredictionQueryToken()).results
    ] == [other.id]


def test_query_predictions__three_tags(
    trainer: CustomVisionTrainingClient, project: Project
) -> None:
    tags = [PredictionQueryTag(id=f"00000000-0000-0000-0000-00000000000{i}") for i in range(3)]
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.query_predictions(project.id, PredictionQueryToken(tags=tags))
    assert service_error(excinfo)[1] == "BadRequestPredictionTagsExceededCount"


def test_delete_prediction__limits(trainer: CustomVisionTrainingClient, project: Project) -> None:
    ids = [f"00000000-0000-0000-0000-{i:012d}" for i in range(65)]
    trainer.delete_prediction(project.id, ids[:64])
    from msrest.exceptions import ValidationError

    with pytest.raises(ValidationError):  # the SDK itself refuses more than 64
        trainer.delete_prediction(project.id, ids)


def test_classify__unknown_publish_name(
    predictor: CustomVisionPredictionClient, published: dict[str, Any]
) -> None:
    with pytest.raises(PredictionError) as excinfo:
        predictor.classify_image(published["project"].id, "nope", io.BytesIO(make_image()))
    assert service_error(excinfo) == (404, "NotFoundIteration", "Invalid iteration")


def test_classify__image_over_4mb(
    predictor: CustomVisionPredictionClient, published: dict[str, Any]
) -> None:
    png = make_image()
    data = png + b"\x00" * (4 * 1024 * 1024 + 1 - len(png))
    with pytest.raises(PredictionError) as excinfo:
        predictor.classify_image(
            published["project"].id, published["publish_name"], io.BytesIO(data)
        )
    assert service_error(excinfo)[:2] == (400, "BadRequestImageSizeBytes")


def test_prediction_key_reaches_only_its_resource(
    server: EmulatorServer, trainer: CustomVisionTrainingClient, trained: dict[str, Any]
) -> None:
    project, iteration = trained["project"], trained["iteration"]
    other_id, other_key = server.add_prediction_resource()
    trainer.publish_iteration(project.id, iteration.id, "elsewhere", other_id)
    image = make_image(PALETTE["red"])
    with pytest.raises(PredictionError) as excinfo:
        prediction_client(server).classify_image(project.id, "elsewhere", io.BytesIO(image))
    assert service_error(excinfo)[:2] == (404, "NotFoundIteration")
    result = prediction_client(server, other_key).classify_image(
        project.id, "elsewhere", io.BytesIO(image)
    )
    assert result.iteration == iteration.id


def test_wrong_keys_get_gateway_401(server: EmulatorServer, published: dict[str, Any]) -> None:
    with pytest.raises(CustomVisionErrorException) as excinfo:
        training_client(server, "wrong").get_projects()
    assert excinfo.value.response.status_code == 401
    body = excinfo.value.response.json()
    assert body["error"]["code"] == "401"
    assert body["error"]["message"].startswith("Access denied due to invalid subscription key")
    with pytest.raises(PredictionError) as refused:
        prediction_client(server, server.training_key).classify_image(
            published["project"].id, published["publish_name"], io.BytesIO(make_image())
        )
    assert refused.value.response.status_code == 401
    missing = requests.get(
        server.training_endpoint + "/customvision/v3.4-preview/training/projects"
    )
    assert missing.status_code == 401


@pytest.mark.parametrize("header", ["Training-Key", "training-key", "TRAINING-KEY", "Training-key"])
def test_key_header_case_insensitive(server: EmulatorServer, header: str) -> None:
    url = server.training_endpoint + "/customvision/v3.4-preview/training/domains"
    assert requests.get(url, headers={header: server.training_key}).status_code == 200


def test_quick_test_image_and_url(
    trainer: CustomVisionTrainingClient, trained: dict[str, Any]
) -> None:
    project, iteration = trained["project"], trained["iteration"]
    result = trainer.quick_test_image(project.id, io.BytesIO(make_image(PALETTE["blue"])))
    assert result.iteration == iteration.id
    assert result.predictions[0].tag_name == "blue"
    url = trainer.get_tagged_images(project.id, tag_ids=[trained["red"].id])[0].original_image_uri
    by_url = trainer.quick_test_image_url(project.id, url, iteration_id=iteration.id, store=False)
    assert by_url.predictions[0].tag_name == "red"
    stored = trainer.query_predictions(project.id, PredictionQueryToken()).results
    assert [r.id for r in stored] == [result.id]


def test_quick_test__no_trained_iteration(
    trainer: CustomVisionTrainingClient, project: Project
) -> None:
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.quick_test_image(project.id, io.BytesIO(make_image()))
    assert service_error(excinfo)[:2] == (404, "NotFoundProjectDefaultIteration")


def test_export_and_import_project(
    trainer: CustomVisionTrainingClient, trained: dict[str, Any]
) -> None:
    project = trained["project"]
    export = trainer.export_project(project.id)
    assert (export.image_count, export.tag_count, export.iteration_count) == (12, 2, 1)
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.import_project("not-a-token")
    assert service_error(excinfo)[1] == "BadRequestInvalidImportToken"
    copy = trainer.import_project(export.token, name=project.name + " copy")
    try:
        assert copy.name == project.name + " copy"
        assert copy.settings.classification_type == "Multiclass"
        assert {t.name: t.image_count for t in trainer.get_tags(copy.id)} == {"red": 6, "blue": 6}
    finally:
        trainer.delete_project(copy.id)


def test_detection_only_operations(
    server: EmulatorServer, trainer: CustomVisionTrainingClient, project: Project
) -> None:
    from azure.cognitiveservices.vision.customvision.training.models import (
        ImageRegionCreateEntry,
    )

    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.create_image_regions(
            project.id,
            [
                ImageRegionCreateEntry(
                    image_id=str(project.id),
                    tag_id=str(project.id),
                    left=0,
                    top=0,
                    width=1,
                    height=1,
                )
            ],
        )
    assert service_error(excinfo)[:2] == (400, "BadRequestOperationNotSupported")
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.get_image_region_proposals(project.id, project.id)
    assert service_error(excinfo)[1] == "BadRequestOperationNotSupported"
    with pytest.raises(PredictionError) as detected:
        prediction_client(server).detect_image(project.id, "x", io.BytesIO(make_image()))
    assert service_error(detected)[1] == "BadRequestOperationNotSupported"


def test_unmatched_route_is_a_service_error(server: EmulatorServer) -> None:
    response = requests.get(
        server.training_endpoint + "/customvision/v3.4-preview/training/nothing/here",
        headers={"Training-Key": server.training_key},
    )
    assert response.status_code == 404
    assert set(response.json()) == {"code", "message"}


@pytest.mark.parametrize(
    ("path", "header"),
    [
        ("/customvision/v3.3/training/domains", "Training-Key"),
        ("/customvision/v3.0/training/domains", "Training-Key"),
    ],
)
def test_older_api_versions_are_served(server: EmulatorServer, path: str, header: str) -> None:
    response = requests.get(server.training_endpoint + path, headers={header: server.training_key})
    assert response.status_code == 200
    assert len(response.json()) >= 14


def test_older_prediction_version(server: EmulatorServer, published: dict[str, Any]) -> None:
    path = (
        f"/customvision/v3.0/prediction/{published['project'].id}/classify/iterations/"
        f"{published['publish_name']}/image"
    )
    response = requests.post(
        server.prediction_endpoint + path,
        headers={"Prediction-Key": server.prediction_key},
        files={"imageData": ("x.png", make_image(PALETTE["red"]))},
    )
    assert response.status_code == 200
    assert response.json()["predictions"][0]["tagName"] == "red"


def _detection_calls(
    trainer: CustomVisionTrainingClient, predictor: CustomVisionPredictionClient, project_id: Any
) -> dict[str, Any]:
    from azure.cognitiveservices.vision.customvision.training.models import (
        SuggestedTagAndRegionQueryToken,
    )

    some_id = "00000000-0000-0000-0000-000000000001"
    return {
        "delete_image_regions": lambda: trainer.delete_image_regions(project_id, [some_id]),
        "query_suggested_images": lambda: trainer.query_suggested_images(
            project_id, some_id, SuggestedTagAndRegionQueryToken()
        ),
        "query_suggested_image_count": lambda: trainer.query_suggested_image_count(
            project_id, some_id, tag_ids=[some_id]
        ),
        "suggest_tags_and_regions": lambda: trainer.suggest_tags_and_regions(
            project_id, some_id, [some_id]
        ),
        "get_artifact": lambda: trainer.get_artifact(project_id, "x"),
        "detect_image_with_no_store": lambda: predictor.detect_image_with_no_store(
            project_id, "x", io.BytesIO(make_image())
        ),
        "detect_image_url": lambda: predictor.detect_image_url(project_id, "x", "http://x/y"),
        "detect_image_url_with_no_store": lambda: predictor.detect_image_url_with_no_store(
            project_id, "x", "http://x/y"
        ),
    }


@pytest.mark.parametrize(
    "operation",
    [
        "delete_image_regions",
        "query_suggested_images",
        "query_suggested_image_count",
        "suggest_tags_and_regions",
        "get_artifact",
        "detect_image_with_no_store",
        "detect_image_url",
        "detect_image_url_with_no_store",
    ],
)
def test_more_detection_only_operations(
    trainer: CustomVisionTrainingClient,
    predictor: CustomVisionPredictionClient,
    project: Project,
    operation: str,
) -> None:
    from msrest.exceptions import HttpOperationError

    call = _detection_calls(trainer, predictor, project.id)[operation]
    # get_artifact streams, so the SDK raises a plain HttpOperationError for it
    with pytest.raises((CustomVisionErrorException, PredictionError, HttpOperationError)) as exc:
        call()
    assert exc.value.response.status_code == 400
    assert exc.value.response.json()["code"] == "BadRequestOperationNotSupported"
