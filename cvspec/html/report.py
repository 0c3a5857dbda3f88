"""Self-contained HTML reports of plans and test runs (docs/reports.md).

One file, nothing fetched when it is opened: the CSS is inline, the charts are inline SVG,
the thumbnails are data: URIs (cvspec.html.thumbs). Jinja2 renders the templates with
autoescaping on: spec names, tags and paths are user input.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from cvspec import __version__
from cvspec.gates import Evaluation
from cvspec.html.charts import Chart, bar_chart, heat_map
from cvspec.html.plan_view import SAMPLE, Group, image_groups, tag_counts
from cvspec.html.thumbs import thumbnails
from cvspec.plan import Plan
from cvspec.render import render_text, summarize
from cvspec.testreport import SetReport, test_document

MISCLASSIFIED_SAMPLE = 60  # thumbnails of misclassified images at most

ThumbnailFetcher = Callable[[Sequence[str]], Mapping[str, str]]
"""Image ids -> data: URIs of the service's thumbnails (for deleted images, not on disk)."""


@dataclass(frozen=True)
class EvaluationColumn:
    """One iteration's evaluation in the side-by-side view (None: nothing to show, `note`
    says why)."""

    title: str
    evaluation: Evaluation | None
    note: str = ""


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("cvspec.html", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda v: "-" if v is None else f"{v:.1%}"
    return env


def render_plan_html(
    plan: Plan,
    base_dir: Path | None,
    before: Mapping[str, int] | None = None,
    evaluations: Sequence[EvaluationColumn] | None = None,
    fetch: ThumbnailFetcher | None = None,
    sample: int = SAMPLE,
) -> str:
    """The plan as a report: counts, images by group, tag counts, evaluations, the text plan.

    `base_dir` is the spec's directory (image paths are relative to it); `before` the live
    per-tag image counts, when known; `evaluations` the iterations' evaluations (None: not
    read, a saved plan); `fetch` makes thumbnails of images only the service has.
    """
    groups = image_groups(plan, sample)
    tiles = _group_tiles(groups, base_dir, fetch)
    summary = summarize(plan)
    return (
        _environment()
        .get_template("plan.html.j2")
        .render(
            title=f"cvspec plan: {plan.project_name}",
            generated=_now(),
            version=__version__,
            plan=plan,
            summary=summary,
            groups=list(zip(groups, tiles, strict=True)),
            tag_counts=tag_counts(plan, before),
            before_known=before is not None,
            evaluations=None
            if evaluations is None
            else [(c, _evaluation_chart(c.evaluation)) for c in evaluations],
            text_plan=render_text(plan, verbose=False, color=False),
        )
    )


def _group_tiles(
    groups: Sequence[Group], base_dir: Path | None, fetch: ThumbnailFetcher | None
) -> list[list[str | None]]:
    """The thumbnails of every group's sample, made once per image."""
    paths = sorted({i.path for g in groups for i in g.sample if i.path is not None})
    local = dict(
        zip(
            paths,
            thumbnails(base_dir / p if base_dir is not None else None for p in paths),
            strict=True,
        )
    )
    ids = sorted({i.image_id for g in groups for i in g.sample if i.path is None and i.image_id})
    remote = dict(fetch(ids)) if fetch is not None and ids else {}
    return [
        [local.get(i.path) if i.path else remote.get(i.image_id or "") for i in g.sample]
        for g in groups
    ]


def _evaluation_chart(evaluation: Evaluation | None) -> Chart | None:
    if evaluation is None:
        return None
    groups = [(tag, (m.precision, m.recall)) for tag, m in evaluation.per_tag]
    return bar_chart(groups, ("precision", "recall"))


def render_test_html(report: SetReport) -> str:
    """`cvspec test`'s report: figures, per-tag chart, heat map, misclassified images."""
    s = report.score
    wrong = s.misclassified[:MISCLASSIFIED_SAMPLE]
    uris = thumbnails(Path(m.path) for m in wrong)
    chart = bar_chart(
        [(t.tag, (t.precision, t.recall, t.average_precision)) for t in s.per_tag],
        ("precision", "recall", "AP"),
    )
    return (
        _environment()
        .get_template("test.html.j2")
        .render(
            title=f"cvspec test: {report.project}",
            generated=_now(),
            version=__version__,
            report=report,
            doc=test_document(report),
            score=s,
            overall=s.overall(),
            tag_chart=chart,
            heat=heat_map(s.tags, s.confusion) if s.confusion else None,
            misclassified=list(zip(wrong, uris, strict=True)),
        )
    )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
