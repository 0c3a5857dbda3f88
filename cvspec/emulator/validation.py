"""The one place that checks requests: every operation's path, query and JSON body against the
Swagger's parameter and definition schemas (cvspec/emulator/api_schema.py, generated from
Microsoft's published Swagger), before a handler runs. Handlers receive typed values
(``args(request)``), never raw strings.

Classes of mistake and the service codes they answer (all 400, CustomVisionError envelope):

- a required parameter or body missing: ``BadRequestRequiredParamIsNull``
- an id that is not a GUID (path, query or body): ``BadRequestInvalidIds``
- a wrong type, a value out of range or not in the enum, a body that is not JSON:
  ``BadRequestInvalid``
- more ids than the operation allows: ``BadRequestExceededBatchSize``
- QueryPredictions' body (orderBy, thresholds, maxCount):
  ``BadRequestPredictionInvalidQueryParameters``
- an export flavor that does not fit the platform: ``BadRequestExportValidationFailed``
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cvspec.emulator import exceptions as exc
from cvspec.emulator.api_schema import DEFINITIONS, OPERATIONS

GUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$|^\{[0-9a-fA-F-]{36}\}$")
INTEGER = re.compile(r"^[+-]?\d{1,19}$")
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)

# Rules the service applies beyond its Swagger.
NON_NEGATIVE = {"skip", "reservedBudgetInHours"}  # paging offsets and budgets
# Export flavors per platform (docs: "Export your model for use with mobile devices"):
EXPORT_FLAVORS: dict[str, frozenset[str]] = {
    "CoreML": frozenset(),
    "TensorFlow": frozenset({"TensorFlowNormal", "TensorFlowLite"}),
    "DockerFile": frozenset({"Linux", "Windows", "ARM"}),
    "ONNX": frozenset({"ONNX10", "ONNX12"}),
    "VAIDK": frozenset(),
    "OpenVino": frozenset(),
}
QUERY_PREDICTIONS = "QueryPredictions"


class Invalid(exc.ServiceError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message, 400)


@dataclass(frozen=True)
class Operation:
    api: str
    operation_id: str
    parameters: tuple[dict[str, Any], ...]


def operation(api: str, method: str, template: str) -> Operation:
    """The Swagger operation for a route: ``api`` is training or prediction, ``template`` the
    path below the API's base path (``/projects/{projectId}``)."""
    entry = OPERATIONS[f"{api} {method.upper()} {template}"]
    return Operation(api, entry["operationId"], tuple(entry["parameters"]))


def args(request: Request) -> dict[str, Any]:
    """The typed, checked parameters of the request (by Swagger name; the body by its
    parameter name too)."""
    checked: dict[str, Any] = request.state.args
    return checked


async def check(request: Request, op: Operation) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for param in op.parameters:
        name, where = param["name"], param["in"]
        if where == "path":
            raw: str | None = str(request.path_params.get(name, ""))
        elif where == "query":
            raw = _query(request, name)
        else:
            values[name] = await _body(request, op, param)
            continue
        if raw is None or raw == "":
            if param.get("required"):
                raise Invalid("BadRequestRequiredParamIsNull", f"{name} is required.")
            values[name] = param.get("default")
            continue
        values[name] = _scalar_or_array(param, name, raw)
    _semantics(op, values)
    return values


# -- query and path values --------------------------------------------------------------


def _query(request: Request, name: str) -> str | None:
    """A query parameter by its exact name, else case-insensitively."""
    params = request.query_params
    if name in params:
        return params[name]
    lowered = name.lower()
    for key, value in params.items():
        if key.lower() == lowered:
            return value
    return None


def _scalar_or_array(param: dict[str, Any], name: str, raw: str) -> Any:
    if param.get("type") == "array":
        items = [part.strip() for part in raw.split(",") if part.strip()]
        limit = param.get("maxItems")
        if limit is not None and len(items) > limit:
            raise Invalid("BadRequestExceededBatchSize", f"At most {limit} {name} are allowed.")
        return [_scalar(param.get("items", {}), name, item) for item in items]
    return _scalar(param, name, raw)


def _scalar(schema: dict[str, Any], name: str, raw: str) -> Any:
    kind = schema.get("type", "string")
    if kind == "integer":
        if not INTEGER.match(raw):
            raise _not_valid(name, raw)
        value: Any = int(raw)
        low, high = INT64 if schema.get("format") == "int64" else INT32
        _range(schema, name, value, low, high)
        return value
    if kind == "number":
        try:
            number = float(raw)
        except ValueError:
            raise _not_valid(name, raw) from None
        if not math.isfinite(number):
            raise _not_valid(name, raw)
        _range(schema, name, number, -math.inf, math.inf)
        return number
    if kind == "boolean":
        if raw.lower() in ("true", "1"):
            return True
        if raw.lower() in ("false", "0"):
            return False
        raise _not_valid(name, raw)
    return _string(schema, name, raw)


def _string(schema: dict[str, Any], name: str, value: str) -> str:
    if schema.get("format") == "uuid":
        if not GUID.match(value):
            raise Invalid("BadRequestInvalidIds", f"'{_clip(value)}' is not a valid id for {name}.")
        return value.strip("{}").lower()
    enum = schema.get("enum")
    if enum:
        canonical = next((e for e in enum if e.lower() == value.lower()), None)
        if canonical is None:
            raise Invalid(
                "BadRequestInvalid",
                f"'{_clip(value)}' is not a valid value for {name}; one of {', '.join(enum)}.",
            )
        return str(canonical)
    limit = schema.get("maxLength")
    if limit is not None and len(value) > limit:
        raise Invalid("BadRequestInvalid", f"{name} is longer than {limit} characters.")
    return value


def _range(schema: dict[str, Any], name: str, value: float, low: float, high: float) -> None:
    low = max(low, schema.get("minimum", low))
    high = min(high, schema.get("maximum", high))
    if name in NON_NEGATIVE:
        low = max(low, 0)
    if not low <= value <= high:
        raise Invalid("BadRequestInvalid", f"{name} must be between {_num(low)} and {_num(high)}.")


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _not_valid(name: str, raw: str) -> Invalid:
    return Invalid("BadRequestInvalid", f"'{_clip(raw)}' is not a valid value for {name}.")


def _clip(value: str, limit: int = 64) -> str:
    return value if len(value) <= limit else value[:limit] + "..."


# -- JSON bodies ------------------------------------------------------------------------


async def _body(request: Request, op: Operation, param: dict[str, Any]) -> Any:
    raw = await request.body()
    if not raw.strip():
        if param.get("required"):
            raise Invalid("BadRequestRequiredParamIsNull", "A request body is required.")
        return None
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Invalid("BadRequestInvalid", "The request body is not valid JSON.") from None
    if body is None and not param.get("required"):
        return None
    partial = request.method == "PATCH"  # an update names only what it changes
    _value(op, param.get("schema", {}), body, param["name"], partial, depth=0)
    return body


def _resolve(op: Operation, schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return DEFINITIONS[f"{op.api}:{ref.rsplit('/', 1)[-1]}"]
    return schema


def _value(
    op: Operation, schema: dict[str, Any], value: Any, where: str, partial: bool, depth: int
) -> None:
    schema = _resolve(op, schema)
    if depth > 16:
        raise Invalid("BadRequestInvalid", f"{where} is nested too deeply.")
    if value is None:
        if schema.get("x-nullable") is False:
            raise _wrong_type(op, where, schema)
        return
    kind = schema.get("type", "object" if "properties" in schema else None)
    if kind == "object":
        if not isinstance(value, dict):
            raise _wrong_type(op, where, schema)
        properties = schema.get("properties", {})
        if not partial:
            for name in schema.get("required", []):
                if value.get(name) is None:
                    raise Invalid("BadRequestRequiredParamIsNull", f"{where}.{name} is required.")
        extra = schema.get("additionalProperties")
        for name, item in value.items():
            sub = properties.get(name)
            if sub is not None:
                if not _resolve(op, sub).get("readOnly") and not sub.get("readOnly"):
                    _value(op, sub, item, f"{where}.{name}", False, depth + 1)
            elif isinstance(extra, dict):
                _value(op, extra, item, f"{where}.{name}", False, depth + 1)
        return
    if kind == "array":
        if not isinstance(value, list):
            raise _wrong_type(op, where, schema)
        for index, item in enumerate(value):
            _value(op, schema.get("items", {}), item, f"{where}[{index}]", False, depth + 1)
        return
    if kind == "string":
        if not isinstance(value, str):
            raise _wrong_type(op, where, schema)
        try:
            _string(schema, where, value)
        except Invalid as error:
            raise _in_body(op, error) from None
        return
    if kind in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _wrong_type(op, where, schema)
        if kind == "integer" and not float(value).is_integer():
            raise _wrong_type(op, where, schema)
        low, high = (float(x) for x in (INT64 if schema.get("format") == "int64" else INT32))
        if kind == "number":
            low, high = -math.inf, math.inf
        try:
            _range(schema, where, value, low, high)
        except Invalid as error:
            raise _in_body(op, error) from None
        return
    if kind == "boolean" and not isinstance(value, bool):
        raise _wrong_type(op, where, schema)


def _wrong_type(op: Operation, where: str, schema: dict[str, Any]) -> Invalid:
    expected = schema.get("type", "object")
    return _in_body(op, Invalid("BadRequestInvalid", f"{where} must be a {expected}."))


def _in_body(op: Operation, error: Invalid) -> Invalid:
    if op.operation_id == QUERY_PREDICTIONS and error.code != "BadRequestInvalidIds":
        return Invalid("BadRequestPredictionInvalidQueryParameters", error.message)
    return error


# -- rules beyond the Swagger -----------------------------------------------------------


def _semantics(op: Operation, values: dict[str, Any]) -> None:
    if op.operation_id == "ExportIteration":
        platform, flavor = values.get("platform"), values.get("flavor")
        if flavor is not None and flavor not in EXPORT_FLAVORS.get(platform or "", frozenset()):
            raise Invalid(
                "BadRequestExportValidationFailed",
                f"Flavor {flavor} is not available for platform {platform}.",
            )
    elif op.operation_id == QUERY_PREDICTIONS:
        query = values.get("query") or {}
        if (query.get("maxCount") or 0) < 0:
            raise Invalid("BadRequestPredictionInvalidQueryParameters", "maxCount is negative.")
        for tag in query.get("tags") or []:
            low, high = tag.get("minThreshold"), tag.get("maxThreshold")
            for bound in (low, high):
                if bound is not None and not 0 <= bound <= 1:
                    raise Invalid(
                        "BadRequestPredictionInvalidQueryParameters",
                        "Tag thresholds must be between 0 and 1.",
                    )
            if low is not None and high is not None and low > high:
                raise Invalid(
                    "BadRequestPredictionInvalidQueryParameters",
                    "minThreshold is greater than maxThreshold.",
                )


# -- wiring -----------------------------------------------------------------------------


def validated(routes: list[Route], api: str, prefix: str) -> list[Route]:
    """``routes`` with each endpoint behind the check of its Swagger operation."""
    checked = []
    for route in routes:
        methods = sorted((route.methods or set()) - {"HEAD"})
        op = operation(api, methods[0], route.path[len(prefix) :])
        checked.append(Route(route.path, _guarded(route.endpoint, op), methods=methods))
    return checked


def _guarded(endpoint: Callable[..., Any], op: Operation) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        request.state.args = await check(request, op)
        response: Response = await endpoint(request)
        return response

    handler.__name__ = getattr(endpoint, "__name__", op.operation_id)
    handler.__doc__ = op.operation_id
    return handler
