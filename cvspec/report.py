"""`cvspec apply --report-out FILE`: a Markdown report of what an apply did, for the merged
pull request.

It lists the plan's operations as done, failed (the one that raised) or skipped (not run),
with the per-image failures, then the evaluation of the iteration this apply trained next to
the iteration it replaced (the one that held the publish name, else the latest trained one):
precision, recall and AP overall and per tag at the gates' threshold, with the difference.
The replaced iteration's figures are read before apply runs (retention may delete it); the
new one's after. Both come from GetIterationPerformance through the SDK; reading them
changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cvspec import ops
from cvspec.errors import CvspecError
from cvspec.gates import Evaluation, Metrics, evaluation_from_sdk
from cvspec.identity import base_iteration_name
from cvspec.plan import Plan
from cvspec.render import describe, summary_lines
from cvspec.sdk import call
from cvspec.service import Service

REPORT_MARKER = "<!-- cvspec-apply-report project={project} -->"


@dataclass
class OpLog:
    """Which of the plan's operations started, recorded from apply's `op_start` events."""

    started: list[ops.Op] = field(default_factory=list)
    training_skipped: bool = False

    def record(self, event: str, fields: dict[str, Any]) -> None:
        if event == "op_start":
            self.started.append(fields["op"])
        elif event == "training_skipped":
            self.training_skipped = True


@dataclass(frozen=True)
class Outcome:
    """What became of the plan's operations."""

    done: tuple[ops.Op, ...]
    failed: tuple[ops.Op, ...]
    skipped: tuple[ops.Op, ...]
    failures: tuple[str, ...]  # per-image failures and the error that stopped the apply


def outcome(plan: Plan, log: OpLog, failures: tuple[str, ...], error: str | None) -> Outcome:
    """Done: started and not the one that raised; failed: the one that raised; skipped:
    never started."""
    started = list(log.started)
    failed = [started.pop()] if error is not None and started else []
    skipped = plan.operations[len(log.started) :]
    return Outcome(
        done=tuple(started),
        failed=tuple(failed),
        skipped=tuple(skipped),
        failures=(*failures, *([error] if error else [])),
    )


def threshold(plan: Plan) -> float:
    """Where the figures are measured: the gates' threshold, as apply measures them."""
    publishes = plan.of_type(ops.Publish)
    if publishes:
        return float(publishes[0].gates.threshold)
    trains = plan.of_type(ops.Train)
    return float(trains[0].threshold) if trains else 0.5


def new_iteration(plan: Plan) -> str | None:
    """The iteration this plan trains or publishes, by its planned name."""
    publishes = plan.of_type(ops.Publish)
    if publishes:
        return publishes[0].iteration_name
    trains = plan.of_type(ops.Train)
    return trains[0].iteration_name if trains else None


def replaced_iteration(plan: Plan) -> str | None:
    """The iteration the new one replaces: the publish name's holder, else the latest
    trained cvspec iteration."""
    for publish in plan.of_type(ops.Publish):
        if publish.from_iteration:
            return publish.from_iteration
    for train in plan.of_type(ops.Train):
        if train.previous_iteration:
            return train.previous_iteration
    return None


def read_evaluation(service: Service, plan: Plan, name: str | None) -> Evaluation | None:
    """The named iteration's figures from the service (None when it is not there)."""
    if not name:
        return None
    client = service.training
    try:
        project = next((p for p in call(client.get_projects) if p.name == plan.project_name), None)
        if project is None:
            return None
        iteration = next(
            (i for i in call(client.get_iterations, project.id) if _named(i, name)), None
        )
        if iteration is None or iteration.status != "Completed":
            return None
        level = threshold(plan)
        perf = call(client.get_iteration_performance, project.id, iteration.id, threshold=level)
    except CvspecError:
        return None
    return evaluation_from_sdk(iteration.name, level, perf)


def _named(iteration: Any, name: str) -> bool:
    return bool(iteration.name) and base_iteration_name(iteration.name) == name


# --- Markdown ---------------------------------------------------------------------------


def render_report(
    plan: Plan, result: Outcome, before: Evaluation | None, after: Evaluation | None
) -> str:
    """The apply report as Markdown: a title, the operations, the evaluation."""
    title = "failed" if result.failed or result.failures else "complete"
    lines = [
        REPORT_MARKER.format(project=plan.project_name),
        f"### cvspec apply {title} for `{plan.project_name}`",
        _where(plan),
        "",
        f"Operations: {len(result.done)} done, {len(result.failed)} failed, "
        f"{len(result.skipped)} skipped (of {len(plan.operations)} planned).",
        "",
    ]
    if plan.operations:
        lines += ["<pre><code>" + "\n".join(summary_lines(plan)) + "</code></pre>", ""]
    lines += _ops_section("Done", result.done)
    lines += _ops_section("Failed", result.failed)
    lines += _ops_section("Skipped", result.skipped)
    if result.failures:
        lines += ["**Failures**", "", *(f"* {_cell(f)}" for f in result.failures), ""]
    lines += evaluation_section(plan, before, after)
    return "\n".join(lines).rstrip() + "\n"


def _where(plan: Plan) -> str:
    if plan.target == "azure":
        return f"Target: Azure Custom Vision (`{plan.target_host}`)"
    return "Target: the built-in emulator" if plan.target == "emulator" else ""


def _ops_section(label: str, found: tuple[ops.Op, ...]) -> list[str]:
    if not found:
        return []
    lines = [f"**{label}**", ""]
    for op in found:
        lines += [f"* `{line.strip()}`" for line in describe(op)]
    return [*lines, ""]


def evaluation_section(
    plan: Plan, before: Evaluation | None, after: Evaluation | None
) -> list[str]:
    """The new iteration's figures next to the replaced one's, with the difference."""
    if after is None:
        trained = new_iteration(plan)
        why = (
            f"iteration `{trained}` has no evaluation (it was not trained)"
            if trained
            else "this apply trained no iteration"
        )
        lines = [f"**Evaluation**: {why}."]
        if before is not None:
            lines += ["", f"The model in place is `{before.iteration}`.", ""]
            lines += _table(before, None)
        return [*lines, ""]
    head = f"**Evaluation** of `{after.iteration}` at threshold {after.threshold:g}"
    if before is not None:
        head += f", against `{before.iteration}` (the iteration it replaces)"
    else:
        head += " (no earlier iteration to compare with)"
    return [head, "", *_table(after, before), ""]


def _table(after: Evaluation, before: Evaluation | None) -> list[str]:
    lines = ["| tag | precision | recall | AP |", "|---|---:|---:|---:|"]
    tags = [name for name, _ in after.per_tag]
    if before is not None:
        tags += [name for name, _ in before.per_tag if after.tag(name) is None]
    rows: list[tuple[str, Metrics | None, Metrics | None]] = [
        (name, after.tag(name), before.tag(name) if before else None) for name in sorted(tags)
    ]
    rows.append(("**overall**", after.overall, before.overall if before else None))
    for name, new, old in rows:
        cells = [_figure(new, old, metric) for metric in _METRICS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


_METRICS = ("precision", "recall", "average_precision")


def _figure(new: Metrics | None, old: Metrics | None, metric: str) -> str:
    """`92.0% (was 88.0%, +4.0 pts)`; `n/a` where the iteration has no such tag."""
    if new is None:
        return f"n/a (was {old.get(metric):.1%})" if old is not None else "n/a"
    shown = f"{new.get(metric):.1%}"
    if old is None:
        return shown
    delta = (new.get(metric) - old.get(metric)) * 100
    return f"{shown} (was {old.get(metric):.1%}, {delta:+.1f} pts)"


def _cell(text: str) -> str:
    return text.replace("\n", " ")


def render_combined(reports: list[tuple[str, str]]) -> str:
    """Several specs' reports in one comment, each under its spec's path."""
    lines = [f"## cvspec apply: {len(reports)} spec(s)", ""]
    for spec, body in reports:
        lines += [f"#### `{spec}`", "", body.replace("### ", "##### ", 1), ""]
    return "\n".join(lines).rstrip() + "\n"
