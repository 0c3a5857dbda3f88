"""Saved plans of several specs in one file: `cvspec plan DIR -out FILE` writes one,
`cvspec apply FILE` and `cvspec show FILE` read it back.

A plan set is JSON, `{"format": "cvspec-plan-set", "format_version": 1, "plans": [...]}`,
where each entry is exactly what `cvspec plan SPEC -out` saves for one spec (cvspec.planfile:
its own checksum, its spec relative to the current directory and to the set file). Each plan
is checked for staleness on its own when applied.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cvspec import __version__
from cvspec.errors import PlanError
from cvspec.plan import Plan
from cvspec.planfile import plan_document, plan_from_document, spec_of

SET_FORMAT = "cvspec-plan-set"
SET_VERSION = 1
_SNIFF = 4096


def save_plan_set(plans: list[Plan], path: Path) -> None:
    """Write several specs' plans to one file."""
    doc = {
        "format": SET_FORMAT,
        "format_version": SET_VERSION,
        "cvspec_version": __version__,
        "plans": [plan_document(plan, path) for plan in plans],
    }
    path.write_text(json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n", encoding="utf-8")


def is_plan_set(path: Path) -> bool:
    """True when `path` holds a plan set (by content, not by name)."""
    try:
        with path.open("rb") as file:
            head = file.read(_SNIFF)
    except OSError:
        return False
    if not head.lstrip().startswith(b"{") or SET_FORMAT.encode() not in head:
        return False
    return _format(path) == SET_FORMAT


def _format(path: Path) -> Any:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return doc.get("format") if isinstance(doc, dict) else None


def load_plan_set(path: Path) -> list[tuple[Plan, Path]]:
    """Each plan of the set with the spec it was made from.

    Raises:
        PlanError: not a plan set, an unknown version, an altered plan, or a spec not found.
    """
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PlanError(f"{path}: not a cvspec plan set ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != SET_FORMAT:
        raise PlanError(f"{path}: not a cvspec plan set")
    if doc.get("format_version") != SET_VERSION:
        raise PlanError(
            f"{path}: plan set format {doc.get('format_version')!r} is not supported by "
            f"cvspec {__version__} (expects {SET_VERSION}); run `cvspec plan -out` again"
        )
    found = []
    for entry in doc.get("plans") or []:
        if not isinstance(entry, dict):
            raise PlanError(f"{path}: the plan set is damaged")
        plan = plan_from_document(entry, path)
        found.append((plan, spec_of(path, plan, entry.get("spec_from_plan"))))
    return found
