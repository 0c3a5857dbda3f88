"""Training API v3.4-preview: HTTP requests to backend calls and back. No business rules."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cvspec.emulator import exceptions as exc
from cvspec.emulator.http import (
    backend_of,
    call,
    image_files,
    json_body,
    json_response,
    no_content,
    path,
    query,
    query_bool,
    query_float,
    query_ids,
    query_int,
    single_image,
)

PREFIX = "/customvision/v3.4-preview/training"


# -- domains and projects ---------------------------------------------------------------


async def get_domains(request: Request) -> Response:
    return json_response(await call(backend_of(request).get_domains))


async def get_domain(request: Request) -> Response:
    return json_response(await call(backend_of(request).get_domain, path(request, "domainId")))


async def get_projects(request: Request) -> Response:
    return json_response(await call(backend_of(request).get_projects))


async def create_project(request: Request) -> Response:
    options = await json_body(request)
    platforms = query(request, "targetExportPlatforms")
    result = await call(
        backend_of(request).create_project,
        query(request, "name"),
        query(request, "description"),
        query(request, "domainId"),
        query(request, "classificationType"),
        [p for p in (platforms or "").split(",") if p],
        options if isinstance(options, dict) else None,
    )
    return json_response(result)


async def get_project(request: Request) -> Response:
    return json_response(await call(backend_of(request).get_project, path(request, "projectId")))


async def update_project(request: Request) -> Response:
    body = await json_body(request, required=True)
    result = await call(
        backend_of(request).update_project, path(request, "projectId"), _object(body)
    )
    return json_response(result)


async def delete_project(request: Request) -> Response:
    await call(backend_of(request).delete_project, path(request, "projectId"))
    return no_content()


async def export_project(request: Request) -> Response:
    return json_response(await call(backend_of(request).export_project, path(request, "projectId")))


async def import_project(request: Request) -> Response:
    result = await call(
        backend_of(request).import_project, query(request, "token"), query(request, "name")
    )
    return json_response(result)


# -- tags -------------------------------------------------------------------------------


async def get_tags(request: Request) -> Response:
    result = await call(
        backend_of(request).get_tags, path(request, "projectId"), query(request, "iterationId")
    )
    return json_response(result)


async def create_tag(request: Request) -> Response:
    result = await call(
        backend_of(request).create_tag,
        path(request, "projectId"),
        query(request, "name"),
        query(request, "description"),
        query(request, "type"),
    )
    return json_response(result)


async def get_tag(request: Request) -> Response:
    result = await call(
        backend_of(request).get_tag,
        path(request, "projectId"),
        path(request, "tagId"),
        query(request, "iterationId"),
    )
    return json_response(result)


async def update_tag(request: Request) -> Response:
    body = await json_body(request, required=True)
    result = await call(
        backend_of(request).update_tag,
        path(request, "projectId"),
        path(request, "tagId"),
        _object(body),
    )
    return json_response(result)


async def delete_tag(request: Request) -> Response:
    await call(backend_of(request).delete_tag, path(request, "projectId"), path(request, "tagId"))
    return no_content()


# -- images -----------------------------------------------------------------------------


async def get_images(request: Request) -> Response:
    result = await call(
        backend_of(request).get_images,
        path(request, "projectId"),
        query(request, "iterationId"),
        query_ids(request, "tagIds"),
        query(request, "taggingStatus"),
        query(request, "$filter"),
        query(request, "orderBy"),
        query_int(request, "take", 50),
        query_int(request, "skip", 0),
    )
    return json_response(result)


async def create_images_from_data(request: Request) -> Response:
    files = await image_files(request)
    outcome = await call(
        backend_of(request).create_images_from_data,
        path(request, "projectId"),
        files,
        query_ids(request, "tagIds"),
    )
    return json_response(outcome.body, outcome.status)


async def create_images_from_files(request: Request) -> Response:
    batch = await json_body(request, required=True)
    outcome = await call(
        backend_of(request).create_images_from_files, path(request, "projectId"), _object(batch)
    )
    return json_response(outcome.body, outcome.status)


async def create_images_from_urls(request: Request) -> Response:
    batch = await json_body(request, required=True)
    outcome = await call(
        backend_of(request).create_images_from_urls, path(request, "projectId"), _object(batch)
    )
    return json_response(outcome.body, outcome.status)


async def create_images_from_predictions(request: Request) -> Response:
    batch = await json_body(request, required=True)
    outcome = await call(
        backend_of(request).create_images_from_predictions,
        path(request, "projectId"),
        _object(batch),
    )
    return json_response(outcome.body, outcome.status)


async def delete_images(request: Request) -> Response:
    all_images = query_bool(request, "allImages")
    all_iterations = query_bool(request, "allIterations")
    await call(
        backend_of(request).delete_images,
        path(request, "projectId"),
        query_ids(request, "imageIds"),
        all_images,
        all_iterations,
    )
    return no_content(202 if all_images or all_iterations else 204)


async def get_image_count(request: Request) -> Response:
    result = await call(
        backend_of(request).get_image_count,
        path(request, "projectId"),
        query(request, "iterationId"),
        query(request, "taggingStatus"),
        query(request, "$filter"),
        query_ids(request, "tagIds"),
    )
    return json_response(result)


async def get_images_by_ids(request: Request) -> Response:
    result = await call(
        backend_of(request).get_images_by_ids,
        path(request, "projectId"),
        query_ids(request, "imageIds"),
        query(request, "iterationId"),
    )
    return json_response(result)


async def update_image_metadata(request: Request) -> Response:
    metadata = await json_body(request, required=True)
    outcome = await call(
        backend_of(request).update_image_metadata,
        path(request, "projectId"),
        query_ids(request, "imageIds"),
        _object(metadata),
    )
    return json_response(outcome.body, outcome.status)


async def get_tagged_images(request: Request) -> Response:
    result = await call(
        backend_of(request).get_tagged_images,
        path(request, "projectId"),
        query(request, "iterationId"),
        query_ids(request, "tagIds"),
        query(request, "orderBy"),
        query_int(request, "take", 50),
        query_int(request, "skip", 0),
    )
    return json_response(result)


async def get_tagged_image_count(request: Request) -> Response:
    result = await call(
        backend_of(request).get_tagged_image_count,
        path(request, "projectId"),
        query(request, "iterationId"),
        query_ids(request, "tagIds"),
    )
    return json_response(result)


async def get_untagged_images(request: Request) -> Response:
    result = await call(
        backend_of(request).get_untagged_images,
        path(request, "projectId"),
        query(request, "iterationId"),
        query(request, "orderBy"),
        query_int(request, "take", 50),
        query_int(request, "skip", 0),
    )
    return json_response(result)


async def get_untagged_image_count(request: Request) -> Response:
    result = await call(
        backend_of(request).get_untagged_image_count,
        path(request, "projectId"),
        query(request, "iterationId"),
    )
    return json_response(result)


async def create_image_tags(request: Request) -> Response:
    batch = await json_body(request, required=True)
    result = await call(
        backend_of(request).create_image_tags, path(request, "projectId"), _object(batch)
    )
    return json_response(result)


async def delete_image_tags(request: Request) -> Response:
    await call(
        backend_of(request).delete_image_tags,
        path(request, "projectId"),
        query_ids(request, "imageIds"),
        query_ids(request, "tagIds"),
    )
    return no_content()


# -- iterations -------------------------------------------------------------------------


async def train_project(request: Request) -> Response:
    parameters = await json_body(request)
    result = await call(
        backend_of(request).train_project,
        path(request, "projectId"),
        query(request, "trainingType"),
        query_int(request, "reservedBudgetInHours", 0),
        query_bool(request, "forceTrain"),
        query(request, "notificationEmailAddress"),
        parameters if isinstance(parameters, dict) else None,
    )
    return json_response(result)


async def get_iterations(request: Request) -> Response:
    return json_response(await call(backend_of(request).get_iterations, path(request, "projectId")))


async def get_iteration(request: Request) -> Response:
    result = await call(
        backend_of(request).get_iteration, path(request, "projectId"), path(request, "iterationId")
    )
    return json_response(result)


async def update_iteration(request: Request) -> Response:
    body = await json_body(request, required=True)
    result = await call(
        backend_of(request).update_iteration,
        path(request, "projectId"),
        path(request, "iterationId"),
        _object(body),
    )
    return json_response(result)


async def delete_iteration(request: Request) -> Response:
    await call(
        backend_of(request).delete_iteration,
        path(request, "projectId"),
        path(request, "iterationId"),
    )
    return no_content()


async def publish_iteration(request: Request) -> Response:
    result = await call(
        backend_of(request).publish_iteration,
        path(request, "projectId"),
        path(request, "iterationId"),
        query(request, "publishName"),
        query(request, "predictionId"),
        query_bool(request, "overwrite"),
    )
    return json_response(result)


async def unpublish_iteration(request: Request) -> Response:
    await call(
        backend_of(request).unpublish_iteration,
        path(request, "projectId"),
        path(request, "iterationId"),
    )
    return no_content()


async def get_iteration_performance(request: Request) -> Response:
    result = await call(
        backend_of(request).get_iteration_performance,
        path(request, "projectId"),
        path(request, "iterationId"),
        query_float(request, "threshold", 0.5),
        query_float(request, "overlapThreshold", 0.3),
    )
    return json_response(result)


async def get_image_performances(request: Request) -> Response:
    result = await call(
        backend_of(request).get_image_performances,
        path(request, "projectId"),
        path(request, "iterationId"),
        query_ids(request, "tagIds"),
        query(request, "orderBy"),
        query_int(request, "take", 50),
        query_int(request, "skip", 0),
    )
    return json_response(result)


async def get_image_performance_count(request: Request) -> Response:
    result = await call(
        backend_of(request).get_image_performance_count,
        path(request, "projectId"),
        path(request, "iterationId"),
        query_ids(request, "tagIds"),
    )
    return json_response(result)


async def export_iteration(request: Request) -> Response:
    result = await call(
        backend_of(request).export_iteration,
        path(request, "projectId"),
        path(request, "iterationId"),
        query(request, "platform") or "",
        query(request, "flavor"),
    )
    return json_response(result)


async def get_exports(request: Request) -> Response:
    result = await call(
        backend_of(request).get_exports, path(request, "projectId"), path(request, "iterationId")
    )
    return json_response(result)


# -- predictions and quick test ---------------------------------------------------------


async def quick_test_image(request: Request) -> Response:
    data = await single_image(request)
    result = await call(
        backend_of(request).quick_test_image,
        path(request, "projectId"),
        data,
        query(request, "iterationId"),
        query_bool(request, "store", True),
    )
    return json_response(result)


async def quick_test_image_url(request: Request) -> Response:
    body = _object(await json_body(request, required=True))
    result = await call(
        backend_of(request).quick_test_image_url,
        path(request, "projectId"),
        body.get("url"),
        query(request, "iterationId"),
        query_bool(request, "store", True),
    )
    return json_response(result)


async def query_predictions(request: Request) -> Response:
    body = await json_body(request, required=True)
    result = await call(
        backend_of(request).query_predictions, path(request, "projectId"), _object(body)
    )
    return json_response(result)


async def delete_prediction(request: Request) -> Response:
    await call(
        backend_of(request).delete_prediction, path(request, "projectId"), query_ids(request, "ids")
    )
    return no_content()


# -- object detection only --------------------------------------------------------------


def detection_only(operation: str) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        await call(backend_of(request).get_project, path(request, "projectId"))
        raise exc.not_supported_for_classification(operation)

    return handler


def _object(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise exc.bad_request("BadRequestInvalid", "The request body must be a JSON object.")
    return value


P = PREFIX + "/projects/{projectId}"
I = P + "/iterations/{iterationId}"  # noqa: E741

ROUTES = [
    Route(PREFIX + "/domains", get_domains, methods=["GET"]),
    Route(PREFIX + "/domains/{domainId}", get_domain, methods=["GET"]),
    Route(PREFIX + "/projects", get_projects, methods=["GET"]),
    Route(PREFIX + "/projects", create_project, methods=["POST"]),
    Route(PREFIX + "/projects/import", import_project, methods=["POST"]),
    Route(P, get_project, methods=["GET"]),
    Route(P, update_project, methods=["PATCH"]),
    Route(P, delete_project, methods=["DELETE"]),
    Route(P + "/artifacts", detection_only("GetArtifact"), methods=["GET"]),
    Route(P + "/export", export_project, methods=["GET"]),
    Route(P + "/images", get_images, methods=["GET"]),
    Route(P + "/images", create_images_from_data, methods=["POST"]),
    Route(P + "/images", delete_images, methods=["DELETE"]),
    Route(P + "/images/count", get_image_count, methods=["GET"]),
    Route(P + "/images/files", create_images_from_files, methods=["POST"]),
    Route(P + "/images/id", get_images_by_ids, methods=["GET"]),
    Route(P + "/images/metadata", update_image_metadata, methods=["POST"]),
    Route(P + "/images/predictions", create_images_from_predictions, methods=["POST"]),
    Route(P + "/images/regions", detection_only("CreateImageRegions"), methods=["POST"]),
    Route(P + "/images/regions", detection_only("DeleteImageRegions"), methods=["DELETE"]),
    Route(P + "/images/suggested", detection_only("QuerySuggestedImages"), methods=["POST"]),
    Route(
        P + "/images/suggested/count", detection_only("QuerySuggestedImageCount"), methods=["POST"]
    ),
    Route(P + "/images/tagged", get_tagged_images, methods=["GET"]),
    Route(P + "/images/tagged/count", get_tagged_image_count, methods=["GET"]),
    Route(P + "/images/tags", create_image_tags, methods=["POST"]),
    Route(P + "/images/tags", delete_image_tags, methods=["DELETE"]),
    Route(P + "/images/untagged", get_untagged_images, methods=["GET"]),
    Route(P + "/images/untagged/count", get_untagged_image_count, methods=["GET"]),
    Route(P + "/images/urls", create_images_from_urls, methods=["POST"]),
    Route(
        P + "/images/{imageId}/regionproposals",
        detection_only("GetImageRegionProposals"),
        methods=["POST"],
    ),
    Route(P + "/iterations", get_iterations, methods=["GET"]),
    Route(I, get_iteration, methods=["GET"]),
    Route(I, update_iteration, methods=["PATCH"]),
    Route(I, delete_iteration, methods=["DELETE"]),
    Route(I + "/export", get_exports, methods=["GET"]),
    Route(I + "/export", export_iteration, methods=["POST"]),
    Route(I + "/performance", get_iteration_performance, methods=["GET"]),
    Route(I + "/performance/images", get_image_performances, methods=["GET"]),
    Route(I + "/performance/images/count", get_image_performance_count, methods=["GET"]),
    Route(I + "/publish", publish_iteration, methods=["POST"]),
    Route(I + "/publish", unpublish_iteration, methods=["DELETE"]),
    Route(P + "/predictions", delete_prediction, methods=["DELETE"]),
    Route(P + "/predictions/query", query_predictions, methods=["POST"]),
    Route(P + "/quicktest/image", quick_test_image, methods=["POST"]),
    Route(P + "/quicktest/url", quick_test_image_url, methods=["POST"]),
    Route(P + "/tags", get_tags, methods=["GET"]),
    Route(P + "/tags", create_tag, methods=["POST"]),
    Route(P + "/tags/{tagId}", get_tag, methods=["GET"]),
    Route(P + "/tags/{tagId}", update_tag, methods=["PATCH"]),
    Route(P + "/tags/{tagId}", delete_tag, methods=["DELETE"]),
    Route(
        P + "/tagsandregions/suggestions", detection_only("SuggestTagsAndRegions"), methods=["POST"]
    ),
    Route(P + "/train", train_project, methods=["POST"]),
]
