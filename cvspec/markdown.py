"""A plan as a pull-request comment: summary first, a warning when anything is deleted, the
full text plan collapsed, and the whole kept under GitHub's comment limit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cvspec.plan import Plan
from cvspec.render import NO_CHANGES, NO_DESTROY, Change, changes, render_text, summary_lines

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


def _markdown_head(plan: Plan) -> list[str]:
    found = changes(plan)
    title = f"### cvspec plan for `{plan.project_name}`"
    lines = [f"<!-- cvspec-plan project={plan.project_name} -->", title, ""]
    if not found:
        lines += [f"**{NO_DESTROY if plan.destroy else NO_CHANGES}**", ""]
    else:
        first, *rest = summary_lines(plan)
        lines += ["<pre><code>" + first + "\n" + "\n".join(rest) + "</code></pre>", ""]
        lines += _deletion_warning(found)
        lines += _bullets(found)
    if plan.drift:
        lines += [f"Changes outside cvspec: {len(plan.drift)} (kept; see details).", ""]
    return [*lines, "<details><summary>Details (click to expand)</summary>", ""]


def _deletion_warning(found: Sequence[Change]) -> list[str]:
    deleting = [c for c in found if "delete" in c.actions]
    if not deleting:
        return []
    items = ", ".join(f"`{c.address}`" + _image_count(c) for c in deleting[:_LIST_LIMIT])
    more = f" and {len(deleting) - _LIST_LIMIT} more" if len(deleting) > _LIST_LIMIT else ""
    return [
        "> [!WARNING]",
        "> **This plan deletes or replaces:** " + items + more,
        "",
    ]


def _image_count(c: Change) -> str:
    return f" ({len(c.images)} image(s))" if c.resource == "images" else ""


def _bullets(found: Sequence[Change]) -> list[str]:
    groups = {"Create": ("create",), "Update": ("update",), "Replace": ("delete", "create")}
    groups["Delete"] = ("delete",)
    lines = []
    for label, actions in groups.items():
        picked = [c for c in found if c.actions == actions]
        addresses = [f"`{c.address}`" for c in picked if c.resource != "images"]
        images = sum(len(c.images) for c in picked if c.resource == "images")
        if images:
            addresses.append(f"{images} image(s)")
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
    if stripped.startswith(("-/+ ", "~ ")):
        return f"! {stripped}"
    for symbol in ("+ ", "- "):
        if stripped.startswith(symbol):
            return f"{symbol}{stripped[2:]}"
    return line


def _close_fence(lines: list[str]) -> list[str]:
    fences = sum(1 for line in lines if line.startswith("```"))
    return [*lines, "```"] if fences % 2 else lines
