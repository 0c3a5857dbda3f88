"""Show apply progress. The applier emits events; a Reporter turns them into output.

Three forms, chosen by the command:
* on a terminal: rich draws it: a progress bar for uploads and for batches of calls (count,
  share, rate, ETA), a live training line whose elapsed time moves between polls, the
  evaluation as a table, and the other lines printed above whatever is live;
* otherwise (CI logs, pipes): plain lines, at most one every PERIOD seconds per activity;
* `--json`: every event as one JSON object per line.
The plain lines and the JSON events are documented (docs/apply.md "Progress") and written by
hand here, byte for byte; rich is imported only on a terminal.
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
from typing import TYPE_CHECKING, Any, TextIO

from cvspec import ops
from cvspec.gates import Evaluation, table
from cvspec.render import describe
from cvspec.sdk import RetryNotice

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live
    from rich.progress import Progress, TaskID

PERIOD = 5.0  # seconds between plain progress lines
REFRESH = 4.0  # redraws per second of what is live on a terminal


class Reporter:
    """Callable that receives applier events; writes human text or JSON lines."""

    def __init__(
        self,
        stream: TextIO | None = None,
        as_json: bool = False,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        color: bool = True,
    ) -> None:
        self.stream = stream or sys.stdout
        self.as_json = as_json
        self.tty = interactive(self.stream) if tty is None and not as_json else bool(tty)
        self._clock = clock
        self._color = color  # False: `--no-color`; NO_COLOR is rich's to honour
        self._lock = threading.RLock()
        self._last_line = 0.0  # when the last plain progress line went out
        self._upload_started = 0.0
        self._console: Console | None = None  # on a terminal only
        self._progress: Progress | None = None  # the live bars, while one is running
        self._tasks: dict[str, TaskID] = {}
        self._training: _TrainingLine | None = None
        self._live: Live | None = None  # the live training line

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

    def close(self) -> None:
        """Stop whatever is live on the terminal (its last state stays on screen)."""
        with self._lock:
            self._stop_bars()
            self._stop_training()

    # -- output ----------------------------------------------------------------------

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(
                file=self.stream,
                force_terminal=True,
                get_time=self._clock,
                color_system="auto" if self._color else None,
            )
        return self._console

    def _write(self, text: str) -> None:
        if self.tty:  # above the live bar or line, if one is on screen
            self._print(text)
        else:
            self._raw(text)

    def _raw(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def _print(self, renderable: RenderableType) -> None:
        self.console.print(
            renderable, markup=False, emoji=False, highlight=False, soft_wrap=True, crop=False
        )

    def _periodic(self, text: str, final: bool) -> None:
        now = self._clock()
        if final or now - self._last_line >= PERIOD:
            self._last_line = now
            self._write(text)

    def _json(self, event: str, fields: dict[str, Any]) -> None:
        payload = {"event": event, **{k: plain(v) for k, v in fields.items()}}
        self._raw(json.dumps(payload, default=str))

    # -- the terminal: rich ------------------------------------------------------------

    def _bar(self, key: str, description: str, done: int, total: int, note: str = "") -> None:
        """Start or move the bar `key`; stop the display once every bar is full."""
        self._stop_training()
        if self._progress is None:
            self._progress = _progress(self.console)
            self._progress.start()
            self._tasks = {}
        task = self._tasks.get(key)
        if task is None:
            task = self._tasks[key] = self._progress.add_task(description, total=total, note="")
        self._progress.update(task, completed=done, total=total, note=note)
        if all(t.finished for t in self._progress.tasks):
            self._stop_bars()

    def _stop_bars(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def _stop_training(self, final: str | None = None) -> None:
        if self._live is not None:
            if final is not None:
                from rich.text import Text

                self._live.update(Text(final), refresh=True)
            self._live.stop()
            self._live = None
        self._training = None

    # -- events ----------------------------------------------------------------------

    def _on_op_start(self, op: ops.Op) -> None:
        for line in describe(op, False):
            if not line.startswith("      "):  # the headline(s), not the detail lines
                self._write(line.strip())

    def _on_upload_start(self, total: int, batches: int) -> None:
        self._upload_started = self._clock()
        self._last_line = 0.0
        self._write(f"  uploading {total} images in {batches} batch(es)")
        if self.tty:
            self._tasks.pop("upload", None)
            self._bar("upload", "  uploading", 0, total)

    def _on_upload_progress(self, done: int, total: int, failed: int) -> None:
        if self.tty:
            self._bar("upload", "  uploading", done, total, f"{failed} failed" if failed else "")
            return
        elapsed = max(self._clock() - self._upload_started, 1e-6)
        self._periodic(upload_line(done, total, failed, elapsed), final=done >= total)

    def _on_calls_progress(self, label: str, done: int, total: int) -> None:
        if self.tty:
            self._bar(f"calls:{label}", f"  {label}", done, total)
        else:
            self._periodic(f"  {label}: {done}/{total} call(s)", final=done >= total)

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
        if not self.tty:
            self._periodic(f"  {iteration}: {status} ({elapsed:.0f}s elapsed)", final=False)
            return
        self._stop_bars()
        if self._training is None:
            self._training = _TrainingLine(self._clock)
        self._training.update(iteration, status, elapsed)
        if self._live is None:
            from rich.live import Live

            self._live = Live(
                self._training,
                console=self.console,
                refresh_per_second=REFRESH,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start(refresh=True)

    def _on_training_done(self, iteration: str, status: str, elapsed: float) -> None:
        text = f"  {iteration}: {status} after {elapsed:.0f}s"
        if self.tty and self._live is not None:
            self._stop_training(final=text)
        else:
            self._training = None
            self._write(text)

    def _on_evaluation(self, evaluation: Evaluation) -> None:
        if self.tty:
            self._print(evaluation_grid(evaluation))
            return
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

    def _on_interrupted(self) -> None:
        self.close()


def interactive(stream: TextIO) -> bool:
    """A terminal that can redraw in place: the stream is a TTY and rich finds it interactive
    (not TERM=dumb, not TTY_INTERACTIVE=0). FORCE_COLOR alone does not make a CI log live."""
    try:
        if not stream.isatty():
            return False
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
    from rich.console import Console

    return Console(file=stream).is_interactive


def _progress(console: Console) -> Progress:
    """`  uploading ━━━━━━━━━━━━━━╸━━━━━━━━━━  320/640  50%  310/s  0:00:01  1 failed`"""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Items per second: rich's estimate over the last 30 s; once the bar is full (rich
        keeps no estimate when it filled in one step), the mean over the whole activity."""

        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            if speed is None and task.finished and task.elapsed:
                speed = task.completed / task.elapsed
            return Text("" if speed is None else f"{speed:.0f}/s", style="progress.data.speed")

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=None),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        RateColumn(),
        TimeRemainingColumn(elapsed_when_finished=True),
        TextColumn("{task.fields[note]}", style="red"),
        console=console,
        get_time=console.get_time,
        refresh_per_second=REFRESH,
        redirect_stdout=False,
        redirect_stderr=False,
    )


class _TrainingLine:
    """The live training line: `⠋ cvspec-1: Training (8s elapsed)`, the elapsed time moving
    with the clock between the service's polls."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._state = ("", "", 0.0, 0.0)  # iteration, status, elapsed, when polled

    def update(self, iteration: str, status: str, elapsed: float) -> None:
        self._state = (iteration, status, elapsed, self._clock())

    def text(self) -> str:
        name, status, elapsed, at = self._state
        return f"{name}: {status} ({elapsed + self._clock() - at:.0f}s elapsed)"

    def __rich__(self) -> RenderableType:
        from rich.spinner import Spinner

        return Spinner("dots", text=self.text(), style="cyan")


def evaluation_grid(evaluation: Evaluation) -> RenderableType:
    """The evaluation as a rich table (on a terminal; logs get `gates.table`'s lines)."""
    from rich.console import Group
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    title = f"Evaluation of {evaluation.iteration} at threshold {evaluation.threshold:g}"
    grid = Table()
    grid.add_column("tag")
    for name in ("precision", "recall", "AP"):
        grid.add_column(name, justify="right")
    rows = [*evaluation.per_tag, ("overall", evaluation.overall)]
    for i, (name, m) in enumerate(rows):
        grid.add_row(
            name,
            f"{m.precision:.1%}",
            f"{m.recall:.1%}",
            f"{m.average_precision:.1%}",
            end_section=i == len(rows) - 2,
            style="bold" if name == "overall" else None,
        )
    return Group(
        Padding(Text(title, style="bold"), (0, 0, 0, 2), expand=False),
        Padding(grid, (0, 0, 0, 2), expand=False),
    )


def upload_line(done: int, total: int, failed: int, elapsed: float) -> str:
    """'uploaded 320/5000 images    6%  310/s  ETA 15s': the plain line of CI logs."""
    rate = done / elapsed if elapsed > 0 else 0.0
    share = done / total if total else 1.0
    parts = [f"uploaded {done}/{total} images", f"{share:4.0%}", f"{rate:.0f}/s"]
    if done < total and rate > 0:
        parts.append(f"ETA {(total - done) / rate:.0f}s")
    elif done >= total:
        parts.append(f"in {elapsed:.1f}s")
    if failed:
        parts.append(f"{failed} failed")
    return "  " + "  ".join(parts)


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
