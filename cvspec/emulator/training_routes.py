"""Training API v3.4-preview: HTTP requests to backend calls and back. No business rules."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cvspec.emulator import exceptions as exc
from cvspec.emulator.http import (
    arg,
    backend_of,
    call,
    image_files,
    json_response,
    no_content,
    single_image,
)
from cvspec.emulator.validation import validated

PREFIX = "/customvision/v3.4-preview/training"


# -- domains and projects ---------------------------------------------------------------


async def get_domains(request: Request) -> Response:
    return json_response(await call(backend_of(request).get_domains))


async def get_domain(request: Request) -> Response:
    return json_response(await call(backend_of(request).get_domain, arg(request, "domainId")))


async def get_projects(request: Request) -> Response:
    return json_response(await call(backend_of(request).get_projects))


async def create_project(request: Request) -> Response:
    result = await call(
        backend_of(request).create_project,
        arg(request, "name"),
        arg(request, "description"),
        arg(request, "domainId"),
        arg(request, "classificationType"),
        arg(request, "targetExportPlatforms", []),
        arg(request, "options"),
    )
    return json_response(result)


async def get_project(request: Request) -> Response:
    return json_response(await call(backend_of(request).get_project, arg(request, "projectId")))


async def update_project(request: Request) -> Response:
    result = await call(
        backend_of(request).update_project,
        arg(request, "projectId"),
        arg(request, "updatedProject"),
    )
    return json_response(result)


async def delete_project(request: Request) -> Response:
    await call(backend_of(request).delete_project, arg(request, "projectId"))
    return no_content()


async def export_project(request: Request) -> Response:
    return json_response(await call(backend_of(request).export_project, arg(request, "projectId")))


async def import_project(request: Request) -> Response:
    result = await call(
        backend_of(request).import_project, arg(request, "token"), arg(request, "name")
    )
    return json_response(result)


# -- tags -------------------------------------------------------------------------------


async def get_tags(request: Request) -> Response:
    result = await call(
        backend_of(request).get_tags, arg(request, "projectId"), arg(request, "iterationId")
    )
    return json_response(result)


async def create_tag(request: Request) -> Response:
    result = await call(
        backend_of(request).create_tag,
        arg(request, "projectId"),
        arg(request, "name"),
        arg(request, "description"),
        arg(request, "type"),
    )
    return json_response(result)


async def get_tag(request: Request) -> Response:
    result = await call(
        backend_of(request).get_tag,
        arg(request, "projectId"),
        arg(request, "tagId"),
        arg(request, "iterationId"),
    )
    return json_response(result)


async def update_tag(request: Request) -> Response:
    result = await call(
        backend_of(request).update_tag,
        arg(request, "projectId"),
        arg(request, "tagId"),
        arg(request, "updatedTag"),
    )
    return json_response(result)


async def delete_tag(request: Request) -> Response:
    await call(backend_of(request).delete_tag, arg(request, "projectId"), arg(request, "tagId"))
    return no_content()


# -- images -----------------------------------------------------------------------------


async def get_images(request: Request) -> Response:
    result = await call(
        backend_of(request).get_images,
        arg(request, "projectId"),
        arg(request, "iterationId"),
        arg(request, "tagIds", []),
        arg(request, "taggingStatus"),
        arg(request, "$filter"),
        arg(request, "orderBy"),
        arg(request, "take"),
        arg(request, "skip"),
    )
    return json_response(result)


async def create_images_from_data(request: Request) -> Response:
    files = await image_files(request)
    outcome = await call(
        backend_of(request).create_images_from_data,
        arg(request, "projectId"),
        files,
        arg(request, "tagIds", []),
    )
    return json_response(outcome.body, outcome.status)


async def create_images_from_files(request: Request) -> Response:
    outcome = await call(
        backend_of(request).create_images_from_files,
        arg(request, "projectId"),
        arg(request, "batch"),
    )
    return json_response(outcome.body, outcome.status)


async def create_images_from_urls(request: Request) -> Response:
    outcome = await call(
        backend_of(request).create_images_from_urls,
        arg(request, "projectId"),
        arg(request, "batch"),
    )
    return json_response(outcome.body, outcome.status)


async def create_images_from_predictions(request: Request) -> Response:
    outcome = await call(
        backend_of(request).create_images_from_predictions,
        arg(request, "projectId"),
        arg(request, "batch"),
    )
    return json_response(outcome.body, outcome.status)


async def delete_images(request: Request) -> Response:
    all_images = arg(request, "allImages", False)
    all_iterations = arg(request, "allIterations", False)
    await call(
        backend_of(request).delete_images,
        arg(request, "projectId"),
        arg(request, "imageIds", []),
        all_images,
        all_iterations,
    )
    return no_content(202 if all_images or all_iterations else 204)


async def get_image_count(request: Request) -> Response:
    result = await call(
        backend_of(request).get_image_count,
        arg(request, "projectId"),
        arg(request, "iterationId"),
        arg(request, "taggingStatus"),
        arg(request, "$filter"),
        arg(request, "tagIds", []),
    )
    return json_response(result)


async def get_images_by_ids(request: Request) -> Response:
    result = await call(
        backend_of(request).get_images_by_ids,
        arg(request, "projectId"),
        arg(request, "imageIds", []),
        arg(request, "iterationId"),
    )
    return json_response(result)


async def update_image_metadata(request: Request) -> Response:
    outcome = await call(
        backend_of(request).update_image_metadata,
        arg(request, "projectId"),
        arg(request, "imageIds", []),
        arg(request, "metadata"),
    )
    return json_response(outcome.body, outcome.status)


async def get_tagged_images(request: Request) -> Response:
    result = await call(
        backend_of(request).get_tagged_images,
        arg(request, "projectId"),
        arg(request, "iterationId"),
        arg(request, "tagIds", []),
        arg(request, "orderBy"),
        arg(request, "take"),
        arg(request, "skip"),
    )
    return json_response(result)


async def get_tagged_image_count(request: Request) -> Response:
    result = await call(
        backend_of(request).get_tagged_image_count,
        arg(request, "projectId"),
        arg(request, "iterationId"),
        arg(request, "tagIds", []),
    )
    return json_response(result)


async def get_untagged_images(request: Request) -> Response:
    result = await call(
        backend_of(request).get_untagged_images,
        arg(request, "projectId"),
        arg(request, "iterationId"),
        arg(request, "orderBy"),
        arg(request, "take"),
        arg(request, "skip"),
    )
    return json_response(result)


async def get_untagged_image_count(request: Request) -> Response:
    result = await call(
        backend_of(request).get_untagged_image_count,
        arg(request, "projectId"),
        arg(request, "iterationId"),
    )
    return json_response(result)


async def create_image_tags(request: Request) -> Response:
    result = await call(
        backend_of(request).create_image_tags, arg(request, "projectId"), arg(request, "batch")
    )
    return json_response(result)


async def delete_image_tags(request: Request) -> Response:
    await call(
        backend_of(request).delete_image_tags,
        arg(request, "projectId"),
        arg(request, "imageIds", []),
        arg(request, "tagIds", []),
    )
    return no_content()


# -- iterations -------------------------------------------------------------------------


async def train_project(request: Request) -> Response:
    result = await call(
        backend_of(request).train_project,
        arg(request, "projectId"),
        arg(request, "trainingType"),
        arg(request, "reservedBudgetInHours"),
        arg(request, "forceTrain", False),
        arg(request, "notificationEmailAddress"),
        arg(request, "trainingParameters"),
    )
    return json_response(result)


async def get_iterations(request: Request) -> Response:
    return json_response(await call(backend_of(request).get_iterations, arg(request, "projectId")))


async def get_iteration(request: Request) -> Response:
    result = await call(
        backend_of(request).get_iteration, arg(request, "projectId"), arg(request, "iterationId")
    )
    return json_response(result)


async def update_iteration(request: Request) -> Response:
    result = await call(
        backend_of(request).update_iteration,
        arg(request, "projectId"),
        arg(request, "iterationId"),
        arg(request, "updatedIteration"),
    )
    return json_response(result)


async def delete_iteration(request: Request) -> Response:
    await call(
        backend_of(request).delete_iteration,
        arg(request, "projectId"),
        arg(request, "iterationId"),
    )
    return no_content()


async def publish_iteration(request: Request) -> Response:
    result = await call(
        backend_of(request).publish_iteration,
        arg(request, "projectId"),
        arg(request, "iterationId"),
        arg(request, "publishName"),
        arg(request, "predictionId"),
        arg(request, "overwrite", False),
    )
    return json_response(result)


async def unpublish_iteration(request: Request) -> Response:
    await call(
        backend_of(request).unpublish_iteration,
        arg(request, "projectId"),
        arg(request, "iterationId"),
    )
    return no_content()


async def get_iteration_performance(request: Request) -> Response:
    result = await call(
        backend_of(request).get_iteration_performance,
        arg(request, "projectId"),
        arg(request, "iterationId"),
        arg(request, "threshold", 0.5),
        arg(request, "overlapThreshold", 0.3),
    )
    return json_response(result)


async def get_image_performances(request: Request) -> Response:
    result = await call(
        backend_of(request).get_image_performances,
        arg(request, "projectId"),
        arg(request, "iterationId"),
        arg(request, "tagIds", []),
        arg(request, "orderBy"),
        arg(request, "take"),
        arg(request, "skip"),
    )
    return json_response(result)


async def get_image_performance_count(request: Request) -> Response:
    result = await call(
        backend_of(request).get_image_performance_count,
        arg(request, "projectId"),
        arg(request, "iterationId"),
        arg(request, "tagIds", []),
    )
    return json_response(result)


async def export_iteration(request: Request) -> Response:
    result = await call(
        backend_of(request).export_iteration,
        arg(request, "projectId"),
        arg(request, "iterationId"),
        arg(request, "platform") or "",
        arg(request, "flavor"),
    )
    return json_response(result)


async def get_exports(request: Request) -> Response:
    result = await call(
        backend_of(request).get_exports, arg(request, "projectId"), arg(request, "iterationId")
    )
    return json_response(result)


# -- predictions and quick test ---------------------------------------------------------


async def quick_test_image(request: Request) -> Response:
    data = await single_image(request)
    result = await call(
        backend_of(request).quick_test_image,
        arg(request, "projectId"),
        data,
        arg(request, "iterationId"),
        arg(request, "store", True),
    )
    return json_response(result)


async def quick_test_image_url(request: Request) -> Response:
    result = await call(
        backend_of(request).quick_test_image_url,
        arg(request, "projectId"),
        arg(request, "imageUrl")["url"],
        arg(request, "iterationId"),
        arg(request, "store", True),
    )
    return json_response(result)


async def query_predictions(request: Request) -> Response:
    result = await call(
        backend_of(request).query_predictions, arg(request, "projectId"), arg(request, "query")
    )
    return json_response(result)


async def delete_prediction(request: Request) -> Response:
    await call(
        backend_of(request).delete_prediction, arg(request, "projectId"), arg(request, "ids", [])
    )
    return no_content()


# -- object detection only --------------------------------------------------------------


def detection_only(operation: str) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        await call(backend_of(request).get_project, arg(request, "projectId"))
        raise exc.not_supported_for_classification(operation)

    return handler


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
ROUTES = validated(ROUTES, "training", PREFIX)
