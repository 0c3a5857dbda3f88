"""Saved plans: `cvspec plan -out plan.json` writes one, `cvspec apply plan.json` and
`cvspec show plan.json` read it back.

A plan file is JSON: the plan's operations (each tagged with its class name), its drift,
the spec it came from, and the fingerprint and summary of the live state it was made
against, all covered by a sha256 checksum. Applying re-reads the live state and refuses a
plan whose fingerprint no longer matches (`check_fresh`). Plan files hold no keys or
endpoints: nothing from cvspec.service.Settings is ever written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any

from cvspec import __version__, ops
from cvspec.errors import PlanError, StalePlanError
from cvspec.live import LiveState, LiveSummary, fingerprint_live, summarize_live
from cvspec.plan import Drift, Plan

FILE_FORMAT = "cvspec-plan"
FILE_VERSION = 1


def save_plan(plan: Plan, path: Path) -> None:
    """Write `plan` to `path` (JSON, with a checksum)."""
    body = encode(plan)
    doc = {
        "format": FILE_FORMAT,
        "format_version": FILE_VERSION,
        "cvspec_version": __version__,
        "checksum": _checksum(body),
        "plan": body,
    }
    path.write_text(json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n", encoding="utf-8")


def load_plan(path: Path) -> Plan:
    """Read a plan written by save_plan.

    Raises:
        PlanError: the file is missing, not a cvspec plan, of an unknown version, or altered.
    """
    doc = _read_json(path)
    if not isinstance(doc, dict) or doc.get("format") != FILE_FORMAT:
        raise PlanError(f"{path}: not a cvspec plan file")
    if doc.get("format_version") != FILE_VERSION:
        raise PlanError(
            f"{path}: plan file format {doc.get('format_version')!r} is not supported by "
            f"cvspec {__version__} (expects {FILE_VERSION}); run `cvspec plan -out` again"
        )
    body = doc.get("plan")
    if _checksum(body) != doc.get("checksum"):
        raise PlanError(f"{path}: the plan file was altered after it was saved (checksum)")
    try:
        plan = decode(Plan, body)
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanError(f"{path}: the plan file is damaged: {exc}") from None
    assert isinstance(plan, Plan)
    return plan


def check_fresh(plan: Plan, live: LiveState) -> None:
    """Refuse a saved plan made against a live state that has changed since.

    Raises:
        StalePlanError: "Saved plan is stale: ..." with what changed.
    """
    if fingerprint_live(live) == plan.live_fingerprint:
        return
    now = summarize_live(live)
    changed = plan.live_summary.differences(now) if plan.live_summary else []
    what = "; ".join(changed) if changed else "images, tags or iterations were modified"
    raise StalePlanError(
        f"Saved plan is stale: the project {plan.project_name!r} changed after the plan was "
        f"made ({what}). Run `cvspec plan` again."
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanError(f"{path}: no such plan file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PlanError(f"{path}: not a cvspec plan file ({exc})") from None


def _checksum(body: Any) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# --- the codec: dataclasses <-> JSON, driven by the classes' type hints -------------------

_OP_TYPE = "op"  # not "type": CreateTag has a field of that name


def encode(value: Any) -> Any:
    """A JSON-ready form of a plan value (operations carry their class name)."""
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        body = {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {_OP_TYPE: type(value).__name__, **body} if isinstance(value, ops.Op) else body
    if isinstance(value, tuple | list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    return value


def decode(hint: Any, data: Any) -> Any:
    """The value of type `hint` that `encode` turned into `data`."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _decode_union(typing.get_args(hint), data)
    if origin is tuple:
        return _decode_tuple(typing.get_args(hint), data)
    if origin is dict:
        key, item = typing.get_args(hint)
        return {decode(key, k): decode(item, v) for k, v in _expect(dict, data).items()}
    if hint is ops.Op:
        return _decode_op(data)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(data)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _decode_dataclass(hint, data)
    if hint in (str, int, float, bool):
        return _decode_scalar(hint, data)
    raise TypeError(f"cannot decode {hint!r}")


def _decode_union(args: tuple[Any, ...], data: Any) -> Any:
    if data is None and type(None) in args:
        return None
    (hint,) = [a for a in args if a is not type(None)]
    return decode(hint, data)


def _decode_tuple(args: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    items = _expect(list, data)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(decode(args[0], v) for v in items)
    if len(args) != len(items):
        raise ValueError(f"expected {len(args)} items, found {len(items)}")
    return tuple(decode(a, v) for a, v in zip(args, items, strict=True))


def _decode_op(data: Any) -> ops.Op:
    name = _expect(dict, data).get(_OP_TYPE)
    kind = ops.op_types().get(str(name))
    if kind is None:
        raise ValueError(f"unknown operation {name!r}")
    op = _decode_dataclass(kind, {k: v for k, v in data.items() if k != _OP_TYPE})
    assert isinstance(op, ops.Op)
    return op


def _decode_dataclass(cls: type[Any], data: Any) -> Any:
    fields = _expect(dict, data)
    hints = _hints(cls)
    unknown = set(fields) - set(hints)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown field(s) {', '.join(sorted(unknown))}")
    return cls(**{name: decode(hints[name], value) for name, value in fields.items()})


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    if cls not in _HINTS:
        hints = typing.get_type_hints(cls)
        _HINTS[cls] = {f.name: hints[f.name] for f in dataclasses.fields(cls)}
    return _HINTS[cls]


def _decode_scalar(hint: type[Any], data: Any) -> Any:
    if hint is float and isinstance(data, int) and not isinstance(data, bool):
        return float(data)
    if type(data) is not hint:
        raise ValueError(f"expected {hint.__name__}, found {type(data).__name__}")
    return data


def _expect(kind: type[Any], data: Any) -> Any:
    if not isinstance(data, kind):
        raise ValueError(f"expected {kind.__name__}, found {type(data).__name__}")
    return data


__all__ = ["Drift", "LiveSummary", "check_fresh", "decode", "encode", "load_plan", "save_plan"]
