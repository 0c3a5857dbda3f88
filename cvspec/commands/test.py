"""`cvspec test`: measure the published model on a labelled test set."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cvspec.commands.common import SPEC, session

if TYPE_CHECKING:
    from cvspec.scoring import Score
    from cvspec.service import Service
    from cvspec.spec import ValidatedSpec
    from cvspec.testreport import SetReport

EXIT_INCOMPLETE = 1
EXIT_GATES = 3
PREDICTION_EMULATOR_RATE = 10_000.0  # the built-in emulator has no rate limit


@click.command(name="test")
@SPEC
@click.argument("testset")
@click.option(
    "--iteration", help="Classify with this (published) iteration, not the spec's publish name."
)
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="Probability threshold of precision and recall [default: the spec's gates.threshold].",
)
@click.option(
    "--min-accuracy",
    type=click.FloatRange(0, 1),
    help="Fail (exit 3) when the accuracy is below this (0-1).",
)
@click.option(
    "--gates/--no-gates",
    default=True,
    show_default=True,
    help="Also check the spec's quality gates (min_precision, min_recall, min_ap, per_tag).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "html"]),
    default="text",
    show_default=True,
    help="text for people, json for programs (docs/reports.md), html for a review artifact.",
)
def test(
    spec: Path,
    testset: str,
    iteration: str | None,
    threshold: float | None,
    min_accuracy: float | None,
    gates: bool,
    fmt: str,
) -> None:
    """Classify the labelled images of TESTSET with the published iteration and report
    accuracy, precision, recall and AP per tag, the confusion matrix and the misclassified
    images. The images are not stored in the project (ClassifyImageWithNoStore).

    TESTSET is a folder with one sub-folder per tag, a CSV/JSONL manifest, or a glob with a
    {tag} part (the spec's source syntax).

    Exit status: 0 passed, 1 error or incomplete (the service refused images), 3 the model
    failed --min-accuracy or the spec's gates.
    """
    from cvspec.progress import Reporter
    from cvspec.scoring import score
    from cvspec.testreport import SetReport
    from cvspec.testrun import check_labels, classify_all, find_target
    from cvspec.testset import load_testset

    with session(spec) as (validated, service):
        classification = validated.spec.project.classification
        images = load_testset(testset, classification)
        _unthrottle_emulator(service)
        target = find_target(
            service,
            validated.spec.project.name,
            validated.spec.publish.name if validated.spec.publish else None,
            iteration,
        )
        check_labels(images, target)
        reporter = Reporter(stream=sys.stderr)
        try:
            found, refused = classify_all(
                service,
                target,
                images,
                lambda done, total: reporter(
                    "calls_progress", label="classifying", done=done, total=total
                ),
            )
        finally:
            reporter.close()
    limit = threshold if threshold is not None else validated.spec.gates.threshold
    result = score(found, target.tags, classification, limit)
    report = SetReport(
        project=target.project.name,
        iteration=target.iteration.name,
        publish_name=target.iteration.publish_name,
        testset=testset,
        score=result,
        refused=tuple(refused),
        gate_failures=tuple(
            _failures(result, validated, min_accuracy, gates, target.iteration.name)
        ),
    )
    click.echo(_render(report, fmt))
    if not report.complete:
        sys.exit(EXIT_INCOMPLETE)
    if not report.passed:
        sys.exit(EXIT_GATES)


def _failures(
    result: Score, validated: ValidatedSpec, min_accuracy: float | None, gates: bool, name: str
) -> list[str]:
    from cvspec.desired import desired_state
    from cvspec.gates import check_gates

    failures = []
    if min_accuracy is not None and result.accuracy < min_accuracy:
        failures.append(f"accuracy: {result.accuracy:.3f} < {min_accuracy:.3f}")
    publish = desired_state(validated, None).publish
    if gates and publish is not None:  # the spec's gates are publish's
        failures += [f.describe() for f in check_gates(publish.gates, result.evaluation(name))]
    return failures


def _render(report: SetReport, fmt: str) -> str:
    from cvspec.testreport import render_json, render_text

    if fmt == "json":
        return render_json(report)
    if fmt == "html":
        from cvspec.html.report import render_test_html

        return render_test_html(report)
    return render_text(report)


def _unthrottle_emulator(service: Service) -> None:
    """The built-in emulator has no call rate limit; Azure keeps the prediction default."""
    from cvspec import sdk

    if service.target == "emulator" and service.prediction is not None:
        sdk.configure(
            service.prediction.config.endpoint, rate=PREDICTION_EMULATOR_RATE, kind="prediction"
        )
