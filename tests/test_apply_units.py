"""The applier's pure parts: batching within the service's limits, the shared rate limiter,
quality gates, and the three forms of progress output."""

from __future__ import annotations

import io
import json
import threading
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from cvspec import ops
from cvspec.gates import Evaluation, Metrics, check_gates, table
from cvspec.progress import Reporter, upload_line
from cvspec.ratelimit import RateLimiter
from cvspec.upload import BATCH_IMAGES, BATCH_TAGS, batches

# -- batching ---------------------------------------------------------------------------


def _image(n: int, tags: tuple[str, ...], url: bool = False) -> ops.ImageUpload:
    path = f"https://example.com/{n}.png" if url else f"img/{n}.png"
    return ops.ImageUpload(sha256=f"{n:064x}", path=path, tags=tags, url=path if url else None)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from([f"t{i}" for i in range(45)]), max_size=25, unique=True),
            st.booleans(),
        ),
        max_size=300,
    )
)
def test_batches_respect_every_limit_and_keep_every_image(
    spec: list[tuple[list[str], bool]],
) -> None:
    images = [_image(n, tuple(sorted(tags)), url) for n, (tags, url) in enumerate(spec)]
    found = batches(images)
    for batch in found:
        assert 1 <= len(batch.images) <= BATCH_IMAGES
        assert len(batch.tags()) <= BATCH_TAGS
        assert len({i.url is None for i in batch.images}) == 1  # files and URLs never mix
    uploaded = {i.path: set(i.tags) for b in found for i in b.images}
    for batch in found:
        for path, extra in batch.extra:
            uploaded[path] |= set(extra)
    assert uploaded == {i.path: set(i.tags) for i in images}
    assert sum(len(b.images) for b in found) == len(images)


def test_sixty_four_images_with_one_tag_fill_one_batch() -> None:
    images = [_image(n, ("cat",)) for n in range(64 * 3)]
    assert [len(b.images) for b in batches(images)] == [64, 64, 64]


def test_many_tags_are_grouped_so_batches_stay_full() -> None:
    # 100 tags, 10 images each: unsorted input would split on nearly every image.
    images = [_image(n, (f"tag{n % 100:03d}",)) for n in range(1000)]
    found = batches(images)
    assert len(found) <= 1000 // BATCH_IMAGES + 2


# -- rate limiter -----------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def test_limiter_never_allows_more_than_the_rate_in_any_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock.time, sleep=clock.sleep)
    starts = []
    for _ in range(95):
        limiter.acquire()
        starts.append(clock.now)
    for i, start in enumerate(starts):
        in_window = [s for s in starts[i:] if s < start + 1.0]
        assert len(in_window) <= 10
    assert 9.0 <= starts[-1] <= 9.0 * 1.06  # ~95 calls in ~9 s: close to the ceiling


def test_a_pause_holds_every_caller() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock.time, sleep=clock.sleep)
    limiter.acquire()
    limiter.pause(2.0)
    waited = limiter.acquire()
    assert waited >= 2.0


def test_limiter_is_shared_by_threads() -> None:
    limiter = RateLimiter(200)
    starts: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            limiter.acquire()
            with lock:
                starts.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    starts.sort()
    for i, start in enumerate(starts):
        assert len([s for s in starts[i:] if s < start + 1.0]) <= 200
    assert len(starts) == 400
    assert starts[-1] - starts[0] >= 1.0  # 400 calls at 200/s: the second 200 wait a window


# -- gates ------------------------------------------------------------------------------


def _evaluation(p: float, r: float, ap: float, **tags: tuple[float, float, float]) -> Evaluation:
    per_tag = tuple(sorted((name, Metrics(*m)) for name, m in tags.items()))
    return Evaluation("cvspec-new", 0.5, Metrics(p, r, ap), per_tag)


def test_gates_report_each_failure_with_its_figures() -> None:
    gates = ops.Gates(
        min_precision=0.9,
        min_recall=0.5,
        per_tag=(ops.TagGate("cat", min_recall=0.8), ops.TagGate("dog", min_ap=0.5)),
    )
    evaluation = _evaluation(0.85, 0.9, 0.9, cat=(1.0, 0.7, 0.9))
    failures = [f.describe() for f in check_gates(gates, evaluation)]
    assert failures == [
        "min_precision: 0.850 < 0.900",
        "per_tag.cat.min_recall: 0.700 < 0.800",
        "per_tag.dog.min_ap: missing < 0.500",
    ]


def test_no_regression_compares_with_the_published_iteration() -> None:
    gates = ops.Gates(no_regression=True, regression_tolerance=0.05)
    old = _evaluation(0.9, 0.9, 0.9)
    assert check_gates(gates, _evaluation(0.86, 0.95, 0.9), old) == []
    failures = check_gates(gates, _evaluation(0.84, 0.95, 0.9), old)
    assert [f.gate for f in failures] == ["no_regression.precision"]
    assert check_gates(gates, _evaluation(0.1, 0.1, 0.1), None) == []  # nothing published


def test_evaluation_table_lists_tags_then_overall() -> None:
    lines = table(_evaluation(0.5, 0.25, 0.75, cat=(1.0, 0.5, 0.8)))
    assert lines[0] == "Evaluation of cvspec-new at threshold 0.5:"
    assert lines[2].split() == ["cat", "100.0%", "50.0%", "80.0%"]
    assert lines[3].split() == ["overall", "50.0%", "25.0%", "75.0%"]


# -- progress ---------------------------------------------------------------------------


def test_json_mode_writes_one_event_per_line() -> None:
    out = io.StringIO()
    reporter = Reporter(out, as_json=True)
    reporter("upload_progress", done=64, total=128, failed=0)
    reporter("evaluation", evaluation=_evaluation(1, 1, 1))
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert events[0] == {"event": "upload_progress", "done": 64, "total": 128, "failed": 0}
    assert events[1]["evaluation"]["overall"]["precision"] == 1


def test_plain_mode_prints_periodic_lines_and_always_the_last() -> None:
    out, now = io.StringIO(), [0.0]
    reporter = Reporter(out, tty=False, clock=lambda: now[0])
    reporter("upload_start", total=640, batches=10)
    for done in range(64, 641, 64):
        now[0] += 1.0
        reporter("upload_progress", done=done, total=640, failed=0)
    lines = [line for line in out.getvalue().splitlines() if "uploaded" in line]
    assert len(lines) == 2  # one after 5 s, then the final count
    assert "\r" not in out.getvalue()
    assert lines[0].strip().startswith("uploaded 320/640 images")
    assert lines[-1].strip().startswith("uploaded 640/640 images")


def test_terminal_mode_draws_a_rich_bar_with_count_share_rate_and_eta() -> None:
    out, now = io.StringIO(), [0.0]
    reporter = Reporter(out, tty=True, clock=lambda: now[0])
    reporter("upload_start", total=640, batches=10)
    for done in (160, 320):
        now[0] += 1.0
        reporter("upload_progress", done=done, total=640, failed=1)
    reporter.close()
    last = out.getvalue().split("\r")[-1]  # the bar as it was last redrawn
    assert "━" in last and "\x1b[" in last  # rich's bar, coloured
    words = strip_ansi(last).split()
    assert words[0] == "uploading" and words[2:] == [
        "320/640",
        "50%",
        "160/s",
        "0:00:02",
        "1",
        "failed",
    ]


def test_terminal_bar_without_colour_has_no_styles() -> None:
    out, now = io.StringIO(), [0.0]
    reporter = Reporter(out, tty=True, clock=lambda: now[0], color=False)
    reporter("calls_progress", label="tagging", done=1, total=4)
    now[0] = 1.0
    reporter("calls_progress", label="tagging", done=4, total=4)  # full: the bar stops
    text = out.getvalue()
    assert "\x1b[3" not in text and "\x1b[9" not in text and "\x1b[1m" not in text
    assert strip_ansi(text.split("\r")[-1]).split()[2:4] == ["4/4", "100%"]
    assert text.endswith("\n\x1b[?25h")  # a finished bar stays on screen; the cursor is back


def test_terminal_evaluation_is_a_rich_table() -> None:
    out = io.StringIO()
    Reporter(out, tty=True, color=False)("evaluation", evaluation=_evaluation(0.5, 0.25, 0.75))
    lines = out.getvalue().splitlines()
    assert lines[0] == "  Evaluation of cvspec-new at threshold 0.5"
    assert lines[2].split("┃")[1:5] == [" tag     ", " precision ", " recall ", "    AP "]
    assert lines[-2].split("│")[1:5] == [" overall ", "     50.0% ", "  25.0% ", " 75.0% "]


def test_plain_evaluation_keeps_its_documented_lines() -> None:
    out = io.StringIO()
    evaluation = _evaluation(0.5, 0.25, 0.75, cat=(1.0, 0.5, 0.8))
    Reporter(out, tty=False)("evaluation", evaluation=evaluation)
    assert out.getvalue() == "".join(f"  {line}\n" for line in table(evaluation))


def strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def test_upload_line_at_the_end_shows_the_duration() -> None:
    assert upload_line(24, 24, 0, 2.0).split() == [
        "uploaded",
        "24/24",
        "images",
        "100%",
        "12/s",
        "in",
        "2.0s",
    ]


def test_terminal_training_line_moves_between_polls() -> None:
    out, now = io.StringIO(), [100.0]
    reporter = Reporter(out, tty=True, clock=lambda: now[0])
    reporter("training", iteration="cvspec-1", status="Training", elapsed=3.0)
    now[0] = 105.0  # five seconds later, and no poll yet
    time.sleep(0.6)  # rich redraws the line 4 times a second
    assert "cvspec-1: Training (8s elapsed)" in out.getvalue()
    reporter("training_done", iteration="cvspec-1", status="Completed", elapsed=9.0)
    after = out.getvalue()
    time.sleep(0.6)
    assert out.getvalue() == after  # nothing live any more
    assert strip_ansi(after.split("\r")[-1]) == "  cvspec-1: Completed after 9s\n"
