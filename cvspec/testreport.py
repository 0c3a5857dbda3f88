"""`cvspec test`'s result, and its text and JSON forms (docs/reports.md; pure: no I/O)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cvspec import __version__
from cvspec.scoring import Classified, Score
from cvspec.testrun import Refused

FORMAT_VERSION = "1.0"
TOP = 3  # predictions shown per misclassified image


@dataclass(frozen=True)
class SetReport:
    project: str
    iteration: str
    publish_name: str
    testset: str
    score: Score
    refused: tuple[Refused, ...]
    gate_failures: tuple[str, ...]  # "accuracy: 0.800 < 0.900", gates.GateFailure.describe()

    @property
    def complete(self) -> bool:
        return not self.refused

    @property
    def passed(self) -> bool:
        return not self.gate_failures


def _pct(value: float | None) -> str:
    return "     -" if value is None else f"{value:6.1%}"


def render_text(report: SetReport) -> str:
    s = report.score
    lines = [
        f"Tested {report.iteration} (published as {report.publish_name!r}) of project "
        f"{report.project!r} on {s.images} image(s) of {report.testset}",
        f"Accuracy: {s.accuracy:.1%} ({s.correct}/{s.images})",
        "",
        f"Per tag at threshold {s.threshold:g}:",
    ]
    width = max(len("overall"), *(len(t.tag) for t in s.per_tag))
    lines.append(f"{'tag':<{width}}  images  precision  recall      AP    TP   FP   FN")
    for t in s.per_tag:
        lines.append(
            f"{t.tag:<{width}}  {t.support:6d}  {_pct(t.precision):>9}  {_pct(t.recall)}"
            f"  {_pct(t.average_precision)}  {t.true_positives:4d} {t.false_positives:4d}"
            f" {t.false_negatives:4d}"
        )
    o = s.overall()
    lines.append(
        f"{'overall':<{width}}  {s.images:6d}  {_pct(o.precision):>9}  {_pct(o.recall)}"
        f"  {_pct(o.average_precision)}"
    )
    if s.confusion:
        lines += ["", *_matrix_lines(s)]
    if s.misclassified:
        lines += ["", f"Misclassified ({len(s.misclassified)}):"]
        lines += [f"  {_misclassified_line(item)}" for item in s.misclassified]
    if report.refused:
        lines += ["", f"Refused by the service ({len(report.refused)}): the result is incomplete"]
        lines += [f"  ! {r.path}: {r.message}" for r in report.refused]
    lines += ["", *_verdict(report)]
    return "\n".join(lines)


def _matrix_lines(s: Score) -> list[str]:
    corner = "label \\ predicted"
    width = max(len(corner), *(len(t) for t in s.tags))
    cell = max(5, *(len(t) for t in s.tags))
    lines = ["Confusion matrix (rows: label, columns: most probable tag):"]
    lines.append(f"{corner:<{width}}  " + " ".join(f"{t:>{cell}}" for t in s.tags))
    for tag, row in zip(s.tags, s.confusion, strict=True):
        lines.append(f"{tag:<{width}}  " + " ".join(f"{v:>{cell}d}" for v in row))
    return lines


def _misclassified_line(item: Classified) -> str:
    top = ", ".join(f"{tag} {p:.1%}" for tag, p in item.predictions[:TOP])
    return f"{item.path}: labelled {', '.join(item.labels) or '(none)'}; predicted {top}"


def _verdict(report: SetReport) -> list[str]:
    if report.gate_failures:
        return ["Gates failed:", *(f"  ✗ {f}" for f in report.gate_failures)]
    return ["Gates passed." if report.complete else "Incomplete: some images were refused."]


def render_json(report: SetReport) -> str:
    return json.dumps(test_document(report), indent=2)


def test_document(report: SetReport) -> dict[str, Any]:
    s = report.score
    o = s.overall()
    return {
        "format_version": FORMAT_VERSION,
        "cvspec_version": __version__,
        "project": report.project,
        "iteration": report.iteration,
        "publish_name": report.publish_name,
        "testset": report.testset,
        "classification": s.classification,
        "threshold": s.threshold,
        "images": s.images,
        "correct": s.correct,
        "accuracy": s.accuracy,
        "overall": {
            "precision": o.precision,
            "recall": o.recall,
            "average_precision": o.average_precision,
        },
        "per_tag": [
            {
                "tag": t.tag,
                "images": t.support,
                "precision": t.precision,
                "recall": t.recall,
                "average_precision": t.average_precision,
                "true_positives": t.true_positives,
                "false_positives": t.false_positives,
                "false_negatives": t.false_negatives,
                "true_negatives": t.true_negatives,
            }
            for t in s.per_tag
        ],
        "confusion_matrix": (
            {"labels": list(s.tags), "rows": [list(r) for r in s.confusion]}
            if s.confusion
            else None
        ),
        "misclassified": [
            {
                "path": m.path,
                "labels": list(m.labels),
                "predictions": [{"tag": tag, "probability": p} for tag, p in m.predictions[:TOP]],
            }
            for m in s.misclassified
        ],
        "refused": [{"path": r.path, "message": r.message} for r in report.refused],
        "complete": report.complete,
        "gate_failures": list(report.gate_failures),
        "passed": report.passed and report.complete,
    }
