"""The plan: an ordered, immutable list of operations plus what it was made against."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cvspec import ops
from cvspec.live import LiveState


@dataclass(frozen=True)
class Plan:
    project_name: str
    operations: tuple[ops.Op, ...]
    drift: tuple[str, ...]
    live_fingerprint: str
    target: str = ""  # "azure" or "emulator", for display

    def is_empty(self) -> bool:
        return not self.operations

    def of_type(self, kind: type[ops.Op]) -> list[Any]:
        return [op for op in self.operations if isinstance(op, kind)]


def live_fingerprint(live: LiveState) -> str:
    """A digest of the live state, to tell whether a saved plan went stale."""
    text = json.dumps(dataclasses.asdict(live), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def order(operations: list[ops.Op]) -> tuple[ops.Op, ...]:
    """Deterministic execution order: by rank, then by a stable key within a rank."""
    return tuple(sorted(operations, key=lambda op: (ops.rank(op), _key(op))))


def _key(op: ops.Op) -> str:
    for field in ("name", "iteration_name", "publish_name"):
        value = getattr(op, field, None)
        if isinstance(value, str):
            return value
    return ""
