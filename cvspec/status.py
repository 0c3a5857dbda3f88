"""`cvspec status`: what the live project holds now, gathered into plain dataclasses.

One read of the project (cvspec.live: tags, images with their identity, iterations), plus
one GetIterationPerformance per completed iteration. Nothing here prints: the renderers are
in cvspec.status_render. No key and no SAS token is ever gathered: the prediction URL is the
endpoint's address and path, which a client calls with its own Prediction-Key header.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from cvspec.errors import CvspecError
from cvspec.gates import Evaluation, evaluation_from_sdk
from cvspec.identity import failed_gates, iteration_fingerprint
from cvspec.live import LiveImage, LiveState, read_live
from cvspec.sdk import call
from cvspec.service import Service
from cvspec.spec.domains import CLASSIFICATION_DOMAINS

FORMAT_VERSION = 1
DEFAULT_THRESHOLD = 0.5  # the portal's default probability threshold
UNTAGGED = "(untagged)"


@dataclass(frozen=True)
class TagStatus:
    """One tag and the images carrying it: uploaded by cvspec (identity metadata) or not."""

    name: str
    type: str  # "Regular" | "Negative"
    images: int
    by_cvspec: int
    by_others: int


@dataclass(frozen=True)
class IterationStatus:
    """One iteration: its state, the dataset it was trained on and where it is published."""

    id: str
    name: str
    status: str  # "Completed" | "Training" | "Failed" | ...
    created: str
    fingerprint: str | None  # cvspec's dataset fingerprint in the name; None: not cvspec's
    failed_gates: str | None  # the gates key it failed (cvspec records it in the name)
    evaluation: Evaluation | None  # completed iterations only
    publish_name: str  # "" when not published
    prediction_resource_id: str
    prediction_url: str | None  # what a client calls (no key); None when not published


@dataclass(frozen=True)
class ProjectStatus:
    """Everything `cvspec status` shows."""

    target: str  # "azure" | "emulator"
    project_name: str
    project_id: str | None  # None: the project does not exist
    classification: str = ""
    domain: str = ""
    images: int = 0
    images_by_cvspec: int = 0
    images_by_others: int = 0
    untagged: int = 0
    untagged_by_cvspec: int = 0
    tags: tuple[TagStatus, ...] = ()
    iterations: tuple[IterationStatus, ...] = ()
    threshold: float = DEFAULT_THRESHOLD

    @property
    def exists(self) -> bool:
        return self.project_id is not None


def gather(
    service: Service, project_name: str, threshold: float = DEFAULT_THRESHOLD
) -> ProjectStatus:
    """Read the project named `project_name` and summarise it.

    Raises:
        PlanError: several projects have that name.
        ServiceError: the service refused a call.
    """
    live = read_live(service, project_name)
    if live.project is None:
        return ProjectStatus(service.target, project_name, None, threshold=threshold)
    project = live.project
    managed = [i for i in live.images if i.hash_key]
    untagged = [i for i in live.images if not i.tags]
    return ProjectStatus(
        target=service.target,
        project_name=project.name,
        project_id=project.id,
        classification=project.classification_type,
        domain=_domain_name(live, project.domain_id),
        images=len(live.images),
        images_by_cvspec=len(managed),
        images_by_others=len(live.images) - len(managed),
        untagged=len(untagged),
        untagged_by_cvspec=sum(1 for i in untagged if i.hash_key),
        tags=_tags(live),
        iterations=_iterations(service, live, threshold),
        threshold=threshold,
    )


def _domain_name(live: LiveState, domain_id: str) -> str:
    for domain in live.domains:
        if domain.id == domain_id:
            return domain.name
    by_id = {v: k for k, v in CLASSIFICATION_DOMAINS.items()}
    return by_id.get(domain_id, domain_id)


def _tags(live: LiveState) -> tuple[TagStatus, ...]:
    total, ours = _counts(live.images)
    return tuple(
        TagStatus(
            name=t.name,
            type=t.type,
            images=total[t.name],
            by_cvspec=ours[t.name],
            by_others=total[t.name] - ours[t.name],
        )
        for t in live.tags
    )


def _counts(images: tuple[LiveImage, ...]) -> tuple[Counter[str], Counter[str]]:
    total: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    for image in images:
        total.update(image.tags)
        if image.hash_key:
            ours.update(image.tags)
    return total, ours


def _iterations(service: Service, live: LiveState, threshold: float) -> tuple[IterationStatus, ...]:
    assert live.project is not None
    project_id = live.project.id
    found = []
    for it in live.iterations:
        evaluation = None
        if it.status == "Completed":
            perf = call(
                service.training.get_iteration_performance, project_id, it.id, threshold=threshold
            )
            evaluation = evaluation_from_sdk(it.name, threshold, perf)
        found.append(
            IterationStatus(
                id=it.id,
                name=it.name,
                status=it.status,
                created=it.created,
                fingerprint=iteration_fingerprint(it.name),
                failed_gates=failed_gates(it.name),
                evaluation=evaluation,
                publish_name=it.publish_name,
                prediction_resource_id=it.prediction_resource_id,
                prediction_url=prediction_url(service, project_id, it.publish_name),
            )
        )
    return tuple(found)


def prediction_url(service: Service, project_id: str, publish_name: str) -> str | None:
    """The Prediction API URL a client posts an image to (Prediction-Key header, not here)."""
    if not publish_name or service.prediction is None:
        return None
    client = service.prediction
    base = str(client.config.base_url).format(Endpoint=str(client.config.endpoint).rstrip("/"))
    template: str = getattr(client.classify_image, "metadata")["url"]  # noqa: B009
    path = template.format(
        projectId=quote(project_id, safe=""), publishedName=quote(publish_name, safe="")
    )
    return base + path


def require_project(status: ProjectStatus, where: str) -> ProjectStatus:
    """The status of a project that exists; a one-line error otherwise."""
    if not status.exists:
        raise CvspecError(
            f"project {status.project_name!r} does not exist at {where}; run `cvspec apply` first"
        )
    return status


def service_name(service: Service) -> str:
    """`the built-in emulator`, or the endpoint's `https://host` (never a key)."""
    if service.target == "emulator":
        return "the built-in emulator"
    parts = urlsplit(service.endpoint)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else service.endpoint
