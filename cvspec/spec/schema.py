"""The spec's JSON Schema, for `cvspec schema` and editors (yaml-language-server)."""

from __future__ import annotations

from typing import Any

from cvspec.spec.model import Spec

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def spec_json_schema() -> dict[str, Any]:
    """The JSON Schema of a version-1 spec, with every field's description."""
    schema = Spec.model_json_schema(mode="validation")
    return {"$schema": SCHEMA_DIALECT, "title": "cvspec spec (version 1)", **_untitled(schema)}


def _untitled(schema: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in schema.items() if key != "title"}
