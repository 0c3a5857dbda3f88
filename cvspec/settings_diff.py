"""What changes inside a setting: a structured difference of two plain dicts, by deepdiff.

The plan compares the few settings of a project, a tag, a publish name (gates included) as
nested plain dicts, and reports each difference by its dotted path
(`gates.per_tag.cat.min_recall: 0.8 -> 0.9`). deepdiff finds those differences at any depth,
added and removed keys included, so no comparison is written by hand field by field. It is
used only for these few small dicts: the images (up to 100,000 and more) are compared with
set algebra on their content keys in cvspec.diff, which stays linear and allocation-light
where a generic deep comparison would not be.

Pure: no I/O. deepdiff is imported on the first difference only, so that a plan without
setting changes (the usual no-op plan) does not pay for its import.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

_MISSING: Any = object()
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class SettingChange:
    """One setting that differs: its dotted path, and its value on each side (None when the
    setting is absent on that side). A list is one setting: its path is the list's."""

    path: str
    before: Any
    after: Any


def setting_changes(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[SettingChange, ...]:
    """Every setting that differs between `before` (live) and `after` (desired), in the
    order of their keys (`after`'s first), with nested dicts reported key by key.

    Numbers compare by value (`1 == 1.0`); lists compare as a whole.
    """
    if before == after:
        return ()
    from deepdiff import DeepDiff  # only when something differs: see the module's docstring

    found = DeepDiff(
        dict(before),
        dict(after),
        view="tree",
        ignore_numeric_type_changes=True,
        threshold_to_diff_deeper=0,  # always report inside a dict, never the whole dict
    )
    keys: dict[tuple[Any, ...], None] = {}
    for levels in found.values():
        for level in levels:
            keys[_setting_key(level.path(output_format="list"))] = None
    order = {key: n for n, key in enumerate(_keys(after))}
    order.update({k: len(order) + n for n, k in enumerate(_keys(before)) if k not in order})
    result = []
    for key in sorted(keys, key=lambda k: order.get(k, len(order))):
        old, new = _get(before, key), _get(after, key)
        if old == new:  # also both absent
            continue
        result.append(
            SettingChange(
                dotted(key), None if old is _MISSING else old, None if new is _MISSING else new
            )
        )
    return tuple(result)


def values(changes: tuple[SettingChange, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The changed settings only, by path: (before, after), for an operation to carry."""
    return {c.path: c.before for c in changes}, {c.path: c.after for c in changes}


def dotted(key: tuple[Any, ...]) -> str:
    """`("gates", "per_tag", "cat", "min_recall")` -> `gates.per_tag.cat.min_recall`; a key
    that is not a plain word is quoted in brackets: `gates.per_tag["big cat"].min_recall`."""
    text = ""
    for part in key:
        part = str(part)
        if _PLAIN_KEY.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part)}]"
    return text


def _setting_key(path: list[Any]) -> tuple[Any, ...]:
    """The path of the setting a difference is in: a list is one setting."""
    for n, part in enumerate(path):
        if isinstance(part, int):
            return tuple(path[:n])
    return tuple(path)


def _keys(values: Mapping[str, Any], prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    for key, value in values.items():
        yield (*prefix, key)
        if isinstance(value, Mapping):
            yield from _keys(value, (*prefix, key))


def _get(values: Any, key: tuple[Any, ...]) -> Any:
    for part in key:
        if not isinstance(values, Mapping) or part not in values:
            return _MISSING
        values = values[part]
    return values
