"""Pydantic validation errors rewritten as short messages that say what to fix."""

from __future__ import annotations

import difflib
import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from cvspec.spec.model import Spec
from cvspec.spec.yamldoc import Loc


def describe_error(error: ErrorDetails) -> tuple[str, bool]:
    """The message for one error, and whether it points at the key rather than the value."""
    loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        keys = allowed_keys(loc[:-1])
        near = difflib.get_close_matches(str(loc[-1]), keys, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        return f"unknown key {loc[-1]!r}{hint}; allowed keys: {', '.join(keys) or 'none'}", True
    if kind == "missing":
        return f"missing required key {loc[-1]!r}", False
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping, got {_yaml_type(error['input'])}", False
    if kind == "list_type":
        return f"expected a list, got {_yaml_type(error['input'])}", False
    if kind == "string_too_long":  # never echo the text: it may be megabytes
        limit = (error.get("ctx") or {}).get("max_length")
        return f"too long: {len(error['input']):,} characters, at most {limit:,}", False
    if kind == "value_error":
        return error["msg"].removeprefix("Value error, "), False
    message = error["msg"].replace("Input should be", "should be", 1)
    return f"{message}, got {_shown(error['input'])}", False


def allowed_keys(loc: Loc) -> list[str]:
    """The keys a mapping at `loc` may have (the fields of the model there)."""
    candidates: list[Any] = [Spec]
    for part in loc:
        candidates = [child for parent in candidates for child in _children(parent, part)]
    return [
        name
        for model in candidates
        if isinstance(model, type) and issubclass(model, BaseModel)
        for name in model.model_fields
    ]


def _children(annotation: Any, part: str | int) -> list[Any]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        return _flatten(field.annotation) if field is not None else []
    if get_origin(annotation) in (list, dict):
        return _flatten(get_args(annotation)[-1])
    return []


def _flatten(annotation: Any) -> list[Any]:
    if get_origin(annotation) in (Union, types.UnionType):
        return [arg for member in get_args(annotation) for arg in _flatten(member)]
    return [annotation]


def _yaml_type(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}
    names |= {int: "a number", float: "a number", type(None): "null"}
    return f"{names.get(type(value), type(value).__name__)} ({_shown(value)})"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
