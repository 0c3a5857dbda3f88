"""Evaluation figures and quality gates (pure: no I/O).

An Evaluation is what the service reports for a trained iteration at one probability
threshold: precision, recall and average precision overall and per tag. `check_gates` lists
every gate an evaluation fails, with its figures, so that apply can refuse to publish and
say exactly why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cvspec.ops import Gates


@dataclass(frozen=True)
class Metrics:
    precision: float
    recall: float
    average_precision: float

    def get(self, name: str) -> float:
        return float(getattr(self, name))


@dataclass(frozen=True)
class Evaluation:
    """An iteration's figures at `threshold`; `per_tag` is sorted by tag name."""

    iteration: str
    threshold: float
    overall: Metrics
    per_tag: tuple[tuple[str, Metrics], ...]

    def tag(self, name: str) -> Metrics | None:
        return next((m for tag, m in self.per_tag if tag == name), None)

    def document(self) -> dict[str, Any]:
        """The figures as JSON-ready data: overall, then per tag by name (status, export)."""
        return {
            **_figures(self.overall),
            "per_tag": {name: _figures(m) for name, m in self.per_tag},
        }


def _figures(m: Metrics) -> dict[str, float]:
    return {"precision": m.precision, "recall": m.recall, "average_precision": m.average_precision}


@dataclass(frozen=True)
class GateFailure:
    gate: str  # e.g. "min_precision", "per_tag.cat.min_recall", "no_regression.recall"
    actual: float | None
    required: float

    def describe(self) -> str:
        actual = "missing" if self.actual is None else f"{self.actual:.3f}"
        return f"{self.gate}: {actual} < {self.required:.3f}"


_METRICS = (("precision", "min_precision"), ("recall", "min_recall"), ("ap", "min_ap"))
_FIELD = {"precision": "precision", "recall": "recall", "ap": "average_precision"}


def evaluation_from_sdk(iteration: str, threshold: float, perf: Any) -> Evaluation:
    """Convert the SDK's IterationPerformance into an Evaluation."""
    per_tag = sorted(
        (t.name, _metrics(t.precision, t.recall, t.average_precision))
        for t in perf.per_tag_performance or ()
    )
    return Evaluation(
        iteration=iteration,
        threshold=threshold,
        overall=_metrics(perf.precision, perf.recall, perf.average_precision),
        per_tag=tuple(per_tag),
    )


def _metrics(precision: float | None, recall: float | None, ap: float | None) -> Metrics:
    return Metrics(float(precision or 0.0), float(recall or 0.0), float(ap or 0.0))


def check_gates(
    gates: Gates, evaluation: Evaluation, baseline: Evaluation | None = None
) -> list[GateFailure]:
    """Every gate `evaluation` fails; `baseline` is the currently published iteration's."""
    failures = _overall(gates, evaluation.overall)
    for tag_gate in gates.per_tag:
        metrics = evaluation.tag(tag_gate.tag)
        for short, attr in _METRICS:
            minimum = getattr(tag_gate, attr)
            if minimum is None:
                continue
            actual = None if metrics is None else metrics.get(_FIELD[short])
            if actual is None or actual < minimum:
                failures.append(GateFailure(f"per_tag.{tag_gate.tag}.{attr}", actual, minimum))
    if gates.no_regression and baseline is not None:
        failures += _regression(evaluation.overall, baseline.overall, gates.regression_tolerance)
    return failures


def _overall(gates: Gates, overall: Metrics) -> list[GateFailure]:
    failures = []
    for short, attr in _METRICS:
        minimum = getattr(gates, attr)
        actual = overall.get(_FIELD[short])
        if minimum is not None and actual < minimum:
            failures.append(GateFailure(attr, actual, minimum))
    return failures


def _regression(new: Metrics, old: Metrics, tolerance: float) -> list[GateFailure]:
    failures = []
    for short, _ in _METRICS:
        required = old.get(_FIELD[short]) - tolerance
        actual = new.get(_FIELD[short])
        if actual < required - 1e-9:
            failures.append(GateFailure(f"no_regression.{short}", actual, required))
    return failures


def table(evaluation: Evaluation) -> list[str]:
    """Per-tag and overall precision, recall and AP, as the portal shows them."""
    rows = [*evaluation.per_tag, ("overall", evaluation.overall)]
    width = max(len("tag"), *(len(name) for name, _ in rows))
    lines = [
        f"Evaluation of {evaluation.iteration} at threshold {evaluation.threshold:g}:",
        f"{'tag':<{width}}  precision  recall      AP",
    ]
    for name, m in rows:
        lines.append(
            f"{name:<{width}}  {m.precision:9.1%}  {m.recall:6.1%}  {m.average_precision:6.1%}"
        )
    return lines
