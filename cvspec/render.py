"""Render plans for people (text) and machines (JSON). Returns strings; prints nothing.

All three formats are views of the same `Change` list (Terraform's `resource_changes`): one
entry per operation, except that a project deleted and created again because the service
cannot change it in place is one replacement (`-/+`), and so is a publish name moving from
one iteration to another. The JSON schema is documented in docs/plan-json.md; the Markdown
view for pull requests is in cvspec.markdown.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import singledispatch
from typing import Any

from cvspec import __version__, ops
from cvspec.plan import Drift, Plan

FORMAT_VERSION = "1.0"

SYMBOLS = {
    ("create",): "+",
    ("update",): "~",
    ("delete",): "-",
    ("delete", "create"): "-/+",
}
_LEGEND = {
    "+": "create",
    "~": "update in-place",
    "-": "destroy",
    "-/+": "destroy and then create replacement",
}
_HEADLINE = {
    "+": "will be created",
    "~": "will be updated in-place",
    "-": "will be destroyed",
    "-/+": "must be replaced",
}
_COLOURS = {"+": "32", "~": "33", "-": "31", "-/+": "35", "!": "36", "bold": "1"}


@dataclass(frozen=True)
class Change:
    """One resource change: what a reviewer sees as one entry."""

    address: str
    resource: str  # project | tag | images | iteration | publish
    actions: tuple[str, ...]
    reason: str
    reason_code: str
    operations: tuple[str, ...]  # the op types behind it, in execution order
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    replace_paths: tuple[str, ...] = ()
    images: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (path or id, tags), images only
    headline: str = ""  # overrides the action's wording (e.g. "will be trained")

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.actions]


@dataclass(frozen=True)
class Summary:
    """Terraform's counts over the project and its tags, then images, training, publishing."""

    add: int
    change: int
    destroy: int
    upload: int = 0
    retag: int = 0
    delete_images: int = 0
    training: str = "none"
    publishing: str = "none"
    delete_iterations: int = 0


# --- from operations to changes ----------------------------------------------------------


def changes(plan: Plan) -> list[Change]:
    """The plan's changes in execution order, replacements merged."""
    found: list[Change] = []
    operations = list(plan.operations)
    for op in operations:
        merged = _merge(found, op)
        if merged is None:
            found.append(change_of(op))
        else:
            found[found.index(merged[0])] = merged[1]
    return found


def _merge(found: list[Change], op: ops.Op) -> tuple[Change, Change] | None:
    """Fold a replacement's second half into its first half."""
    if (
        isinstance(op, ops.CreateProject)
        and op.reason_code is ops.Reason.REPLACE_BECAUSE_CANNOT_UPDATE
    ):
        first = next((c for c in found if c.address == f"project.{op.name}"), None)
    elif isinstance(op, ops.Publish):
        first = next((c for c in found if c.address == f"publish.{op.publish_name}"), None)
    else:
        return None
    if first is None:
        return None
    second = change_of(op)
    before = first.before or {}
    after = second.after or {}
    paths = tuple(k for k in sorted(after) if k in before and before[k] != after[k])
    replaced = Change(
        address=first.address,
        resource=first.resource,
        actions=("delete", "create"),
        reason=first.reason if first.resource == "project" else second.reason,
        reason_code=first.reason_code if first.resource == "project" else second.reason_code,
        operations=(*first.operations, *second.operations),
        before=before,
        after=after,
        replace_paths=paths if first.resource == "project" else (),
    )
    return first, replaced


@singledispatch
def change_of(op: ops.Op) -> Change:
    """The Change one operation makes (replacements are merged by `changes`)."""
    raise NotImplementedError(f"no renderer for {type(op).__name__}")


def _change(op: ops.Op, address: str, resource: str, actions: tuple[str, ...], **kw: Any) -> Change:
    return Change(
        address=address,
        resource=resource,
        actions=actions,
        reason=op.reason,
        reason_code=op.reason_code.value,
        operations=(type(op).__name__,),
        **kw,
    )


@change_of.register
def _(op: ops.CreateProject) -> Change:
    after = {
        "name": op.name,
        "description": op.description,
        "domain_id": op.domain_id,
        "classification_type": op.classification_type,
    }
    return _change(op, f"project.{op.name}", "project", ("create",), after=after)


@change_of.register
def _(op: ops.DeleteProject) -> Change:
    before = {"name": op.name, **op.settings}
    return _change(op, f"project.{op.name}", "project", ("delete",), before=before)


@change_of.register
def _(op: ops.UpdateProject) -> Change:
    return _change(
        op, f"project.{op.name}", "project", ("update",), before=op.before, after=op.after
    )


@change_of.register
def _(op: ops.CreateTag) -> Change:
    after = {"name": op.name, "description": op.description, "type": op.type}
    return _change(op, f"tag.{op.name}", "tag", ("create",), after=after)


@change_of.register
def _(op: ops.UpdateTag) -> Change:
    address = f"tag.{op.before.get('name', op.name)}"
    return _change(op, address, "tag", ("update",), before=op.before, after=op.after)


@change_of.register
def _(op: ops.DeleteTag) -> Change:
    return _change(op, f"tag.{op.name}", "tag", ("delete",), before={"name": op.name})


@change_of.register
def _(op: ops.UploadImages) -> Change:
    listed = tuple((i.path, i.tags) for i in op.images)
    after = {"count": len(op.images), "images": [_upload_json(i) for i in op.images]}
    return _change(
        op, "images", "images", ("create",), after=after, images=listed, headline="will be uploaded"
    )


def _upload_json(image: ops.ImageUpload) -> dict[str, Any]:
    body: dict[str, Any] = {"path": image.path, "sha256": image.sha256, "tags": list(image.tags)}
    if image.url:
        body["url"] = image.url
    return body


@change_of.register
def _(op: ops.AddImageTags) -> Change:
    return _retag(op, "add", "will be tagged")


@change_of.register
def _(op: ops.RemoveImageTags) -> Change:
    return _retag(op, "remove", "will be untagged")


def _retag(op: ops.AddImageTags | ops.RemoveImageTags, verb: str, headline: str) -> Change:
    listed = tuple((i.path, i.tags) for i in op.images)
    body = [{"image_id": i.image_id, "path": i.path, verb: list(i.tags)} for i in op.images]
    return _change(
        op,
        "images",
        "images",
        ("update",),
        after={"count": len(body), "images": body},
        images=listed,
        headline=headline,
    )


@change_of.register
def _(op: ops.DeleteImages) -> Change:
    tags = op.tags or tuple(() for _ in op.image_ids)
    listed = tuple(zip(op.image_ids, tags, strict=True))
    body = [{"image_id": i, "tags": list(t)} for i, t in listed]
    return _change(
        op,
        "images",
        "images",
        ("delete",),
        before={"count": len(body), "images": body},
        images=listed,
    )


@change_of.register
def _(op: ops.Train) -> Change:
    after = {
        "name": op.iteration_name,
        "training_type": op.training_type,
        "budget_hours": op.budget_hours,
        "force": op.force,
        "wait_only": op.wait_only,
    }
    before = {"name": op.previous_iteration} if op.previous_iteration else None
    headline = "is training; apply waits for it" if op.wait_only else "will be trained"
    return _change(
        op,
        f"iteration.{op.iteration_name}",
        "iteration",
        ("create",),
        before=before,
        after=after,
        headline=headline,
    )


@change_of.register
def _(op: ops.Publish) -> Change:
    after = {
        "iteration": op.iteration_name,
        "prediction_resource_id": op.prediction_resource_id,
        "gates": _gates_json(op.gates),
    }
    return _change(op, f"publish.{op.publish_name}", "publish", ("create",), after=after)


def _gates_json(gates: ops.Gates) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(gates)


@change_of.register
def _(op: ops.Unpublish) -> Change:
    before = {"iteration": op.iteration_name}
    return _change(op, f"publish.{op.publish_name}", "publish", ("delete",), before=before)


@change_of.register
def _(op: ops.DeleteIteration) -> Change:
    before = {"name": op.iteration_name, "id": op.iteration_id}
    return _change(op, f"iteration.{op.iteration_name}", "iteration", ("delete",), before=before)


@change_of.register
def _(op: ops.RenameIteration) -> Change:
    before, after = {"name": op.iteration_name}, {"name": op.new_name}
    address = f"iteration.{op.iteration_name}"
    return _change(op, address, "iteration", ("update",), before=before, after=after)


def describe(op: ops.Op, verbose: bool = False) -> list[str]:
    """One operation in a line or two (`+ tag.seven  # reason`), as apply's progress shows it.

    Detail lines (image files with --verbose) are indented by six spaces.
    """
    change = change_of(op)
    if change.resource != "images":
        return [f"  {change.symbol} {change.address}  # {change.reason}"]
    verb = {"will be tagged": "tag ", "will be untagged": "untag "}.get(change.headline, "")
    counts = _tag_counts(tags for _, tags in change.images)
    lines = [
        f"  {change.symbol} images[{tag}]  # {verb}{n} image(s): {change.reason}"
        for tag, n in counts.items()
    ]
    if verbose:
        lines += [f"      {path}  [{', '.join(tags)}]" for path, tags in change.images]
    return lines


# --- summary -------------------------------------------------------------------------------


def summarize(plan: Plan) -> Summary:
    """Counts for the summary lines (replacements count as one add and one destroy)."""
    counted = [c for c in changes(plan) if c.resource in ("project", "tag")]
    retagged = {i.image_id for op in plan.of_type(ops.AddImageTags) for i in op.images} | {
        i.image_id for op in plan.of_type(ops.RemoveImageTags) for i in op.images
    }
    return Summary(
        add=sum(1 for c in counted if "create" in c.actions),
        change=sum(1 for c in counted if c.actions == ("update",)),
        destroy=sum(1 for c in counted if "delete" in c.actions),
        upload=sum(len(op.images) for op in plan.of_type(ops.UploadImages)),
        retag=len(retagged),
        delete_images=sum(len(op.image_ids) for op in plan.of_type(ops.DeleteImages)),
        training=_training_summary(plan),
        publishing=_publishing_summary(plan),
        delete_iterations=len(plan.of_type(ops.DeleteIteration)),
    )


def _training_summary(plan: Plan) -> str:
    train = plan.of_type(ops.Train)
    if not train:
        return "none"
    verb = "wait for iteration" if train[0].wait_only else "new iteration"
    return f"{verb} {train[0].iteration_name}"


def _publishing_summary(plan: Plan) -> str:
    publish = plan.of_type(ops.Publish)
    if publish:
        return f"{publish[0].publish_name!r} -> {publish[0].iteration_name}"
    unpublish = plan.of_type(ops.Unpublish)
    if unpublish:
        return f"unpublish {unpublish[0].publish_name!r} from {unpublish[0].iteration_name}"
    return "none"


def summary_lines(plan: Plan) -> list[str]:
    s = summarize(plan)
    live = plan.live_summary
    if plan.destroy and live is not None and plan.of_type(ops.DeleteProject):
        # what goes with the project, which the per-operation counts do not show
        published = ", ".join(repr(name.rsplit("=", 1)[0]) for name in live.published)
        return [
            f"Plan: {s.add} to add, {s.change} to change, {s.destroy} to destroy.",
            f"Images: {live.images} to delete with the project.",
            f"Training: {live.iterations} iteration(s) to delete with the project.",
            f"Publishing: {'unpublish ' + published if published else 'none'}.",
        ]
    iterations = (
        f"; {s.delete_iterations} old iteration(s) to delete" if s.delete_iterations else ""
    )
    return [
        f"Plan: {s.add} to add, {s.change} to change, {s.destroy} to destroy.",
        f"Images: {s.upload} to upload, {s.retag} to retag, {s.delete_images} to delete.",
        f"Training: {s.training}{iterations}.",
        f"Publishing: {s.publishing}.",
    ]


# --- text ------------------------------------------------------------------------------------

NO_CHANGES = "No changes. Your project matches the spec."
_NO_CHANGES_DETAIL = (
    "cvspec has compared the project in the service with the spec and found no differences, "
    "so no changes are needed."
)
NO_DESTROY = "No changes. No objects need to be destroyed."


def render_text(plan: Plan, verbose: bool = False, color: bool = False) -> str:
    """Terraform-style text: drift first, then each change with its reason, then the summary."""
    paint = _Painter(color)
    lines = _drift_lines(plan.drift, verbose, paint)
    found = changes(plan)
    if not found:
        lines += [paint.bold(NO_DESTROY if plan.destroy else NO_CHANGES)]
        if not plan.destroy:
            lines += ["", _NO_CHANGES_DETAIL]
        return "\n".join(lines)
    lines += _legend(found, paint)
    lines += ["cvspec will perform the following actions:", ""]
    for change in found:
        lines += change_lines(change, verbose, paint)
        lines.append("")
    lines += [paint.bold(summary_lines(plan)[0]), *summary_lines(plan)[1:]]
    return "\n".join(lines)


class _Painter:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, key: str, text: str) -> str:
        return f"\x1b[{_COLOURS[key]}m{text}\x1b[0m" if self.enabled else text

    def bold(self, text: str) -> str:
        return self("bold", text)


def _legend(found: Sequence[Change], paint: _Painter) -> list[str]:
    used = {c.symbol for c in found}
    lines = ["Resource actions are indicated with the following symbols:"]
    lines += [f"  {paint(s, s.rjust(3))} {_LEGEND[s]}" for s in _LEGEND if s in used]
    return [*lines, ""]


def change_lines(change: Change, verbose: bool, paint: _Painter | None = None) -> list[str]:
    """One change: headline, reason, symbol line, attributes (images: per-tag counts)."""
    paint = paint or _Painter(False)
    headline = change.headline or _HEADLINE[change.symbol]
    lines = [
        paint.bold(f"  # {change.address} {headline}"),
        f"  # (because {change.reason})",
    ]
    symbol = paint(change.symbol, change.symbol.rjust(3))
    if change.resource == "images":
        return lines + _image_lines(change, symbol, verbose)
    return [*lines, f"{symbol} {change.address}", *_attribute_lines(change)]


def _attribute_lines(change: Change) -> list[str]:
    before, after = change.before or {}, change.after or {}
    if change.actions == ("delete",):
        return []
    if change.actions == ("create",):
        shown = {k: v for k, v in after.items() if k not in ("name", "gates") and v}
        width = max((len(k) for k in shown), default=0)
        return [f"      {k.ljust(width)} = {_value(v)}" for k, v in shown.items()]
    keys = [k for k in after if k in before and before[k] != after[k]]
    width = max((len(k) for k in keys), default=0)
    return [
        f"    ~ {k.ljust(width)} = {_value(before.get(k))} -> {_value(after.get(k))}"
        + ("  # forces replacement" if k in change.replace_paths else "")
        for k in keys
    ]


def _value(value: Any) -> str:
    return "null" if value is None else json.dumps(value)


def _image_lines(change: Change, symbol: str, verbose: bool) -> list[str]:
    counts = _tag_counts(tags for _, tags in change.images)
    width = max(len(f"images[{t}]") for t in counts)
    verb = {"will be tagged": "tag", "will be untagged": "untag"}.get(change.headline, "")
    lines = [
        f"{symbol} {f'images[{tag}]'.ljust(width)}  {(verb + ' ') if verb else ''}{n} image(s)"
        for tag, n in counts.items()
    ]
    if verbose:
        lines += [f"        {path}  [{', '.join(tags)}]" for path, tags in change.images]
    return lines


def _tag_counts(tag_sets: Iterable[tuple[str, ...]]) -> dict[str, int]:
    counts = Counter(t for tags in tag_sets for t in tags or ("(untagged)",))
    return dict(sorted(counts.items()))


def _drift_lines(drift: Sequence[Drift], verbose: bool, paint: _Painter) -> list[str]:
    if not drift:
        return []
    lines = [paint.bold("Note: Objects have changed outside of cvspec"), ""]
    for d in drift:
        lines.append(f"  {paint('!', '!')} {d.address}: {d.detail}")
        if d.counts:
            lines.append("      " + ", ".join(f"{tag}: {n}" for tag, n in d.counts))
        if verbose:
            lines += [f"        {item}" for item in d.items]
    return [*lines, "", "This plan leaves them as they are.", ""]


# --- JSON ------------------------------------------------------------------------------------


def plan_document(plan: Plan) -> dict[str, Any]:
    """The machine-readable plan as a dict (see docs/plan-json.md)."""
    s = summarize(plan)
    return {
        "format_version": FORMAT_VERSION,
        "cvspec_version": __version__,
        "project": plan.project_name,
        "target": plan.target,
        "destroy": plan.destroy,
        "applyable": not plan.is_empty(),
        "summary": _summary_json(s),
        "resource_changes": [_change_json(c) for c in changes(plan)],
        "resource_drift": [_drift_json(d) for d in plan.drift],
        "live_fingerprint": plan.live_fingerprint,
    }


def render_json(plan: Plan) -> str:
    """The machine-readable plan (see docs/plan-json.md)."""
    return json.dumps(plan_document(plan), indent=2)


def _summary_json(s: Summary) -> dict[str, Any]:
    return {
        "add": s.add,
        "change": s.change,
        "destroy": s.destroy,
        "images": {"upload": s.upload, "retag": s.retag, "delete": s.delete_images},
        "training": s.training,
        "publishing": s.publishing,
        "delete_iterations": s.delete_iterations,
    }


def _change_json(c: Change) -> dict[str, Any]:
    return {
        "address": c.address,
        "type": c.resource,
        "operations": list(c.operations),
        "action_reason": c.reason_code,
        "reason": c.reason,
        "change": {
            "actions": list(c.actions),
            "before": c.before,
            "after": c.after,
            "replace_paths": list(c.replace_paths),
        },
    }


def _drift_json(d: Drift) -> dict[str, Any]:
    return {
        "address": d.address,
        "kind": d.kind.value,
        "detail": d.detail,
        "counts": dict(d.counts),
        "items": list(d.items),
    }
