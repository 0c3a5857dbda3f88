"""Show apply progress: events from the applier become lines (or a live line on a terminal)."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from cvspec import ops
from cvspec.render import describe


class Reporter:
    """Callable that receives applier events; writes human text or JSON lines."""

    def __init__(self, stream: TextIO | None = None, as_json: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.as_json = as_json
        self.tty = self.stream.isatty()
        self._last_training = -1.0

    def __call__(self, event: str, **fields: Any) -> None:
        if self.as_json:
            self._json(event, fields)
            return
        handler = getattr(self, f"_on_{event}", None)
        if handler is not None:
            handler(**fields)

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def _json(self, event: str, fields: dict[str, Any]) -> None:
        payload = {"event": event, **{k: _plain(v) for k, v in fields.items()}}
        self._write(json.dumps(payload, default=str))

    def _on_op_start(self, op: ops.Op) -> None:
        self._write(describe(op, False)[0].strip())

    def _on_upload_progress(self, done: int, total: int) -> None:
        if self.tty:
            self.stream.write(f"\r  uploaded {done}/{total} images")
            self.stream.write("\n" if done == total else "")
            self.stream.flush()
        else:
            self._write(f"  uploaded {done}/{total} images")

    def _on_training(self, iteration: str, status: str, elapsed: float) -> None:
        if self.tty:
            self.stream.write(f"\r  {iteration}: {status} ({elapsed:.0f}s elapsed)")
            self.stream.flush()
        elif elapsed - self._last_training >= 10 or self._last_training < 0:
            self._last_training = elapsed
            self._write(f"  {iteration}: {status} ({elapsed:.0f}s elapsed)")

    def _on_training_done(self, iteration: str, status: str, elapsed: float) -> None:
        prefix = "\r" if self.tty else ""
        self.stream.write(f"{prefix}  {iteration}: {status} after {elapsed:.0f}s\n")
        self.stream.flush()

    def _on_evaluation(self, iteration: str, performance: Any) -> None:
        for line in evaluation_table(performance):
            self._write("  " + line)


def evaluation_table(perf: Any) -> list[str]:
    """Per-tag and overall precision, recall and AP, as the portal shows them."""
    rows = [(t.name, t.precision, t.recall, t.average_precision) for t in perf.per_tag_performance]
    rows.sort()
    width = max([len("overall"), *(len(r[0]) for r in rows)])
    lines = [f"{'tag':<{width}}  precision  recall     AP"]
    for name, p, r, ap in rows:
        lines.append(f"{name:<{width}}  {p or 0:9.1%}  {r or 0:6.1%}  {ap or 0:5.1%}")
    lines.append(
        f"{'overall':<{width}}  {perf.precision or 0:9.1%}  {perf.recall or 0:6.1%}  "
        f"{perf.average_precision or 0:5.1%}"
    )
    return lines


def _plain(value: Any) -> Any:
    if isinstance(value, ops.Op):
        return {"type": type(value).__name__, "reason": value.reason}
    if hasattr(value, "as_dict"):
        return value.as_dict()
    return value
