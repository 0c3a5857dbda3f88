"""Quality gates at their boundaries, and the spec's per-tag gates on their way to publishing.

A figure exactly at its minimum passes and one just below fails, for every overall, per-tag
and no-regression gate (pure, table-driven on cvspec.gates.check_gates). The per-tag gates
of a spec reach the plan's Publish operation (`cvspec plan --format json`) and refuse a
publish with their own message (`cvspec apply`, against an emulator).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cvspec import ops
from cvspec.gates import (
    Evaluation,
    GateFailure,
    Metrics,
    check_gates,
    evaluation_from_sdk,
    table,
)
from tests.apply_support import Emulator, SpecModel, emulator, snapshot
from tests.helpers import run_cli

BELOW = 1e-6  # a figure this much under its minimum fails


def _evaluation(
    overall: tuple[float, float, float] = (1.0, 1.0, 1.0), **tags: tuple[float, float, float]
) -> Evaluation:
    per_tag = tuple(sorted((name, Metrics(*m)) for name, m in tags.items()))
    return Evaluation("cvspec-new", 0.5, Metrics(*overall), per_tag)


# (gate, gates, the evaluation with its figure at the minimum, the same figure just below)
OVERALL = [
    ("min_precision", ops.Gates(min_precision=0.8), (0.8, 1.0, 1.0), (0.8 - BELOW, 1.0, 1.0)),
    ("min_recall", ops.Gates(min_recall=0.7), (1.0, 0.7, 1.0), (1.0, 0.7 - BELOW, 1.0)),
    ("min_ap", ops.Gates(min_ap=0.6), (1.0, 1.0, 0.6), (1.0, 1.0, 0.6 - BELOW)),
]


@pytest.mark.parametrize(("gate", "gates", "at", "below"), OVERALL, ids=[c[0] for c in OVERALL])
def test_an_overall_figure_at_its_minimum_passes_and_just_below_fails(
    gate: str, gates: ops.Gates, at: tuple[float, float, float], below: tuple[float, float, float]
) -> None:
    assert check_gates(gates, _evaluation(at)) == []
    (failure,) = check_gates(gates, _evaluation(below))
    assert failure.gate == gate
    assert failure.actual == pytest.approx(min(below))
    assert failure.required == min(at)


PER_TAG = [
    ("min_precision", (0.8, 1.0, 1.0), (0.8 - BELOW, 1.0, 1.0)),
    ("min_recall", (1.0, 0.8, 1.0), (1.0, 0.8 - BELOW, 1.0)),
    ("min_ap", (1.0, 1.0, 0.8), (1.0, 1.0, 0.8 - BELOW)),
]


@pytest.mark.parametrize(("attr", "at", "below"), PER_TAG, ids=[c[0] for c in PER_TAG])
def test_a_per_tag_figure_at_its_minimum_passes_and_just_below_fails(
    attr: str, at: tuple[float, float, float], below: tuple[float, float, float]
) -> None:
    gates = ops.Gates(per_tag=(ops.TagGate("cat", **{attr: 0.8}),))
    assert check_gates(gates, _evaluation(cat=at, dog=below)) == []  # dog has no gate
    (failure,) = check_gates(gates, _evaluation(cat=below, dog=at))
    assert failure == GateFailure(f"per_tag.cat.{attr}", min(below), 0.8)
    assert failure.describe() == f"per_tag.cat.{attr}: 0.800 < 0.800"  # shown to 3 places


def test_a_per_tag_gate_on_a_tag_the_evaluation_lacks_fails_as_missing() -> None:
    gates = ops.Gates(per_tag=(ops.TagGate("cat", min_precision=0.0, min_ap=0.0),))
    failures = check_gates(gates, _evaluation(dog=(1.0, 1.0, 1.0)))
    assert [f.describe() for f in failures] == [
        "per_tag.cat.min_precision: missing < 0.000",
        "per_tag.cat.min_ap: missing < 0.000",
    ]


@pytest.mark.parametrize("metric", ["precision", "recall", "ap"])
def test_no_regression_at_exactly_the_tolerance_passes_and_beyond_it_fails(metric: str) -> None:
    gates = ops.Gates(no_regression=True, regression_tolerance=0.25)
    old = _evaluation((0.75, 0.75, 0.75))
    index = ("precision", "recall", "ap").index(metric)
    at = [0.75, 0.75, 0.75]
    at[index] = 0.5  # exactly 0.75 - 0.25 (all exact in binary)
    assert check_gates(gates, _evaluation((at[0], at[1], at[2])), old) == []
    below = list(at)
    below[index] = 0.5 - BELOW
    (failure,) = check_gates(gates, _evaluation((below[0], below[1], below[2])), old)
    assert failure == GateFailure(f"no_regression.{metric}", 0.5 - BELOW, 0.5)
    assert failure.describe() == f"no_regression.{metric}: 0.500 < 0.500"


def test_no_regression_forgives_float_rounding_below_one_billionth() -> None:
    gates = ops.Gates(no_regression=True, regression_tolerance=0.0)
    old = _evaluation((0.5, 0.5, 0.5))
    assert check_gates(gates, _evaluation((0.5 - 1e-9, 0.5, 0.5)), old) == []
    assert [f.gate for f in check_gates(gates, _evaluation((0.5 - 2e-9, 0.5, 0.5)), old)] == [
        "no_regression.precision"
    ]


def test_the_evaluation_table_aligns_its_columns_under_their_headers() -> None:
    evaluation = _evaluation((0.5, 0.25, 0.75), a=(1.0, 0.5, 0.8), longer_tag=(0.0, 0.0, 0.0))
    assert table(evaluation) == [
        "Evaluation of cvspec-new at threshold 0.5:",
        "tag         precision  recall      AP",
        "a              100.0%   50.0%   80.0%",
        "longer_tag       0.0%    0.0%    0.0%",
        "overall         50.0%   25.0%   75.0%",
    ]


def test_no_regression_without_the_flag_or_a_baseline_checks_nothing() -> None:
    old = _evaluation((0.9, 0.9, 0.9))
    worse = _evaluation((0.1, 0.1, 0.1))
    assert check_gates(ops.Gates(no_regression=False), worse, old) == []
    assert check_gates(ops.Gates(no_regression=True), worse, None) == []
    assert len(check_gates(ops.Gates(no_regression=True), worse, old)) == 3


def test_every_failing_gate_is_listed_overall_first_then_per_tag_then_regression() -> None:
    gates = ops.Gates(
        min_precision=0.9,
        min_recall=0.9,
        min_ap=0.9,
        per_tag=(ops.TagGate("a", 0.9, 0.9, 0.9), ops.TagGate("b", min_recall=0.9)),
        no_regression=True,
    )
    low = (0.5, 0.5, 0.5)
    failures = check_gates(gates, _evaluation(low, a=low, b=low), _evaluation())
    assert [f.gate for f in failures] == [
        "min_precision",
        "min_recall",
        "min_ap",
        "per_tag.a.min_precision",
        "per_tag.a.min_recall",
        "per_tag.a.min_ap",
        "per_tag.b.min_recall",
        "no_regression.precision",
        "no_regression.recall",
        "no_regression.ap",
    ]


class _Perf:
    """The shape of the SDK's IterationPerformance (and TagPerformance) that gates read."""

    def __init__(self, p: float | None, r: float | None, ap: float | None, **extra: Any) -> None:
        self.precision, self.recall, self.average_precision = p, r, ap
        self.__dict__.update(extra)


def test_an_sdk_evaluation_is_sorted_by_tag_and_missing_figures_are_zero() -> None:
    perf = _Perf(
        0.5,
        0.75,
        0.25,
        per_tag_performance=[_Perf(1.0, 0.5, None, name="dog"), _Perf(None, 1.0, 0.5, name="cat")],
    )
    evaluation = evaluation_from_sdk("it", 0.4, perf)
    assert evaluation == Evaluation(
        "it",
        0.4,
        Metrics(0.5, 0.75, 0.25),
        (("cat", Metrics(0.0, 1.0, 0.5)), ("dog", Metrics(1.0, 0.5, 0.0))),
    )
    assert evaluation.tag("dog") == Metrics(1.0, 0.5, 0.0) and evaluation.tag("cow") is None
    bare = evaluation_from_sdk("it", 0.5, _Perf(None, None, None, per_tag_performance=None))
    assert bare.per_tag == () and bare.overall == Metrics(0.0, 0.0, 0.0)


# -- the spec's per-tag gates, through plan and apply ------------------------------------


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with emulator(tmp_path_factory.mktemp("gates-emulator")) as running:
        yield running


def _model(name: str) -> SpecModel:
    seeds = iter(range(10_000))
    return SpecModel(
        name=name,
        tags={"red": "", "blue": ""},
        images={t: [next(seeds) for _ in range(5)] for t in ("red", "blue")},
        gates={
            "threshold": 0.4,
            "per_tag": {"red": {"min_ap": 1.0}, "blue": {"min_precision": 0.25, "min_recall": 0.5}},
        },
    )


def test_the_spec_per_tag_gates_reach_the_publish_operation(emu: Emulator, tmp_path: Path) -> None:
    spec = _model("gates-in-plan").write(tmp_path)
    planned = run_cli("plan", spec.name, "--format", "json", cwd=tmp_path, env=emu.env())
    assert planned.returncode == 0, planned.stderr
    publishes = [
        c["change"]["after"]
        for c in json.loads(planned.stdout)["resource_changes"]
        if c["operations"] == ["Publish"]
    ]
    assert [p["gates"] for p in publishes] == [
        {
            "threshold": 0.4,
            "min_precision": None,
            "min_recall": None,
            "min_ap": None,
            "per_tag": [  # sorted by tag
                {"tag": "blue", "min_precision": 0.25, "min_recall": 0.5, "min_ap": None},
                {"tag": "red", "min_precision": None, "min_recall": None, "min_ap": 1.0},
            ],
            "no_regression": False,
            "regression_tolerance": 0.0,
        }
    ]


def test_a_failing_per_tag_gate_alone_refuses_the_publish_naming_the_tag(
    emu: Emulator, tmp_path: Path
) -> None:
    model = replace(_model("gates-per-tag"), gates={"per_tag": {"red": {"min_ap": 1.0}}})
    spec = model.write(tmp_path)  # noise images, alike in both tags: AP below 1
    result = run_cli("apply", spec.name, "--auto-approve", cwd=tmp_path, env=emu.env())
    assert result.returncode == 1, result.stdout
    assert "quality gate failed for 'cvspec-" in result.stderr
    assert "per_tag.red.min_ap: 0." in result.stderr and "< 1.000" in result.stderr
    assert "min_precision" not in result.stderr and "per_tag.blue" not in result.stderr
    assert snapshot(emu.service, model.name).published("latest") == []
