"""Saved plans: `cvspec plan -out FILE` writes one, `cvspec apply FILE` and `cvspec show
FILE` read it back. A plan file is recognised by its content, whatever its name (`plan.json`,
`plan.out`, `tfplan`).

A plan file is JSON: the plan's operations (each tagged with its class name), its drift,
the spec it came from, and the fingerprint and summary of the live state it was made
against, all covered by a sha256 checksum. Applying re-reads the live state and refuses a
plan whose fingerprint no longer matches (`check_fresh`). Plan files hold no keys: of the
service's settings only the training endpoint's host name is written (`Plan.target_host`,
so that a plan made for one resource is not applied to another).

Paths are portable (format 2): the spec is recorded relative to the current directory at
plan time (`plan.spec_path`) and relative to the plan file's folder (`spec_from_plan`), and
image paths relative to the spec's folder, so that a plan made in one checkout applies in
another (a CI artifact downloaded in another job's folder). `saved_spec` finds the spec:
relative to the current directory first, then relative to the plan file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
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
FILE_VERSION = 2  # 2: spec paths relative (to the current directory and to the plan file)
_SNIFF = 4096  # bytes read to tell a plan file from a spec


def save_plan(plan: Plan, path: Path) -> None:
    """Write `plan` to `path` (JSON, with a checksum)."""
    doc = plan_document(plan, path)
    path.write_text(json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n", encoding="utf-8")


def plan_document(plan: Plan, path: Path) -> dict[str, Any]:
    """The saved form of `plan`, to be written at `path` (its spec is recorded relative to
    the current directory and to `path`'s folder)."""
    body = encode(plan)
    spec_from_plan = _relative_to(plan.spec_path, path.parent) if plan.spec_path else ""
    return {
        "format": FILE_FORMAT,
        "format_version": FILE_VERSION,
        "cvspec_version": __version__,
        "checksum": _checksum([body, spec_from_plan]),
        "plan": body,
        "spec_from_plan": spec_from_plan,
    }


def load_plan(path: Path) -> Plan:
    """Read a plan written by save_plan.

    Raises:
        PlanError: the file is missing, not a cvspec plan, of an unknown version, or altered.
    """
    return plan_from_document(_read_plan_doc(path), path)


def plan_from_document(doc: dict[str, Any], path: Path) -> Plan:
    """The plan of a saved document (see plan_document); PlanError when it was altered."""
    if doc.get("format") != FILE_FORMAT or doc.get("format_version") != FILE_VERSION:
        raise PlanError(f"{path}: not a cvspec plan of format {FILE_VERSION}")
    body = doc.get("plan")
    if _checksum([body, doc.get("spec_from_plan")]) != doc.get("checksum"):
        raise PlanError(f"{path}: the plan file was altered after it was saved (checksum)")
    try:
        plan = decode(Plan, body)
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanError(f"{path}: the plan file is damaged: {exc}") from None
    assert isinstance(plan, Plan)
    return plan


def _read_plan_doc(path: Path) -> dict[str, Any]:
    doc = _read_json(path)
    if not isinstance(doc, dict) or doc.get("format") != FILE_FORMAT:
        raise PlanError(f"{path}: not a cvspec plan file")
    if doc.get("format_version") != FILE_VERSION:
        made_by = doc.get("cvspec_version")
        raise PlanError(
            f"{path}: plan file format {doc.get('format_version')!r}"
            + (f" (written by cvspec {made_by})" if made_by else "")
            + f" is not supported by cvspec {__version__} (expects {FILE_VERSION}); run "
            "`cvspec plan -out` again"
        )
    return doc


def is_plan_file(path: Path) -> bool:
    """True when `path` holds a plan saved by `cvspec plan -out` (by content, not by name).

    A spec never is one: YAML specs do not start with `{`, and a spec written as JSON has no
    `"format": "cvspec-plan"`. A missing or unreadable file is not a plan (the spec's reader
    then says what is wrong with it).
    """
    try:
        with path.open("rb") as file:
            head = file.read(_SNIFF)
    except OSError:
        return False
    if not head.lstrip().startswith(b"{") or FILE_FORMAT.encode() not in head:
        return False
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(doc, dict) and doc.get("format") == FILE_FORMAT


def saved_spec(path: Path, plan: Plan) -> Path:
    """The spec a saved plan was made from: its recorded path relative to the current
    directory, else relative to the plan file's folder (the file's recorded location).

    Raises:
        PlanError: the plan names no spec, or the spec is at neither place.
    """
    return spec_of(path, plan, _read_plan_doc(path).get("spec_from_plan"))


def spec_of(path: Path, plan: Plan, from_plan: Any) -> Path:
    """saved_spec, given the spec's path relative to the file at `path` (`spec_from_plan`)."""
    if not plan.spec_path:
        raise PlanError(f"{path}: the plan does not say which spec it was made from")
    from_cwd = Path(plan.spec_path)
    if from_cwd.is_file():
        return from_cwd
    if isinstance(from_plan, str) and from_plan:
        beside = path.parent / from_plan
        if beside.is_file():
            return beside
    where = f" nor at {path.parent / from_plan} (relative to the plan file)" if from_plan else ""
    raise PlanError(
        f"{path}: the spec the plan was made from is not at {plan.spec_path} (relative to "
        f"the current directory){where}; apply from the checkout folder the plan was made in"
    )


def _relative_to(spec_path: str, folder: Path) -> str:
    """`spec_path` (relative to the current directory) relative to `folder`."""
    try:
        return os.path.relpath(os.path.abspath(spec_path), os.path.abspath(folder)).replace(
            os.sep, "/"
        )
    except ValueError:  # another drive
        return os.path.abspath(spec_path)


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
    if hint is Any:  # plain JSON data (a setting's value)
        return data
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


__all__ = [
    "Drift",
    "LiveSummary",
    "check_fresh",
    "decode",
    "encode",
    "is_plan_file",
    "load_plan",
    "save_plan",
    "saved_spec",
]
