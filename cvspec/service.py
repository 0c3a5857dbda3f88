"""Connect to the Custom Vision service: Azure when the environment names an endpoint,
otherwise the built-in emulator started in-process for the command's duration. A spec with a
`resources` section is connected through Resource Manager instead (cvspec.resources): the
accounts' endpoints and keys are read at run time, on Azure when CVSPEC_ARM_ENDPOINT is set,
else on the built-in emulator's Resource Manager."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from msrest.authentication import ApiKeyCredentials

from cvspec.errors import ConfigError

if TYPE_CHECKING:
    from cvspec.resources import ResourceSession
    from cvspec.spec.resources import ResourcesSpec

PENDING_ENDPOINT = "http://127.0.0.1:9/"
"""The training client's endpoint while the training account is still to be created: nothing
listens there (the discard port), and cvspec makes no call to it (Service.pending)."""

# Each setting is read from cvspec's own name first, then from the name Microsoft's samples use.
_SETTINGS = {
    "training_endpoint": ("CVSPEC_TRAINING_ENDPOINT", "VISION_TRAINING_ENDPOINT"),
    "training_key": ("CVSPEC_TRAINING_KEY", "VISION_TRAINING_KEY"),
    "prediction_endpoint": ("CVSPEC_PREDICTION_ENDPOINT", "VISION_PREDICTION_ENDPOINT"),
    "prediction_key": ("CVSPEC_PREDICTION_KEY", "VISION_PREDICTION_KEY"),
    "prediction_resource_id": ("CVSPEC_PREDICTION_RESOURCE_ID", "VISION_PREDICTION_RESOURCE_ID"),
}


@dataclass(frozen=True)
class Settings:
    """Where the service is and how to authenticate. Keys never leave this object."""

    training_endpoint: str
    training_key: str
    prediction_endpoint: str | None = None
    prediction_key: str | None = None
    prediction_resource_id: str | None = None

    def __repr__(self) -> str:  # keys must never reach logs or tracebacks
        return f"Settings(training_endpoint={self.training_endpoint!r}, keys=<hidden>)"


@dataclass(frozen=True)
class Service:
    """The official SDK clients for one training resource and its prediction resource."""

    target: str  # "azure" or "emulator"
    training: CustomVisionTrainingClient
    prediction: CustomVisionPredictionClient | None
    prediction_resource_id: str | None
    endpoint: str
    resources: ResourceSession | None = None  # the spec's accounts (resources section)
    pending: bool = False  # the training account is still to be created: no project yet


def settings_from_env(env: Mapping[str, str] | None = None) -> Settings | None:
    """Read the endpoint and keys from the environment; None when no endpoint is set."""
    env = os.environ if env is None else env
    values = {field: _first(env, names) for field, names in _SETTINGS.items()}
    if not values["training_endpoint"]:
        return None
    if not values["training_key"]:
        raise ConfigError(
            "CVSPEC_TRAINING_ENDPOINT is set but CVSPEC_TRAINING_KEY "
            "(or VISION_TRAINING_KEY) is not"
        )
    return Settings(**values)  # type: ignore[arg-type]


def _first(env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    return next((env[name] for name in names if env.get(name)), None)


def make_service(settings: Settings, target: str) -> Service:
    """Build the SDK clients the way Microsoft's samples do."""
    training = CustomVisionTrainingClient(
        settings.training_endpoint,
        ApiKeyCredentials(in_headers={"Training-key": settings.training_key}),
    )
    prediction = None
    if settings.prediction_endpoint and settings.prediction_key:
        prediction = CustomVisionPredictionClient(
            settings.prediction_endpoint,
            ApiKeyCredentials(in_headers={"Prediction-key": settings.prediction_key}),
        )
    return Service(
        target=target,
        training=training,
        prediction=prediction,
        prediction_resource_id=settings.prediction_resource_id,
        endpoint=settings.training_endpoint,
    )


@contextmanager
def connect(
    state_dir: Path, resources: ResourcesSpec | None = None, publish_resource: str | None = None
) -> Iterator[Service]:
    """Yield a Service: Azure from the environment, else the emulator with state in state_dir;
    with a resources section, the accounts it names (publish_resource: publish's target)."""
    if resources is not None:
        with _connect_accounts(state_dir, resources, publish_resource) as service:
            yield service
        return
    settings = settings_from_env()
    if settings is not None:
        yield make_service(settings, target="azure")
        return
    from cvspec.emulator.server import EmulatorServer  # the emulator's deps load only when used

    with EmulatorServer(data_dir=state_dir / "emulator") as server:
        yield make_service(
            Settings(
                training_endpoint=server.training_endpoint,
                training_key=server.training_key,
                prediction_endpoint=server.prediction_endpoint,
                prediction_key=server.prediction_key,
                prediction_resource_id=server.prediction_resource_id,
            ),
            target="emulator",
        )


@contextmanager
def _connect_accounts(
    state_dir: Path, section: ResourcesSpec, publish_resource: str | None
) -> Iterator[Service]:
    from cvspec.arm_client import (
        StaticTokenCredential,
        arm_endpoint,
        default_credential,
        management_client,
    )
    from cvspec.resources import ResourceSession

    endpoint = arm_endpoint()
    if endpoint is not None:
        credential = default_credential()
        session = ResourceSession(
            section,
            publish_resource,
            lambda sub: management_client(credential, sub, endpoint),
            target="azure",
            endpoint=endpoint,
        )
        yield account_service(session)
        return
    from cvspec.emulator.server import EmulatorServer

    with EmulatorServer(data_dir=state_dir / "emulator") as server:
        token = StaticTokenCredential(server.arm_token)
        session = ResourceSession(
            section,
            publish_resource,
            lambda sub: management_client(token, sub, server.arm_endpoint),
            target="emulator",
            endpoint=server.arm_endpoint,
        )
        yield account_service(session)


def account_service(session: ResourceSession) -> Service:
    """The clients of the session's accounts, keys listed now (pending while the training
    account does not exist yet)."""
    training = session.training
    live = session.get(training)
    target = session.publish_to
    resource_id = target.arm_id if target is not None else session.publish_resource
    if live is None:
        return Service(
            target=session.target,
            training=CustomVisionTrainingClient(
                PENDING_ENDPOINT, ApiKeyCredentials(in_headers={"Training-key": "-"})
            ),
            prediction=None,
            prediction_resource_id=resource_id,
            endpoint=session.endpoint or PENDING_ENDPOINT,  # shown as the target; never called
            resources=session,
            pending=True,
        )
    settings = Settings(training_endpoint=live.endpoint, training_key=session.keys_of(training))
    prediction = None
    predicting = session.get(target) if target is not None else None
    if target is not None and predicting is not None:
        settings = Settings(
            training_endpoint=settings.training_endpoint,
            training_key=settings.training_key,
            prediction_endpoint=predicting.endpoint,
            prediction_key=session.keys_of(target),
        )
    service = make_service(settings, target=session.target)
    prediction = service.prediction
    return Service(
        target=session.target,
        training=service.training,
        prediction=prediction,
        prediction_resource_id=resource_id,
        endpoint=live.endpoint,
        resources=session,
    )
