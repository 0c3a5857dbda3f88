"""Requests are checked against the Swagger before a handler runs (cvspec.emulator.validation):
wrongly typed fields, bad ids, paging bounds, enums and export pairs answer 400 with the
service's envelope and code; nothing answers a Python exception, and an internal error keeps
the keep-alive connection open."""

from __future__ import annotations

import http.client
import importlib.util
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.cognitiveservices.vision.customvision.training.models import (
    CustomVisionErrorException,
    Project,
)
from msrest.exceptions import HttpOperationError

from cvspec.emulator import api_schema
from cvspec.emulator.server import EmulatorServer

from .support import make_image, prediction_client, training_client

T = "/customvision/v3.4-preview/training"
P = "/customvision/v3.1/prediction"


@pytest.fixture
def api(server: EmulatorServer) -> Iterator[requests.Session]:
    session = requests.Session()
    session.headers.update(
        {"Training-Key": server.training_key, "Prediction-Key": server.prediction_key}
    )
    yield session
    session.close()


def _call(
    server: EmulatorServer,
    api: requests.Session,
    method: str,
    path: str,
    body: Any = None,
    raw: bytes | None = None,
) -> requests.Response:
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    return api.request(method, server.training_endpoint + path, data=data, headers=headers)


def _refused(answer: requests.Response, code: str) -> dict[str, Any]:
    assert answer.status_code == 400, (answer.status_code, answer.text)
    body: dict[str, Any] = answer.json()
    assert set(body) == {"code", "message"}
    assert body["code"] == code, body
    for python in ("Traceback", "TypeError", "KeyError", "AttributeError", "object of type"):
        assert python not in body["message"]
    return body


# -- wrongly typed JSON fields (issue 12: 41 places on 15 operations answered 500) --------

G = "00000000-0000-0000-0000-000000000001"
BAD_BODIES = [
    ("PATCH", "", {"name": 5}),
    ("PATCH", "", {"name": "x", "description": ["d"]}),
    ("PATCH", "", {"settings": {"domainId": "not-a-guid"}}),
    ("PATCH", "", {"settings": "compact"}),
    ("PATCH", "", []),
    ("POST", "/images/urls", {"images": [{"url": 5}]}),
    ("POST", "/images/urls", {"images": {"url": "http://x"}}),
    ("POST", "/images/urls", {"images": [{"url": "http://x"}], "metadata": {"k": 5}}),
    ("POST", "/images/files", {"images": [{"name": "a", "contents": 5}]}),
    ("POST", "/images/files", {"images": [{"name": 1}]}),
    ("POST", "/images/tags", {"tags": [5]}),
    ("POST", "/images/tags", {"tags": [{"imageId": 5, "tagId": G}]}),
    ("POST", "/images/predictions", {"images": [{"id": 7}]}),
    ("POST", "/images/metadata?imageIds=" + G, {"k": 5}),
    ("POST", "/images/metadata?imageIds=" + G, ["k"]),
    ("PATCH", "/tags/" + G, {"name": 5}),
    ("PATCH", "/tags/" + G, {"type": "Sideways"}),
    ("PATCH", "/iterations/" + G, {"name": {"a": 1}}),
    ("POST", "/train", {"selectedTags": "all"}),
    ("POST", "/quicktest/url", {"url": 5}),
    ("POST", "/quicktest/url", {}),
]


@pytest.mark.parametrize(("method", "suffix", "body"), BAD_BODIES)
def test_wrongly_typed_fields_answer_400(
    server: EmulatorServer,
    api: requests.Session,
    project: Project,
    method: str,
    suffix: str,
    body: Any,
) -> None:
    answer = _call(server, api, method, f"{T}/projects/{project.id}{suffix}", body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] in (
        "BadRequestInvalid",
        "BadRequestInvalidIds",
        "BadRequestRequiredParamIsNull",
    )
    _refused(answer, answer.json()["code"])


def test_the_issue_examples_answer_their_codes(
    server: EmulatorServer, api: requests.Session, project: Project
) -> None:
    base = f"{T}/projects/{project.id}"
    _refused(_call(server, api, "PATCH", base, {"name": 5}), "BadRequestInvalid")
    _refused(
        _call(server, api, "POST", base + "/images/urls", {"images": [{"url": 5}]}),
        "BadRequestInvalid",
    )
    _refused(_call(server, api, "POST", base + "/images/tags", {"tags": [5]}), "BadRequestInvalid")
    _refused(
        _call(server, api, "POST", base + "/images/tags", raw=b"{not json"), "BadRequestInvalid"
    )
    missing = _call(server, api, "POST", base + "/images/tags")
    _refused(missing, "BadRequestRequiredParamIsNull")
    # a right body still works, and the project is unchanged by the refused ones
    assert _call(server, api, "PATCH", base, {"name": "renamed"}).json()["name"] == "renamed"


def test_prediction_url_body_is_checked(
    server: EmulatorServer, api: requests.Session, project: Project
) -> None:
    url = f"{P}/{project.id}/classify/iterations/nowhere/url"
    _refused(_call(server, api, "POST", url, {"url": 5}), "BadRequestInvalid")
    _refused(_call(server, api, "POST", url, {}), "BadRequestRequiredParamIsNull")
    gone = _call(server, api, "POST", url, {"url": "http://127.0.0.1:9/x.png"})
    assert gone.status_code == 404 and gone.json()["code"] == "NotFoundIteration"


# -- paging, ids, enums ----------------------------------------------------------------


@pytest.mark.parametrize("listing", ["/images", "/images/tagged", "/images/untagged"])
@pytest.mark.parametrize(
    "query", ["skip=99999999999999999999", "skip=-1", "take=257", "take=-1", "skip=1.5", "take=x"]
)
def test_paging_out_of_bounds_answers_400(
    server: EmulatorServer, api: requests.Session, project: Project, listing: str, query: str
) -> None:
    answer = _call(server, api, "GET", f"{T}/projects/{project.id}{listing}?{query}")
    _refused(answer, "BadRequestInvalid")


def test_paging_in_bounds_answers(
    server: EmulatorServer, api: requests.Session, project: Project
) -> None:
    answer = _call(server, api, "GET", f"{T}/projects/{project.id}/images?skip=0&take=256")
    assert answer.status_code == 200 and answer.json() == []


@pytest.mark.parametrize(
    "path",
    [
        "/images/id?imageIds=not-a-guid",
        "/images/id?imageIds=" + G + ",nope",
        "/images/tagged?tagIds=x",
        "/images?iterationId=1234",
        "/tags/not-a-guid",
        "/iterations/not-a-guid",
    ],
)
def test_ids_must_be_guids(
    server: EmulatorServer, api: requests.Session, project: Project, path: str
) -> None:
    _refused(_call(server, api, "GET", f"{T}/projects/{project.id}{path}"), "BadRequestInvalidIds")


def test_ids_in_posts_and_bodies_must_be_guids(
    server: EmulatorServer, api: requests.Session, project: Project
) -> None:
    base = f"{T}/projects/{project.id}"
    # the issue's example: this answered 207 with the id echoed back
    answer = _call(server, api, "POST", base + "/images/metadata?imageIds=not-a-guid", {"k": "v"})
    _refused(answer, "BadRequestInvalidIds")
    batch = {"images": [{"name": "a.png", "contents": "AAAA"}], "tagIds": ["red"]}
    _refused(_call(server, api, "POST", base + "/images/files", batch), "BadRequestInvalidIds")
    tags = {"tags": [{"imageId": "img-1", "tagId": G}]}
    _refused(_call(server, api, "POST", base + "/images/tags", tags), "BadRequestInvalidIds")
    _refused(_call(server, api, "POST", base + "/images?tagIds=red"), "BadRequestInvalidIds")


def test_delete_image_tags_checks_ids_and_batch_size(
    server: EmulatorServer, api: requests.Session, project: Project
) -> None:
    base = f"{T}/projects/{project.id}/images/tags"
    _refused(_call(server, api, "DELETE", f"{base}?imageIds=x&tagIds={G}"), "BadRequestInvalidIds")
    _refused(_call(server, api, "DELETE", f"{base}?tagIds={G}"), "BadRequestRequiredParamIsNull")
    many = ",".join(str(uuid.uuid4()) for _ in range(65))
    _refused(
        _call(server, api, "DELETE", f"{base}?imageIds={many}&tagIds={G}"),
        "BadRequestExceededBatchSize",
    )


def test_enums_are_checked_case_insensitively(
    server: EmulatorServer, api: requests.Session, project: Project
) -> None:
    base = f"{T}/projects/{project.id}"
    _refused(_call(server, api, "GET", base + "/images?orderBy=Sideways"), "BadRequestInvalid")
    _refused(_call(server, api, "POST", base + "/tags?name=t&type=Odd"), "BadRequestInvalid")
    tag = _call(server, api, "POST", base + "/tags?name=neg&type=negative")
    assert tag.status_code == 200 and tag.json()["type"] == "Negative"
    _refused(_call(server, api, "DELETE", base + "/images?allImages=maybe"), "BadRequestInvalid")


# -- QueryPredictions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        {"orderBy": "Sideways"},
        {"maxCount": -1},
        {"maxCount": "ten"},
        {"tags": [{"id": G, "minThreshold": 1.5}]},
        {"tags": [{"id": G, "minThreshold": -0.1}]},
        {"tags": [{"id": G, "minThreshold": 0.9, "maxThreshold": 0.1}]},
        {"tags": [{"id": G, "maxThreshold": "high"}]},
    ],
)
def test_query_predictions_refuses_invalid_queries(
    server: EmulatorServer, api: requests.Session, project: Project, query: dict[str, Any]
) -> None:
    answer = _call(server, api, "POST", f"{T}/projects/{project.id}/predictions/query", query)
    _refused(answer, "BadRequestPredictionInvalidQueryParameters")


def test_query_predictions_valid_query_answers(
    server: EmulatorServer, api: requests.Session, project: Project
) -> None:
    query = {"orderBy": "oldest", "tags": [{"id": G, "minThreshold": 0.1, "maxThreshold": 1}]}
    answer = _call(server, api, "POST", f"{T}/projects/{project.id}/predictions/query", query)
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"] == []


# -- export platform and flavor --------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("platform=CoreML&flavor=Linux", "BadRequestExportValidationFailed"),
        ("platform=ONNX&flavor=TensorFlowLite", "BadRequestExportValidationFailed"),
        ("platform=DockerFile&flavor=ONNX12", "BadRequestExportValidationFailed"),
        ("platform=ONNX&flavor=Bogus", "BadRequestInvalid"),
        ("platform=Bogus", "BadRequestInvalid"),
        ("flavor=Linux", "BadRequestRequiredParamIsNull"),
    ],
)
def test_export_checks_platform_and_flavor(
    server: EmulatorServer, api: requests.Session, project: Project, query: str, code: str
) -> None:
    path = f"{T}/projects/{project.id}/iterations/{uuid.uuid4()}/export?{query}"
    _refused(_call(server, api, "POST", path), code)


@pytest.mark.parametrize(
    "query", ["platform=DockerFile&flavor=ARM", "platform=ONNX&flavor=onnx12", "platform=CoreML"]
)
def test_export_fitting_pairs_reach_the_service(
    server: EmulatorServer, api: requests.Session, project: Project, query: str
) -> None:
    path = f"{T}/projects/{project.id}/iterations/{uuid.uuid4()}/export?{query}"
    answer = _call(server, api, "POST", path)
    assert answer.status_code == 404 and answer.json()["code"] == "NotFoundIteration"


# -- the gateway's 401 --------------------------------------------------------------------


def test_gateway_401_reads_access_denied(server: EmulatorServer) -> None:
    answer = requests.get(server.training_endpoint + T + "/projects")
    assert (answer.status_code, answer.reason) == (401, "Access Denied")
    with pytest.raises(CustomVisionErrorException) as excinfo:
        training_client(server, "wrong").get_projects()
    assert "Access Denied" in str(excinfo.value)


# -- an internal error: the service's envelope, and the connection stays open ---------------


def _lose_model(server: EmulatorServer, published: dict[str, Any]) -> None:
    """Storage loss: the published model's file disappears from the data directory."""
    row = server.backend.store.one(
        "SELECT model_sha FROM iterations WHERE id = ?", (published["iteration"].id,)
    )
    server.backend.store.blobs.path(row["model_sha"]).unlink()


def test_internal_error_keeps_the_sdk_client_working(
    server: EmulatorServer, published: dict[str, Any]
) -> None:
    _lose_model(server, published)
    predictor = prediction_client(server)
    predictor.config.retry_policy.retries = 0
    project = published["project"]
    with pytest.raises(HttpOperationError) as excinfo:
        predictor.classify_image(project.id, published["publish_name"], io.BytesIO(make_image()))
    answer = excinfo.value.response
    assert answer.status_code == 500
    assert answer.json() == {"code": "ErrorUnknown", "message": "An internal error occurred."}
    assert "close" not in answer.headers.get("connection", "").lower()
    # the next call on the same client (the same pooled connection) succeeds
    with pytest.raises(HttpOperationError) as again:
        predictor.classify_image(project.id, "no-such-name", io.BytesIO(make_image()))
    assert again.value.response.status_code == 404


def test_internal_error_keeps_the_connection_open(
    server: EmulatorServer, published: dict[str, Any]
) -> None:
    _lose_model(server, published)
    project = published["project"]
    path = f"{P}/{project.id}/classify/iterations/{published['publish_name']}/image"
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    headers = {"Prediction-Key": server.prediction_key, "Content-Type": "application/octet-stream"}
    try:
        connection.request("POST", path, body=make_image(), headers=headers)
        first = connection.getresponse()
        assert first.status == 500
        assert json.loads(first.read())["code"] == "ErrorUnknown"
        sock = connection.sock
        connection.request("GET", T + "/domains", headers={"Training-Key": server.training_key})
        second = connection.getresponse()
        assert second.status == 200 and json.loads(second.read())
        assert connection.sock is sock  # the same socket: not reconnected
    finally:
        connection.close()


# -- the generated schema table --------------------------------------------------------------


SWAGGER = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "customvision"


@pytest.mark.skipif(not SWAGGER.is_dir(), reason="../shared/reference/customvision absent")
def test_api_schema_is_generated_from_the_swagger() -> None:
    """cvspec/emulator/api_schema.py is what tools/gen_api_schema.py makes of the Swagger."""
    spec = importlib.util.spec_from_file_location(
        "gen_api_schema", Path(__file__).resolve().parents[2] / "tools" / "gen_api_schema.py"
    )
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    operations, definitions = generator.tables(SWAGGER)
    assert operations == api_schema.OPERATIONS
    assert definitions == api_schema.DEFINITIONS
    assert len(operations) == 60


# -- a probe like the issue's: one wrongly typed value at a time, on every operation ----------

WRONG_VALUES: list[Any] = [5, 1.5, "x", True, [], {}, None, [5], {"a": 5}, -1, 2**40]
WRONG_QUERY = ["x", "-1", "1.5", "99999999999999999999", "not-a-guid", "%00", "true,false"]


def _probes(
    api: str, definition: dict[str, Any], prefix: str = "", depth: int = 0
) -> Iterator[tuple[str, Any]]:
    """(dotted property path, a body with only that property wrong) for every property."""
    schema = api_schema.DEFINITIONS.get(f"{api}:{definition.get('$ref', '').rsplit('/', 1)[-1]}")
    schema = schema or definition
    for name, prop in schema.get("properties", {}).items():
        for value in WRONG_VALUES:
            yield f"{prefix}{name}", {name: value}
        items = prop.get("items", {})
        if depth < 2 and "$ref" in items:
            for path, inner in _probes(api, items, f"{prefix}{name}[].", depth + 1):
                yield path, {name: [inner]}
        elif depth < 2 and "$ref" in prop:
            for path, inner in _probes(api, prop, f"{prefix}{name}.", depth + 1):
                yield path, {name: inner}


def test_no_wrong_value_answers_a_server_error(
    server: EmulatorServer, api: requests.Session, trained: dict[str, Any]
) -> None:
    project, iteration = trained["project"], trained["iteration"]
    real = {
        "projectId": str(project.id),
        "iterationId": str(iteration.id),
        "tagId": str(trained["red"].id),
        "domainId": str(project.settings.domain_id),
        "imageId": G,
        "publishedName": "nowhere",
    }
    sent = 0
    for key, entry in api_schema.OPERATIONS.items():
        kind, method, template = key.split(" ", 2)
        if method == "DELETE":
            continue  # a refused DELETE would be harmless, an accepted one not
        base = (T if kind == "training" else P) + template.format(**real)
        cases: list[tuple[str, str, Any]] = []
        for param in entry["parameters"]:
            if param["in"] == "query":
                cases += [(f"?{param['name']}={v}", param["name"], None) for v in WRONG_QUERY]
            elif param["in"] == "body":
                cases += [("", path, body) for path, body in _probes(kind, param["schema"])]
                cases += [("", "body", value) for value in WRONG_VALUES]
        for query, where, body in cases:
            answer = _call(server, api, method, base + query, body)
            sent += 1
            assert answer.status_code < 500, (key, where, body, answer.text)
            error = answer.json() if answer.status_code >= 400 else {}
            assert answer.status_code < 400 or set(error) == {"code", "message"}, answer.text
    server.wait_for_training(30)
    assert sent > 1000
