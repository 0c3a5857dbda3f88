"""A plan as a pull-request comment: the `Plan: X to add, Y to change, Z to destroy.` line
as its title, the per-kind lines, a warning when anything is deleted, the full text plan
collapsed, and the whole kept under GitHub's comment limit."""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field

from cvspec.plan import DriftKind, Plan
from cvspec.render import (
    NO_CHANGES,
    NO_DESTROY,
    Change,
    Summary,
    changes,
    render_text,
    summarize,
    summary_lines,
    unpublish_warning,
)

MARKDOWN_LIMIT = 65_000  # GitHub refuses comments over 65,535 characters
_LIST_LIMIT = 30  # addresses per bullet list


@dataclass
class _Budget:
    left: int
    truncated: int = 0
    lines: list[str] = field(default_factory=list)

    def take(self, line: str) -> bool:
        if len(line) + 1 > self.left:
            return False
        self.lines.append(line)
        self.left -= len(line) + 1
        return True


def render_markdown(plan: Plan, limit: int = MARKDOWN_LIMIT) -> str:
    """A pull-request comment: summary first, a warning on deletion, details collapsed."""
    head = _markdown_head(plan)
    tail = ["", "</details>"]
    note_room = 200
    budget = _Budget(limit - len("\n".join(head)) - len("\n".join(tail)) - note_room)
    details = _markdown_details(plan)
    for n, line in enumerate(details):
        if not budget.take(line):
            budget.truncated = len(details) - n
            break
    body = budget.lines
    if budget.truncated:
        note = (
            f"*Truncated: {budget.truncated} more line(s) did not fit in a comment. "
            "Run `cvspec show PLANFILE` for the full plan.*"
        )
        body = [*_close_fence(body), "", note]
    return "\n".join([*head, *body, *tail]) + "\n"


_TARGETS = {"emulator": "the built-in emulator", "azure": "Azure Custom Vision"}


def _markdown_head(plan: Plan) -> list[str]:
    """The marker, then the `Plan:` line as the title: the first thing a reviewer reads."""
    found = changes(plan)
    where = f" on {_TARGETS[plan.target]}" if plan.target in _TARGETS else ""
    if plan.target_host:
        where += f" (`{plan.target_host}`)"
    elif plan.target == "emulator" and plan.spec_path:
        folder = posixpath.dirname(plan.spec_path)
        where += f" (state in `{posixpath.join(folder, '.cvspec')}/`)"
    about = f"cvspec {'destroy ' if plan.destroy else ''}plan for `{plan.project_name}`{where}"
    lines = [f"<!-- cvspec-plan project={plan.project_name} -->"]
    blocked = [d for d in plan.drift if d.kind is DriftKind.GATES_FAILED]
    if not found and blocked:
        lines += ["### No changes to apply: the quality gates failed", about, ""]
    elif not found:
        lines += [f"### {NO_DESTROY if plan.destroy else NO_CHANGES}", about, ""]
    else:
        first, *rest = summary_lines(plan)
        lines += [f"### {first}", about, ""]
        lines += ["<pre><code>" + "\n".join(rest) + "</code></pre>", ""]
        lines += _deletion_warning(found)
        lines += _bullets(found, summarize(plan))
    if blocked:
        lines += ["> [!CAUTION]"]
        lines += [f"> **`{d.address}`** {d.detail}." for d in blocked]
        lines += [""]
    outside = len(plan.drift) - len(blocked)
    if outside:
        lines += [f"Changes outside cvspec: {outside} (kept; see details).", ""]
    return [*lines, "<details><summary>Details (click to expand)</summary>", ""]


def _deletion_warning(found: Sequence[Change]) -> list[str]:
    deleting = [c for c in found if "delete" in c.actions]
    if not deleting:
        return []
    items = ", ".join(f"`{c.address}`" + _what_goes(c) for c in deleting[:_LIST_LIMIT])
    more = f" and {len(deleting) - _LIST_LIMIT} more" if len(deleting) > _LIST_LIMIT else ""
    return [
        "> [!WARNING]",
        "> **This plan deletes or replaces:** " + items + more,
        "",
    ]


def _what_goes(c: Change) -> str:
    """What a deletion takes with it, in brackets after its address."""
    if c.resource == "images":
        return f" ({len(c.images)} image(s))"
    if c.resource == "publish":
        return f" ({unpublish_warning(c.address.split('.', 1)[1])})"
    losses = (c.before or {}).get("losses") or []
    return f" (with {'; '.join(losses)})" if losses else ""


_GROUPS = {
    "Create": ("create",),
    "Update": ("update",),
    "Replace": ("delete", "create"),
    "Delete": ("delete",),
    "Wait for": ("read",),
}


def _bullets(found: Sequence[Change], summary: Summary) -> list[str]:
    """Addresses by action; images as counts, the same counts as the summary's."""
    image = summary.by_resource["image"]
    images = {"Create": image.add, "Update": image.change, "Delete": image.destroy}
    lines = []
    for label, actions in _GROUPS.items():
        picked = [c for c in found if c.actions == actions]
        addresses = [f"`{c.address}`" for c in picked if c.resource != "images"]
        if images.get(label):
            addresses.append(f"{images[label]} image(s)")
        if addresses:
            shown = ", ".join(addresses[:_LIST_LIMIT])
            more = (
                f" and {len(addresses) - _LIST_LIMIT} more" if len(addresses) > _LIST_LIMIT else ""
            )
            lines.append(f"* **{label}**: {shown}{more}")
    return [*lines, ""]


def _markdown_details(plan: Plan) -> list[str]:
    text = render_text(plan, verbose=True)
    return ["```diff", *(_diff_line(line) for line in text.splitlines()), "```"]


def _diff_line(line: str) -> str:
    """Put a diff mark in column 0 so that GitHub colours the line (Atlantis's trick)."""
    stripped = line.lstrip()
    if line.startswith("  #"):
        return line
    if stripped.startswith(("-/+ ", "~ ", "<= ")):
        return f"! {stripped}"
    for symbol in ("+ ", "- "):
        if stripped.startswith(symbol):
            return f"{symbol}{stripped[2:]}"
    return line


def _close_fence(lines: list[str]) -> list[str]:
    fences = sum(1 for line in lines if line.startswith("```"))
    return [*lines, "```"] if fences % 2 else lines
