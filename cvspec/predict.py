"""Classify images through the Prediction API with the iteration the spec publishes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from cvspec.errors import CvspecError, ServiceError
from cvspec.live import find_project
from cvspec.sdk import call
from cvspec.service import Service
from cvspec.spec import ValidatedSpec


def classify(
    validated: ValidatedSpec, service: Service, images: tuple[Path, ...], store: bool
) -> Iterator[tuple[Path, list[tuple[str, float]]]]:
    """Yield each image with its (tag, probability) pairs, most probable first."""
    spec = validated.spec
    if spec.publish is None:
        raise CvspecError("the spec publishes nothing (no `publish:` section)")
    if service.pending:
        raise CvspecError("the spec's training account does not exist yet; run `cvspec apply`")
    if service.prediction is None:
        raise CvspecError(
            "no prediction endpoint: set CVSPEC_PREDICTION_ENDPOINT and CVSPEC_PREDICTION_KEY"
        )
    project = find_project(service, spec.project.name)
    if project is None:
        raise CvspecError(f"project {spec.project.name!r} does not exist; run `cvspec apply` first")
    client = service.prediction
    method = client.classify_image if store else client.classify_image_with_no_store
    for image in images:
        try:
            with image.open("rb") as data:
                result = call(method, project.id, spec.publish.name, data)
        except OSError as exc:
            raise CvspecError(f"{image}: cannot read the file: {exc.strerror or exc}") from None
        except ServiceError as exc:
            if exc.code == "NotFoundIteration":
                raise CvspecError(
                    f"nothing is published as {spec.publish.name!r} in project "
                    f"{spec.project.name!r} for this prediction resource; run `cvspec apply` "
                    "first"
                ) from None
            raise CvspecError(f"{image}: {exc}") from None
        ranked = sorted(
            ((p.tag_name, p.probability) for p in result.predictions), key=lambda x: -x[1]
        )
        yield image, ranked
