"""Run a labelled test set through the Prediction API (ClassifyImageWithNoStore: the test
images are not stored in the project), a few calls at a time under the endpoint's rate limit
(cvspec.sdk), reporting progress. Each refused image is reported, not fatal."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from cvspec.errors import CvspecError, ServiceError
from cvspec.live import LiveIteration, LiveProject, find_project
from cvspec.scoring import Classified
from cvspec.sdk import call
from cvspec.service import Service
from cvspec.testset import LabelledImage, unknown_tags

WORKERS = 4  # calls in flight; the rate limiter keeps them under the tier's rate
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Refused:
    path: str
    message: str


@dataclass(frozen=True)
class Target:
    """What the test set is classified with."""

    project: LiveProject
    iteration: LiveIteration
    tags: tuple[str, ...]  # the project's tags, sorted


def find_target(
    service: Service, project_name: str, publish: str | None, iteration: str | None
) -> Target:
    """The project and the published iteration to classify with: the one named `iteration`
    (`--iteration`), else the one published as `publish` (the spec's publish name).

    Raises:
        CvspecError: no prediction endpoint, no project, nothing published.
    """
    if service.prediction is None:
        raise CvspecError(
            "no prediction endpoint: set CVSPEC_PREDICTION_ENDPOINT and CVSPEC_PREDICTION_KEY"
        )
    project = find_project(service, project_name)
    if project is None:
        raise CvspecError(f"project {project_name!r} does not exist; run `cvspec apply` first")
    iterations = [
        LiveIteration(
            id=i.id,
            name=i.name or "",
            status=i.status or "",
            created="",
            publish_name=i.publish_name or "",
            prediction_resource_id=i.original_publish_resource_id or "",
        )
        for i in call(service.training.get_iterations, project.id)
    ]
    tags = tuple(sorted(t.name for t in call(service.training.get_tags, project.id)))
    return Target(project, _pick(iterations, project_name, publish, iteration), tags)


def _pick(
    iterations: list[LiveIteration], project: str, publish: str | None, name: str | None
) -> LiveIteration:
    if name is not None:
        found = next((i for i in iterations if i.name == name), None)
        if found is None:
            known = ", ".join(sorted(i.name for i in iterations)) or "none"
            raise CvspecError(
                f"project {project!r} has no iteration {name!r} (iterations: {known})"
            )
        if not found.publish_name:
            raise CvspecError(
                f"iteration {name!r} is not published; the Prediction API classifies with "
                "published iterations only"
            )
        return found
    if publish is None:
        raise CvspecError("the spec publishes nothing (no `publish:` section); give --iteration")
    found = next((i for i in iterations if i.publish_name == publish), None)
    if found is None:
        raise CvspecError(
            f"nothing is published as {publish!r} in project {project!r}; run `cvspec apply` first"
        )
    return found


def check_labels(images: list[LabelledImage], target: Target) -> None:
    """Refuse a test set with labels the project does not have (one line)."""
    unknown = unknown_tags(images, set(target.tags))
    if unknown:
        raise CvspecError(
            f"the test set has tag(s) the project {target.project.name!r} does not have: "
            f"{', '.join(unknown)} (its tags: {', '.join(target.tags) or 'none'})"
        )


def classify_all(
    service: Service, target: Target, images: list[LabelledImage], progress: Progress
) -> tuple[list[Classified], list[Refused]]:
    """Classify every image; the answers in the images' order and the refused images."""
    assert service.prediction is not None
    method = service.prediction.classify_image_with_no_store
    publish = target.iteration.publish_name
    done = [0]
    lock = threading.Lock()
    progress(0, len(images))

    def one(image: LabelledImage) -> Classified | Refused:
        try:
            return _classify(method, target.project.id, publish, image)
        finally:
            with lock:
                done[0] += 1
                progress(done[0], len(images))

    with ThreadPoolExecutor(max(1, min(WORKERS, len(images))), "cvspec-test") as pool:
        answers = list(pool.map(one, images))
    return (
        [a for a in answers if isinstance(a, Classified)],
        [a for a in answers if isinstance(a, Refused)],
    )


def _classify(
    method: Any, project_id: str, publish: str, image: LabelledImage
) -> Classified | Refused:
    try:
        with image.path.open("rb") as data:
            result = call(method, project_id, publish, data)
    except OSError as exc:
        return Refused(image.shown, f"cannot read the file: {exc.strerror or exc}")
    except ServiceError as exc:
        if exc.code == "NotFoundIteration":
            raise CvspecError(
                f"nothing is published as {publish!r} for this prediction resource; run "
                "`cvspec apply` first"
            ) from None
        return Refused(image.shown, str(exc))
    ranked = sorted(
        ((p.tag_name, float(p.probability)) for p in result.predictions), key=lambda x: -x[1]
    )
    return Classified(image.shown, image.labels, tuple(ranked))
