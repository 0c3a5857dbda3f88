"""Service-shaped errors: a Custom Vision error code, its message and the HTTP status.

Raised by the backend, serialized by the routes. Two envelopes exist on the real
service: Custom Vision's own ``{"code", "message"}`` and the Cognitive Services
gateway's ``{"error": {"code", "message"}}`` (401 and 429).
"""

from __future__ import annotations

from typing import Any

GATEWAY_401_MESSAGE = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
    "provide a valid key for an active subscription and use a correct regional API "
    "endpoint for your resource."
)


class ServiceError(Exception):
    """An error the Custom Vision service itself answers: ``{"code": ..., "message": ...}``."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}


class GatewayError(Exception):
    """An error the API gateway answers before the service sees the request."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"code": str(self.status), "message": self.message}}


def unauthorized() -> GatewayError:
    return GatewayError(401, GATEWAY_401_MESSAGE)


def bad_request(code: str, message: str) -> ServiceError:
    return ServiceError(code, message, 400)


def not_found(code: str, message: str) -> ServiceError:
    return ServiceError(code, message, 404)


def project_not_found(project_id: str) -> ServiceError:
    return not_found("NotFoundProject", f"Project {project_id} not found.")


def tag_not_found(tag_id: str) -> ServiceError:
    return not_found("NotFoundTag", f"Tag {tag_id} not found.")


def iteration_not_found(iteration_id: str) -> ServiceError:
    return not_found("NotFoundIteration", f"Iteration {iteration_id} not found.")


def image_not_found(image_id: str) -> ServiceError:
    return not_found("NotFoundImage", f"Image {image_id} not found.")


def invalid_iteration() -> ServiceError:
    """What the Prediction API answers for an unknown project or publish name."""
    return not_found("NotFoundIteration", "Invalid iteration")


def invalid_ids(what: str) -> ServiceError:
    return bad_request("BadRequestInvalidIds", f"Invalid {what}.")


def not_supported_for_classification(operation: str) -> ServiceError:
    return bad_request(
        "BadRequestOperationNotSupported",
        f"{operation} is only supported for object detection projects.",
    )
