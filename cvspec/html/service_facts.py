"""What `cvspec plan --format html` reads from the service beside the plan: the live image
count of each tag, the evaluations of the published and the new iteration, and thumbnails of
images that only the service has (the ones a plan deletes). Read-only calls, through the
official SDK and the endpoint's rate limit."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import requests

from cvspec import ops
from cvspec.errors import ServiceError
from cvspec.gates import evaluation_from_sdk
from cvspec.html.report import EvaluationColumn
from cvspec.html.thumbs import thumbnail_uri
from cvspec.plan import DriftKind, Plan
from cvspec.sdk import call
from cvspec.service import Service

IDS_PER_CALL = 256  # GetImagesByIds takes at most 256 ids
DOWNLOAD_TIMEOUT = 30.0  # seconds


def _project_id(plan: Plan) -> str | None:
    return plan.live_summary.project_id if plan.live_summary is not None else None


def tag_counts_before(service: Service, plan: Plan) -> dict[str, int]:
    """The image count of every tag of the live project (none before the project exists)."""
    project_id = _project_id(plan)
    if project_id is None:
        return {}
    return {t.name: int(t.image_count or 0) for t in call(service.training.get_tags, project_id)}


def evaluation_columns(
    service: Service, plan: Plan, publish_name: str | None, threshold: float
) -> list[EvaluationColumn]:
    """The new iteration (the one the plan publishes) and the published one, side by side."""
    project_id = _project_id(plan)
    found = call(service.training.get_iterations, project_id) if project_id else []
    iterations = {i.name: i for i in found}
    published = next(
        (i for i in iterations.values() if publish_name and i.publish_name == publish_name), None
    )
    columns = [_new_column(service, plan, project_id or "", iterations, threshold)]
    if published is None:
        note = f"nothing is published as {publish_name!r}" if publish_name else "no publish name"
        columns.append(EvaluationColumn("Published", None, note))
    else:
        title = f"Published: {published.name} as {publish_name!r}"
        columns.append(_column(service, project_id or "", published, title, threshold))
    return columns


def _new_column(
    service: Service, plan: Plan, project_id: str, iterations: Mapping[str, Any], threshold: float
) -> EvaluationColumn:
    trains = [op for op in plan.of_type(ops.Train) if not op.wait_only]
    if trains:
        name = trains[0].iteration_name
        return EvaluationColumn(f"New: {name}", None, "trained by apply; not evaluated yet")
    for op in plan.of_type(ops.Publish):
        # an iteration that failed other gates has a recorded name until it passes
        found = iterations.get(op.recorded_failure) or iterations.get(op.iteration_name)
        if found is not None:
            title = f"New: {op.iteration_name} (trained, to publish)"
            return _column(service, project_id, found, title, threshold)
    for drift in plan.drift:
        name = drift.address.removeprefix("iteration.")
        if drift.kind is DriftKind.GATES_FAILED and name in iterations:
            title = f"Failed the gates: {name} (not published)"
            return _column(service, project_id, iterations[name], title, threshold)
    return EvaluationColumn("New", None, "the plan trains and publishes no new iteration")


def _column(
    service: Service, project_id: str, iteration: Any, title: str, threshold: float
) -> EvaluationColumn:
    if iteration.status != "Completed":
        return EvaluationColumn(title, None, f"status {iteration.status}: no evaluation")
    perf = call(
        service.training.get_iteration_performance, project_id, iteration.id, threshold=threshold
    )
    return EvaluationColumn(title, evaluation_from_sdk(iteration.name, threshold, perf))


def thumbnail_fetcher(service: Service, plan: Plan) -> Any:
    """A cvspec.html.report.ThumbnailFetcher reading the service's thumbnails of images."""
    project_id = _project_id(plan)

    def fetch(image_ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        if project_id is None:
            return found
        for start in range(0, len(image_ids), IDS_PER_CALL):
            batch = list(image_ids[start : start + IDS_PER_CALL])
            try:
                images = call(service.training.get_images_by_ids, project_id, image_ids=batch)
            except ServiceError:
                continue  # a placeholder tile is shown
            for image in images:
                uri = _download(image.thumbnail_uri) if image.thumbnail_uri else None
                if uri:
                    found[image.id] = uri
        return found

    return fetch


def _download(url: str) -> str | None:
    """The thumbnail at `url` (a blob URL that may carry a SAS token: never shown)."""
    try:
        answer = requests.get(url, timeout=DOWNLOAD_TIMEOUT)
        answer.raise_for_status()
    except requests.RequestException:
        return None
    return thumbnail_uri(io.BytesIO(answer.content))
