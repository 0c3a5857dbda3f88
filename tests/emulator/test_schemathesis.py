"""Property-based tests of the running emulator against Microsoft's published Swagger files
(../shared/reference/customvision, read in place): for every operation of Training
v3.4-preview and Prediction v3.1, schemathesis generates requests and checks that no answer
is a server error and that status codes, content types and response bodies conform.

Seeded and bounded (EXAMPLES per operation). Path ids point at a real trained and published
project for all but the destructive operations, so the answers are not all 404s.

Where the real service departs from its Swagger, the Swagger is amended below, each
amendment next to the departure that allows it (../shared/docs/real-service-departures.md and
the real recordings in ../shared/reference/recordings). Nothing else is allowed.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from schemathesis import GenerationMode, checks  # noqa: E402

from cvspec.emulator.server import EmulatorServer  # noqa: E402

from .support import PALETTE, training_client, upload, wait_trained  # noqa: E402

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "customvision"
FILES = {"training": "training-v3.4-preview.json", "prediction": "prediction-v3.1.json"}
SEED = 12
EXAMPLES = 8  # per operation: ~550 cases in all
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
# Operations whose path ids stay random: on the real project they would delete what the
# other operations need.
DESTRUCTIVE = {
    "DeleteProject",
    "DeleteIteration",
    "DeleteTag",
    "UnpublishIteration",
    "DeleteImages",
}

pytestmark = pytest.mark.skipif(
    not REFERENCE.is_dir(), reason="../shared/reference/customvision (the Swagger files) absent"
)


# -- documented departures of the real service from its Swagger -----------------------------


def _nullable(*names: str) -> Callable[[dict[str, Any]], None]:
    """Properties ``Definition.property`` that the real service answers as null."""

    def amend(doc: dict[str, Any]) -> None:
        for name in names:
            definition, prop = name.split(".")
            schema = doc["definitions"][definition]["properties"][prop]
            if "$ref" in schema:  # a null reference: the referenced definition admits null
                doc["definitions"][schema["$ref"].rsplit("/", 1)[-1]]["x-nullable"] = True
            else:
                schema["x-nullable"] = True

    return amend


def _ivs_platform(doc: dict[str, Any]) -> None:
    doc["definitions"]["Domain"]["properties"]["exportablePlatforms"]["items"]["enum"].append("IVS")


def _artifact_errors_are_json(doc: dict[str, Any]) -> None:
    doc["paths"]["/projects/{projectId}/artifacts"]["get"]["produces"].append("application/json")


GATEWAY_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}


def _gateway_401(doc: dict[str, Any]) -> None:
    for methods in doc["paths"].values():
        for operation in methods.values():
            operation["responses"]["401"] = {"description": "gateway", "schema": GATEWAY_ERROR}


@dataclass(frozen=True)
class Departure:
    api: str
    amend: Callable[[dict[str, Any]], None]
    why: str


DEPARTURES = [
    *(
        Departure(
            api,
            _gateway_401,
            'A missing or wrong key gets the gateway\'s 401 {"error": {"code": "401", '
            '"message": ...}}, not CustomVisionError (service-behavior.md section 1)',
        )
        for api in FILES
    ),
    Departure(
        "training",
        _nullable("Domain.modelInformation"),
        "GetDomains/GetDomain answer modelInformation: null (DomainsApiTests record)",
    ),
    Departure(
        "training",
        _ivs_platform,
        '"IVS" appears in Domain.exportablePlatforms though not in the enum (DomainsApiTests)',
    ),
    Departure(
        "training",
        _nullable("Project.thumbnailUri", "ProjectSettings.detectionParameters"),
        "Project.thumbnailUri and settings.detectionParameters are null "
        "(CreateUpdateDeleteProject, CreateImagesFrom* records)",
    ),
    Departure(
        "training",
        _nullable(
            "Iteration.exportableTo",
            "Iteration.trainingErrorDetails",
            "Iteration.customBaseModelInfo",
            "Iteration.publishName",
            "Iteration.originalPublishResourceId",
        ),
        "Iteration.exportableTo, trainingErrorDetails, customBaseModelInfo are null; publishName "
        "and originalPublishResourceId are null while unpublished (GetIterations, "
        "TrainAndPublishProject records)",
    ),
    Departure(
        "training",
        _nullable("ImageTag.tagName"),
        "ImageTag.tagName is null in upload summaries (CreateImagesFrom* records)",
    ),
    Departure(
        "training",
        _artifact_errors_are_json,
        "GetArtifact's errors are CustomVisionError JSON though it produces only "
        "application/octet-stream (the service's error format everywhere)",
    ),
]


def _swagger(api: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((REFERENCE / FILES[api]).read_text(encoding="utf-8"))
    doc = copy.deepcopy(doc)
    for departure in DEPARTURES:
        if departure.api == api:
            departure.amend(doc)
    return doc


def _operations() -> list[tuple[str, str, str]]:
    if not REFERENCE.is_dir():
        return []
    return [
        (api, path, method.upper())
        for api in FILES
        for path, methods in json.loads((REFERENCE / FILES[api]).read_text())["paths"].items()
        for method in methods
    ]


# -- the running emulator with one real project ---------------------------------------------


@dataclass
class Target:
    server: EmulatorServer
    real: dict[str, str]
    schemas: dict[str, Any]
    cases: int = 0


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with EmulatorServer(tmp_path_factory.mktemp("schemathesis")) as server:
        trainer = training_client(server)
        project = trainer.create_project("schemathesis", classification_type="Multiclass")
        red, blue = trainer.create_tag(project.id, "red"), trainer.create_tag(project.id, "blue")
        upload(trainer, project.id, [red.id], 5, PALETTE["red"])
        upload(trainer, project.id, [blue.id], 5, PALETTE["blue"])
        iteration = wait_trained(trainer, project.id, trainer.train_project(project.id))
        trainer.publish_iteration(project.id, iteration.id, "pub", server.prediction_resource_id)
        real = {
            "projectId": project.id,
            "iterationId": iteration.id,
            "tagId": red.id,
            "domainId": project.settings.domain_id,
            "publishedName": "pub",
        }
        schemas = {api: schemathesis.openapi.from_dict(_swagger(api)) for api in FILES}
        found = Target(server, real, schemas)
        yield found
        print(f"\nschemathesis: {found.cases} cases on {len(_operations())} operations")
        server.wait_for_training(30)


@pytest.mark.parametrize("mode", ["positive", "negative"])
@pytest.mark.parametrize(
    ("api", "path", "method"),
    _operations(),
    ids=[f"{api} {method} {path}" for api, path, method in _operations()],
)
def test_operation_conforms(target: Target, api: str, path: str, method: str, mode: str) -> None:
    """Positive cases (valid per the Swagger) and negative ones (each breaks it somewhere):
    never a server error, always a documented status, content type and body."""
    schema = target.schemas[api]
    operation = schema[path][method]
    doc = operation.definition.raw
    base = target.server.url + schema.raw_schema["basePath"]
    key = (
        {"Training-Key": target.server.training_key}
        if api == "training"
        else {"Prediction-Key": target.server.prediction_key}
    )

    @seed(SEED)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(GenerationMode(mode)))
    def conforms(case: Any) -> None:
        target.cases += 1
        if doc.get("operationId") not in DESTRUCTIVE and case.path_parameters:
            for name in case.path_parameters:
                if name in target.real:
                    case.path_parameters[name] = target.real[name]
        response = case.call(base_url=base, headers=key)
        case.validate_response(response, checks=CHECKS)

    conforms()
