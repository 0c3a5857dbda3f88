"""Render plans for people (text) and machines (JSON). Returns strings; prints nothing."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from functools import singledispatch
from typing import Any

from cvspec import ops
from cvspec.plan import Plan

FORMAT_VERSION = "1.0"


@dataclasses.dataclass(frozen=True)
class Summary:
    add: int
    change: int
    destroy: int


def summarize(plan: Plan) -> Summary:
    """Terraform's counts, over the project and its tags (images get their own line)."""
    add = len(plan.of_type(ops.CreateProject)) + len(plan.of_type(ops.CreateTag))
    change = len(plan.of_type(ops.UpdateProject)) + len(plan.of_type(ops.UpdateTag))
    destroy = len(plan.of_type(ops.DeleteProject)) + len(plan.of_type(ops.DeleteTag))
    return Summary(add, change, destroy)


def render_text(plan: Plan, verbose: bool = False) -> str:
    """Terraform-style text: one line per change, then the summary lines."""
    if plan.is_empty():
        lines = ["No changes. The project matches the spec."]
    else:
        lines = ["cvspec will perform the following actions:", ""]
        for op in plan.operations:
            lines.extend(describe(op, verbose))
        lines += ["", *summary_lines(plan)]
    if plan.drift:
        lines += ["", "Changes outside cvspec (drift):"]
        lines += [f"  ! {d.address}: {d.detail}" for d in plan.drift]
    return "\n".join(lines)


def summary_lines(plan: Plan) -> list[str]:
    s = summarize(plan)
    uploads = sum(len(op.images) for op in plan.of_type(ops.UploadImages))
    retags = sum(len(op.images) for op in plan.of_type(ops.AddImageTags)) + sum(
        len(op.images) for op in plan.of_type(ops.RemoveImageTags)
    )
    deletes = sum(len(op.image_ids) for op in plan.of_type(ops.DeleteImages))
    train = plan.of_type(ops.Train)
    publish = plan.of_type(ops.Publish)
    return [
        f"Plan: {s.add} to add, {s.change} to change, {s.destroy} to destroy.",
        f"Images: {uploads} to upload, {retags} to retag, {deletes} to delete.",
        "Training: " + (f"new iteration {train[0].iteration_name}." if train else "none."),
        "Publishing: "
        + (f"{publish[0].publish_name!r} -> {publish[0].iteration_name}." if publish else "none."),
    ]


@singledispatch
def describe(op: ops.Op, verbose: bool) -> list[str]:
    raise NotImplementedError(f"no renderer for {type(op).__name__}")


def _line(symbol: str, address: str, reason: str) -> str:
    return f"  {symbol} {address}  # {reason}"


@describe.register
def _(op: ops.DeleteProject, verbose: bool) -> list[str]:
    return [_line("-/+", f"project.{op.name}", f"must be replaced: {op.reason}")]


@describe.register
def _(op: ops.CreateProject, verbose: bool) -> list[str]:
    return [
        _line("+", f"project.{op.name}", op.reason),
        f"      classification = {op.classification_type}, domain = {op.domain_id}",
    ]


@describe.register
def _(op: ops.UpdateProject, verbose: bool) -> list[str]:
    return [_line("~", f"project.{op.name}", op.reason), *_changes(op.before, op.after)]


@describe.register
def _(op: ops.CreateTag, verbose: bool) -> list[str]:
    return [
        _line("+", f"tag.{op.name}", op.reason + ("" if op.type == "Regular" else f"; {op.type}"))
    ]


@describe.register
def _(op: ops.UpdateTag, verbose: bool) -> list[str]:
    return [_line("~", f"tag.{op.name}", op.reason), *_changes(op.before, op.after)]


@describe.register
def _(op: ops.DeleteTag, verbose: bool) -> list[str]:
    return [_line("-", f"tag.{op.name}", op.reason)]


def _changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return [f"      {k}: {before.get(k)!r} -> {after.get(k)!r}" for k in sorted(after)]


@describe.register
def _(op: ops.UploadImages, verbose: bool) -> list[str]:
    return _per_tag("+", "upload", op.images, op.reason, verbose)


@describe.register
def _(op: ops.AddImageTags, verbose: bool) -> list[str]:
    return _per_tag("~", "add tag to", op.images, op.reason, verbose)


@describe.register
def _(op: ops.RemoveImageTags, verbose: bool) -> list[str]:
    return _per_tag("~", "remove tag from", op.images, op.reason, verbose)


def _per_tag(
    symbol: str, verb: str, images: tuple[Any, ...], reason: str, verbose: bool
) -> list[str]:
    counts = Counter(tag for image in images for tag in image.tags or ("(untagged)",))
    lines = [
        _line(symbol, f"images[{tag}]", f"{verb} {n} image(s): {reason}")
        for tag, n in sorted(counts.items())
    ]
    if verbose:
        lines += [f"      {image.path}  [{', '.join(image.tags)}]" for image in images]
    return lines


@describe.register
def _(op: ops.DeleteImages, verbose: bool) -> list[str]:
    return [_line("-", "images", f"delete {len(op.image_ids)} image(s): {op.reason}")]


@describe.register
def _(op: ops.Train, verbose: bool) -> list[str]:
    verb = "wait for" if op.wait_only else "train"
    return [
        _line("+", f"iteration.{op.iteration_name}", f"{verb} ({op.training_type}): {op.reason}")
    ]


@describe.register
def _(op: ops.Publish, verbose: bool) -> list[str]:
    return [_line("+", f"publish.{op.publish_name}", f"-> {op.iteration_name}: {op.reason}")]


@describe.register
def _(op: ops.Unpublish, verbose: bool) -> list[str]:
    return [_line("-", f"publish.{op.publish_name}", f"off {op.iteration_name}: {op.reason}")]


@describe.register
def _(op: ops.DeleteIteration, verbose: bool) -> list[str]:
    return [_line("-", f"iteration.{op.iteration_name}", op.reason)]


def render_json(plan: Plan) -> str:
    """The machine-readable plan (see docs/plan-json.md)."""
    s = summarize(plan)
    doc = {
        "format_version": FORMAT_VERSION,
        "project": plan.project_name,
        "live_fingerprint": plan.live_fingerprint,
        "summary": dataclasses.asdict(s),
        "changes": [_change(op) for op in plan.operations],
        "drift": [dataclasses.asdict(d) for d in plan.drift],
    }
    return json.dumps(doc, indent=2, sort_keys=False)


_ACTIONS = {
    ops.CreateProject: ["create"],
    ops.DeleteProject: ["delete", "create"],
    ops.UpdateProject: ["update"],
    ops.CreateTag: ["create"],
    ops.UpdateTag: ["update"],
    ops.DeleteTag: ["delete"],
    ops.UploadImages: ["create"],
    ops.AddImageTags: ["update"],
    ops.RemoveImageTags: ["update"],
    ops.DeleteImages: ["delete"],
    ops.Train: ["create"],
    ops.Publish: ["create"],
    ops.Unpublish: ["delete"],
    ops.DeleteIteration: ["delete"],
}


def _change(op: ops.Op) -> dict[str, Any]:
    body = dataclasses.asdict(op)
    reason = body.pop("reason")
    return {"type": type(op).__name__, "actions": _ACTIONS[type(op)], "reason": reason, **body}
