"""Render a ProjectStatus: plain text (logs, pipes), rich tables (a terminal) or JSON.

The JSON document is documented in docs/export.md ("cvspec status --format json") and
carries `format_version`; the plain text is written by hand, the rich form is imported only
on a terminal.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from cvspec.gates import Evaluation
from cvspec.status import FORMAT_VERSION, UNTAGGED, IterationStatus, ProjectStatus

if TYPE_CHECKING:
    from rich.console import Console


def status_json(status: ProjectStatus) -> str:
    """The status as one JSON document (docs/export.md)."""
    return json.dumps(status_document(status), indent=2)


def status_document(status: ProjectStatus) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "target": status.target,
        "project": {
            "name": status.project_name,
            "id": status.project_id,
            "classification": status.classification,
            "domain": status.domain,
        },
        "images": {
            "total": status.images,
            "by_cvspec": status.images_by_cvspec,
            "by_others": status.images_by_others,
            "untagged": status.untagged,
        },
        "tags": [
            {
                "name": t.name,
                "type": t.type,
                "images": t.images,
                "by_cvspec": t.by_cvspec,
                "by_others": t.by_others,
            }
            for t in status.tags
        ],
        "threshold": status.threshold,
        "iterations": [_iteration(i) for i in status.iterations],
    }


def _iteration(it: IterationStatus) -> dict[str, Any]:
    return {
        "id": it.id,
        "name": it.name,
        "status": it.status,
        "created": it.created,
        "fingerprint": it.fingerprint,
        "failed_gates": it.failed_gates,
        "evaluation": _evaluation(it.evaluation),
        "published": (
            {
                "name": it.publish_name,
                "prediction_resource_id": it.prediction_resource_id,
                "prediction_url": it.prediction_url,
            }
            if it.publish_name
            else None
        ),
    }


def _evaluation(evaluation: Evaluation | None) -> dict[str, Any] | None:
    return None if evaluation is None else evaluation.document()


# -- plain text -------------------------------------------------------------------------


def status_text(status: ProjectStatus) -> str:
    """The status as plain lines: aligned columns, no colour."""
    lines = [*_header(status), "", "Tags:"]
    lines += _columns(_tag_rows(status), indent=2)
    lines += ["", "Iterations:"]
    if status.iterations:
        lines += _columns(_iteration_rows(status), indent=2)
    else:
        lines.append("  (none)")
    lines += _published_lines(status)
    return "\n".join(lines)


def _header(status: ProjectStatus) -> list[str]:
    return [
        f"Project: {status.project_name} ({status.project_id})",
        f"  {status.classification.lower()}, domain {status.domain}, on the {status.target}",
        f"  {status.images} image(s): {status.images_by_cvspec} uploaded by cvspec, "
        f"{status.images_by_others} by others; {status.untagged} untagged",
    ]


TAG_HEADINGS = ("tag", "type", "images", "by cvspec", "by others")
ITERATION_HEADINGS = (
    "iteration",
    "status",
    "fingerprint",
    "precision",
    "recall",
    "AP",
    "published",
)


def _tag_rows(status: ProjectStatus) -> list[tuple[str, ...]]:
    rows = [
        (t.name, t.type.lower(), str(t.images), str(t.by_cvspec), str(t.by_others))
        for t in status.tags
    ]
    others = status.untagged - status.untagged_by_cvspec
    rows.append((UNTAGGED, "", str(status.untagged), str(status.untagged_by_cvspec), str(others)))
    return [TAG_HEADINGS, *rows]


def _iteration_rows(status: ProjectStatus) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [ITERATION_HEADINGS]
    for it in status.iterations:
        figures = _figures(it.evaluation)
        status_text = it.status + (" (failed gates)" if it.failed_gates else "")
        rows.append((it.name, status_text, it.fingerprint or "-", *figures, it.publish_name or "-"))
    return rows


def _figures(evaluation: Evaluation | None) -> tuple[str, str, str]:
    if evaluation is None:
        return ("-", "-", "-")
    m = evaluation.overall
    return (f"{m.precision:.1%}", f"{m.recall:.1%}", f"{m.average_precision:.1%}")


def _published_lines(status: ProjectStatus) -> list[str]:
    published = [i for i in status.iterations if i.publish_name]
    if not published:
        return ["", "Published: nothing"]
    lines = ["", "Published:"]
    for it in published:
        lines.append(f"  {it.publish_name!r} -> {it.name} on {it.prediction_resource_id}")
        lines.append(f"    POST {it.prediction_url or '(no prediction endpoint configured)'}")
    return lines


def _columns(rows: list[tuple[str, ...]], indent: int) -> list[str]:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    pad = " " * indent
    return [
        pad + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


# -- a terminal: rich -------------------------------------------------------------------


def print_rich(status: ProjectStatus, console: Console) -> None:
    """The same content as status_text, with rich tables (for a terminal). Names and URLs
    are never cut: table cells fold, the other lines wrap softly (copy-paste keeps a URL)."""
    from rich import box
    from rich.table import Table

    text = {"markup": False, "highlight": False, "soft_wrap": True}
    console.print("\n".join(_header(status)), **text)  # type: ignore[arg-type]
    # the fingerprint is in cvspec's iteration names already: a column fewer fits 80 columns
    iterations = [row[:2] + row[3:] for row in _iteration_rows(status)]
    for title, rows in (("Tags", _tag_rows(status)), ("Iterations", iterations)):
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
        for n, heading in enumerate(rows[0]):
            widest = max(len(row[n]) for row in rows)
            table.add_column(
                heading,
                justify="right" if heading in NUMERIC else "left",
                overflow="fold",
                min_width=widest if n == 0 else None,  # names stay whole
            )
        for row in rows[1:]:
            table.add_row(*row)
        console.print(table)
    console.print("\n".join(_published_lines(status)[1:]), **text)  # type: ignore[arg-type]


NUMERIC = frozenset({"images", "by cvspec", "by others", "precision", "recall", "AP"})
