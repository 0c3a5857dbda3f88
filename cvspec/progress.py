"""Show apply progress. The applier emits events; a Reporter turns them into output.

Three forms, chosen by the command:
* on a terminal: a live progress bar for uploads (count, rate, ETA) and a live training line;
* otherwise (CI logs, pipes): plain lines, at most one every PERIOD seconds per activity;
* `--json`: every event as one JSON object per line.
Events may come from worker threads; the Reporter serialises its writes.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import time
from collections.abc import Callable
from enum import Enum
from typing import Any, TextIO

from cvspec import ops
from cvspec.gates import Evaluation, table
from cvspec.render import describe
from cvspec.sdk import RetryNotice

PERIOD = 5.0  # seconds between plain progress lines
TTY_REFRESH = 0.1  # seconds between redraws of a live line
BAR_WIDTH = 24
TICK = 1.0  # seconds between redraws of a live training line


class Reporter:
    """Callable that receives applier events; writes human text or JSON lines."""

    def __init__(
        self,
        stream: TextIO | None = None,
        as_json: bool = False,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stdout
        self.as_json = as_json
        self.tty = self.stream.isatty() if tty is None else tty
        self._clock = clock
        self._lock = threading.RLock()
        self._last_line = 0.0  # when the last plain progress line or redraw went out
        self._live = False  # a live (\r) line is on screen
        self._upload_started = 0.0
        self._training: tuple[str, str, float, float] | None = None  # name, status, elapsed, at
        self._ticker: threading.Thread | None = None

    def __call__(self, event: str, **fields: Any) -> None:
        with self._lock:
            if self.as_json:
                self._json(event, fields)
                return
            handler = getattr(self, f"_on_{event}", None)
            if handler is not None:
                handler(**fields)

    def retry(self, notice: RetryNotice) -> None:
        """Observer for cvspec.sdk: a call is being retried."""
        self("retry", **dataclasses.asdict(notice))

    # -- output ----------------------------------------------------------------------

    def _write(self, text: str) -> None:
        if self._live:
            self.stream.write("\n")
            self._live = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def _redraw(self, text: str, final: bool) -> None:
        now = self._clock()
        if not final and now - self._last_line < TTY_REFRESH:
            return
        self._last_line = now
        self.stream.write("\r\033[K" + text + ("\n" if final else ""))
        self.stream.flush()
        self._live = not final

    def _periodic(self, text: str, final: bool) -> None:
        now = self._clock()
        if final or now - self._last_line >= PERIOD:
            self._last_line = now
            self._write(text)

    def _json(self, event: str, fields: dict[str, Any]) -> None:
        payload = {"event": event, **{k: plain(v) for k, v in fields.items()}}
        self._write(json.dumps(payload, default=str))

    # -- events ----------------------------------------------------------------------

    def _on_op_start(self, op: ops.Op) -> None:
        for line in describe(op, False):
            if not line.startswith("      "):  # the headline(s), not the detail lines
                self._write(line.strip())

    def _on_upload_start(self, total: int, batches: int) -> None:
        self._upload_started = self._clock()
        self._last_line = 0.0
        self._write(f"  uploading {total} images in {batches} batch(es)")

    def _on_upload_progress(self, done: int, total: int, failed: int) -> None:
        elapsed = max(self._clock() - self._upload_started, 1e-6)
        final = done >= total
        text = upload_line(done, total, failed, elapsed, bar=self.tty)
        if self.tty:
            self._redraw(text, final)
        else:
            self._periodic(text, final)

    def _on_calls_progress(self, label: str, done: int, total: int) -> None:
        text = f"  {label}: {done}/{total} call(s)"
        if self.tty:
            self._redraw(text, final=done >= total)
        else:
            self._periodic(text, final=done >= total)

    def _on_image_failed(self, path: str, message: str) -> None:
        self._write(f"  ! {path}: {message}")

    def _on_training_adopted(self, iteration: str, adopted: str) -> None:
        self._write(f"  adopting iteration {adopted!r} (trained earlier) as {iteration!r}")

    def _on_training_skipped(self, failures: int) -> None:
        self._write(f"  training and publishing skipped: {failures} image(s) failed")

    def _on_iteration_kept(self, iteration: str) -> None:
        self._write(f"  kept iteration {iteration!r}: adopted or published during this apply")

    def _on_training_waiting(self, iteration: str, other: str) -> None:
        self._write(f"  waiting for iteration {other!r} (started earlier) before training")

    def _on_training(self, iteration: str, status: str, elapsed: float) -> None:
        text = f"  {iteration}: {status} ({elapsed:.0f}s elapsed)"
        if self.tty:
            self._training = (iteration, status, elapsed, self._clock())
            self._redraw(text, final=False)
            self._start_ticker()
        else:
            self._periodic(text, final=False)

    def _start_ticker(self) -> None:
        """On a terminal, the elapsed time of a training moves every second between polls."""
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="cvspec-ticker", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        while True:
            time.sleep(TICK)
            with self._lock:
                if self._training is None:
                    self._ticker = None
                    return
                name, status, elapsed, at = self._training
                now = elapsed + self._clock() - at
                self._redraw(f"  {name}: {status} ({now:.0f}s elapsed)", final=False)

    def _on_training_done(self, iteration: str, status: str, elapsed: float) -> None:
        self._training = None
        text = f"  {iteration}: {status} after {elapsed:.0f}s"
        if self.tty:
            self._redraw(text, final=True)
        else:
            self._write(text)

    def _on_evaluation(self, evaluation: Evaluation) -> None:
        for line in table(evaluation):
            self._write("  " + line)

    def _on_gate_failed(self, iteration: str, failures: list[str]) -> None:
        self._write(f"  quality gates failed for {iteration}:")
        for failure in failures:
            self._write(f"    ✗ {failure}")

    def _on_gates_passed(self, iteration: str) -> None:
        self._write(f"  quality gates passed for {iteration}")

    def _on_published(self, publish_name: str, iteration: str) -> None:
        self._write(f"  published {iteration} as {publish_name!r}")

    def _on_retry(self, operation: str, attempt: int, reason: str, delay: float) -> None:
        if not self.tty:  # on a terminal the summary counts them; logs get the detail
            self._write(f"  retrying {operation} after {reason} (attempt {attempt}, {delay:.1f}s)")


def upload_line(done: int, total: int, failed: int, elapsed: float, bar: bool) -> str:
    """'[#####-----] 320/5000 images  6%  310/s  ETA 15s' (the bar only on a terminal)."""
    rate = done / elapsed if elapsed > 0 else 0.0
    share = done / total if total else 1.0
    parts = [f"uploaded {done}/{total} images", f"{share:4.0%}", f"{rate:.0f}/s"]
    if done < total and rate > 0:
        parts.append(f"ETA {(total - done) / rate:.0f}s")
    elif done >= total:
        parts.append(f"in {elapsed:.1f}s")
    if failed:
        parts.append(f"{failed} failed")
    text = "  ".join(parts)
    if bar:
        filled = int(BAR_WIDTH * share)
        text = "[" + "#" * filled + "-" * (BAR_WIDTH - filled) + "] " + text
    return "  " + text


def plain(value: Any) -> Any:
    """A JSON-friendly form of an event field."""
    if isinstance(value, ops.Op):
        return {
            "type": type(value).__name__,
            "reason": value.reason,
            "reason_code": str(getattr(value, "reason_code", "")),
        }
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "as_dict"):
        return value.as_dict()
    return value


def evaluation_table(evaluation: Evaluation) -> list[str]:
    """The evaluation table (kept for callers of the first version)."""
    return table(evaluation)
