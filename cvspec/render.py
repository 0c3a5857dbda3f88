"""Render plans for people (text) and machines (JSON). Returns strings; prints nothing.

All three formats are views of the same `Change` list (Terraform's `resource_changes`): one
entry per operation, except that a project deleted and created again because the service
cannot change it in place is one replacement (`-/+`). A publish name moving from one
iteration to another is one in-place update (`~`). The counts (`Plan: X to add, Y to
change, Z to destroy.`) come from one `Summary`, shared by the three formats. The JSON
schema is documented in docs/plan-json.md; the Markdown view for pull requests is in
cvspec.markdown.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from functools import singledispatch
from typing import Any
from urllib.parse import urlsplit

from cvspec import __version__, ops
from cvspec.identity import iteration_fingerprint
from cvspec.plan import Drift, DriftKind, Plan
from cvspec.settings_diff import SettingChange, setting_changes

FORMAT_VERSION = "2.3"

SYMBOLS = {
    ("create",): "+",
    ("update",): "~",
    ("delete",): "-",
    ("delete", "create"): "-/+",
    ("read",): "<=",
}
_LEGEND = {
    "+": "create",
    "~": "update in-place",
    "-": "destroy",
    "-/+": "destroy and then create replacement",
    "<=": "wait for (an iteration already training)",
}
_HEADLINE = {
    "+": "will be created",
    "~": "will be updated in-place",
    "-": "will be destroyed",
    "-/+": "must be replaced",
    "<=": "is training; apply waits for it",
}
_STYLES = {
    "+": "green",
    "~": "yellow",
    "-": "red",
    "-/+": "magenta",
    "<=": "cyan",
    "!": "cyan",
    "bold": "bold",
}
"""rich styles of the change symbols. Whether to colour at all is rich's decision (see
cvspec.commands.plan.use_color); these are the 8 standard colours, the same escape codes in
every colour system, so the text is the same in any terminal."""

ACCOUNT = "account"
"""Azure accounts of the resources section (their line shows only in plans that change one)."""
RESOURCES = ("project", "tag", "image", "iteration", "publish", ACCOUNT)
"""The kinds counted in the summary (`by_resource`), in display order."""


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
    notes: tuple[str, ...] = ()  # consequences a reviewer must read (losses, warnings)

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.actions]


@dataclass(frozen=True)
class Count:
    """Terraform's three counts for one kind of resource."""

    add: int = 0
    change: int = 0
    destroy: int = 0

    def __add__(self, other: Count) -> Count:
        return Count(self.add + other.add, self.change + other.change, self.destroy + other.destroy)

    def line(self) -> str:
        return f"{self.add} to add, {self.change} to change, {self.destroy} to destroy"


@dataclass(frozen=True)
class Summary:
    """Every count the three formats show, from one place.

    `by_resource` counts, per kind: the project (a replacement is one add and one destroy),
    tags, images (uploaded = add; retagged or adopted = change; deleted = destroy),
    iterations (trained = add, not when apply only waits for one; renamed = change;
    deleted = destroy) and publish names (published = add; moved to another iteration =
    change; unpublished = destroy). `total` is their sum: the `Plan:` line.
    """

    by_resource: dict[str, Count]
    upload: int = 0
    retag: int = 0
    adopt: int = 0
    delete_images: int = 0
    training: str = "none"
    rename_iterations: int = 0
    delete_iterations: int = 0
    publishing: str = "none"

    @property
    def total(self) -> Count:
        return sum(self.by_resource.values(), Count())

    @property
    def add(self) -> int:
        return self.total.add

    @property
    def change(self) -> int:
        return self.total.change

    @property
    def destroy(self) -> int:
        return self.total.destroy


# --- from operations to changes ----------------------------------------------------------


def changes(plan: Plan) -> list[Change]:
    """The plan's changes in execution order, a project replacement merged into one."""
    found: list[Change] = []
    for op in plan.operations:
        change = _name_domains(change_of(op), plan.domains)
        merged = _merge(found, op, change)
        if merged is None:
            found.append(change)
        else:
            found[found.index(merged[0])] = merged[1]
    return found


def _name_domains(change: Change, names: Mapping[str, str]) -> Change:
    """Show a project's domain by name (`domain = "General [A2]"`) next to its id."""
    if change.resource != "project" or not names:
        return change
    return replace(
        change, before=_with_domain(change.before, names), after=_with_domain(change.after, names)
    )


def _with_domain(values: dict[str, Any] | None, names: Mapping[str, str]) -> dict[str, Any] | None:
    if not values or values.get("domain_id") not in names:
        return values
    named: dict[str, Any] = {}
    for key, value in values.items():
        if key == "domain_id":
            named["domain"] = names[value]
        named[key] = value
    return named


def _merge(found: list[Change], op: ops.Op, second: Change) -> tuple[Change, Change] | None:
    """Fold a project replacement's CreateProject into its DeleteProject."""
    if not (
        isinstance(op, ops.CreateProject)
        and op.reason_code is ops.Reason.REPLACE_BECAUSE_CANNOT_UPDATE
    ):
        return None
    first = next((c for c in found if c.address == f"project.{op.name}"), None)
    if first is None or first.actions != ("delete",):
        return None
    before = first.before or {}
    after = second.after or {}
    differing = sorted(
        c.path for c in setting_changes({k: before[k] for k in after if k in before}, after)
    )
    # what forces it: the classification type, or leaving an object-detection domain (a
    # domain whose name is unknown may be one); a classification domain alone changes in place
    domain = before.get("domain")
    detection = domain is None or str(domain).endswith("(ObjectDetection)")
    forcing = [
        k
        for k in differing
        if k == "classification_type" or (k in ("domain", "domain_id") and detection)
    ]
    paths = tuple(forcing or differing)
    replaced = Change(
        address=first.address,
        resource=first.resource,
        actions=("delete", "create"),
        reason=first.reason,
        reason_code=first.reason_code,
        operations=(*first.operations, *second.operations),
        before=before,
        after=after,
        replace_paths=paths,
        notes=first.notes,
    )
    return first, replaced


@singledispatch
def change_of(op: ops.Op) -> Change:
    """The Change one operation makes (a project replacement is merged by `changes`)."""
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
    before: dict[str, Any] = {"name": op.name, **op.settings}
    if op.losses:
        before["losses"] = list(op.losses)
    notes = tuple(f"this destroys: {loss}" for loss in op.losses)
    return _change(op, f"project.{op.name}", "project", ("delete",), before=before, notes=notes)


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
    return _images_update(op, body, listed, headline)


def _images_update(
    op: ops.Op,
    body: list[dict[str, Any]],
    listed: tuple[tuple[str, tuple[str, ...]], ...],
    headline: str,
) -> Change:
    """An update of images (retagged or adopted): their count and entries, listed by tag."""
    after = {"count": len(body), "images": body}
    return _change(
        op, "images", "images", ("update",), after=after, images=listed, headline=headline
    )


@change_of.register
def _(op: ops.AdoptPendingImages) -> Change:
    tags = op.tags or tuple(() for _ in op.image_ids)
    listed = tuple(zip(op.image_ids, tags, strict=True))
    keys = op.hash_keys or tuple("" for _ in op.image_ids)
    body = [{"image_id": i, "hash_key": k} for i, k in zip(op.image_ids, keys, strict=True)]
    return _images_update(op, body, listed, ADOPTED)


ADOPTED = "will be adopted"


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
    after: dict[str, Any] = {
        "name": op.iteration_name,
        "training_type": op.training_type,
        "budget_hours": op.budget_hours,
        "force": op.force,
        "wait_only": op.wait_only,
        "selected_tags": list(op.selected_tags),
    }
    before: dict[str, Any] | None = None
    if op.previous_iteration:
        before = {"name": op.previous_iteration, **op.previous_settings}
    if op.wait_only:
        actions, headline = ("read",), _HEADLINE["<="]
    else:
        actions, headline = ("create",), "will be trained"
    notes: tuple[str, ...] = ()
    if op.adopt_candidate:
        after["adopt_candidate"] = op.adopt_candidate
        outside = "" if iteration_fingerprint(op.adopt_candidate) else " (trained outside cvspec)"
        notes = (
            f"or, if the service finds {op.adopt_candidate!r}{outside} trained on exactly these "
            f"images and tags, that iteration is renamed {op.iteration_name!r}",
        )
    return _change(
        op,
        f"iteration.{op.iteration_name}",
        "iteration",
        actions,
        before=before,
        after=after,
        headline=headline,
        notes=notes,
    )


@change_of.register
def _(op: ops.RenameIteration) -> Change:
    return _change(
        op,
        f"iteration.{op.iteration_name}",
        "iteration",
        ("update",),
        before={"name": op.iteration_name, "id": op.iteration_id},
        after={"name": op.new_name, "id": op.iteration_id},
        headline="will be renamed",
    )


@change_of.register
def _(op: ops.Publish) -> Change:
    after = {
        "iteration": op.iteration_name,
        "prediction_resource_id": op.prediction_resource_id,
        "gates": asdict(op.gates),
    }
    address = f"publish.{op.publish_name}"
    notes: tuple[str, ...] = ()
    if op.recorded_failure:
        after["recorded_failure"] = op.recorded_failure
        notes = (f"{op.recorded_failure!r} is renamed {op.iteration_name!r} if it passes",)
    if op.from_iteration is None:
        return _change(op, address, "publish", ("create",), after=after, notes=notes)
    before = {"iteration": op.from_iteration}
    if op.from_prediction_resource_id is not None:
        before["prediction_resource_id"] = op.from_prediction_resource_id
    return _change(op, address, "publish", ("update",), before=before, after=after, notes=notes)


@change_of.register
def _(op: ops.Unpublish) -> Change:
    before = {"iteration": op.iteration_name}
    return _change(
        op,
        f"publish.{op.publish_name}",
        "publish",
        ("delete",),
        before=before,
        notes=(f"warning: {unpublish_warning(op.publish_name)}",),
    )


def unpublish_warning(publish_name: str) -> str:
    """What removing a publish name does to the clients that call it."""
    return f'clients calling {publish_name!r} will fail ("Invalid iteration")'


@change_of.register
def _(op: ops.DeleteIteration) -> Change:
    before = {"name": op.iteration_name, "id": op.iteration_id}
    return _change(op, f"iteration.{op.iteration_name}", "iteration", ("delete",), before=before)


@change_of.register
def _(op: ops.CreateAccount) -> Change:
    after = {
        "name": op.name,
        "id": op.arm_id,
        "role": op.role,
        "kind": op.kind,
        "sku": op.sku,
        "location": op.location,
    }
    return _change(op, f"account.{op.name}", ACCOUNT, ("create",), after=after)


@change_of.register
def _(op: ops.UpdateAccountSku) -> Change:
    before = {"name": op.name, "kind": op.kind, "sku": op.before}
    after = {"name": op.name, "kind": op.kind, "sku": op.after}
    return _change(op, f"account.{op.name}", ACCOUNT, ("update",), before=before, after=after)


@change_of.register
def _(op: ops.DeleteAccount) -> Change:
    before = {"name": op.name, "id": op.arm_id, "kind": op.kind}
    notes = ("this destroys the account, with every project and model it holds",)
    return _change(op, f"account.{op.name}", ACCOUNT, ("delete",), before=before, notes=notes)


def describe(op: ops.Op, verbose: bool = False) -> list[str]:
    """One operation in a line or two (`+ tag.seven  # reason`), as apply's progress shows it.

    Detail lines (image files with --verbose) are indented by six spaces.
    """
    change = change_of(op)
    if change.resource != "images":
        return [f"  {change.symbol} {change.address}  # {change.reason}"]
    if change.headline == ADOPTED:
        lines = [f"  ~ images  # adopt {len(change.images)} image(s): {change.reason}"]
        return lines + ([f"      {i}" for i, _ in sorted(change.images)] if verbose else [])
    verb = {"will be tagged": "tag ", "will be untagged": "untag "}.get(change.headline, "")
    lines = []
    for tag, paths in _by_tag(change.images).items():
        lines.append(
            f"  {change.symbol} images[{tag}]  # {verb}{len(paths)} image(s): {change.reason}"
        )
        if verbose:
            lines += [f"      {path}" for path in paths]
    return lines


# --- summary -------------------------------------------------------------------------------


def summarize(plan: Plan) -> Summary:
    """Every count of the plan (see `Summary`); text, JSON and Markdown all show these."""
    of = plan.of_type
    retagged = {i.image_id for op in of(ops.AddImageTags) for i in op.images} | {
        i.image_id for op in of(ops.RemoveImageTags) for i in op.images
    }
    upload = sum(len(op.images) for op in of(ops.UploadImages))
    adopt = sum(len(op.image_ids) for op in of(ops.AdoptPendingImages))
    delete_images = sum(len(op.image_ids) for op in of(ops.DeleteImages))
    trained = [op for op in of(ops.Train) if not op.wait_only]
    renamed = of(ops.RenameIteration)
    deleted_iterations = of(ops.DeleteIteration)
    publish = of(ops.Publish)
    by_resource = {
        "project": Count(
            len(of(ops.CreateProject)), len(of(ops.UpdateProject)), len(of(ops.DeleteProject))
        ),
        "tag": Count(len(of(ops.CreateTag)), len(of(ops.UpdateTag)), len(of(ops.DeleteTag))),
        "image": Count(upload, len(retagged) + adopt, delete_images),
        "iteration": Count(len(trained), len(renamed), len(deleted_iterations)),
        "publish": Count(
            sum(1 for op in publish if op.from_iteration is None),
            sum(1 for op in publish if op.from_iteration is not None),
            len(of(ops.Unpublish)),
        ),
    }
    by_resource[ACCOUNT] = Count(
        len(of(ops.CreateAccount)), len(of(ops.UpdateAccountSku)), len(of(ops.DeleteAccount))
    )
    return Summary(
        by_resource=by_resource,
        upload=upload,
        retag=len(retagged),
        adopt=adopt,
        delete_images=delete_images,
        training=_training_summary(plan),
        rename_iterations=len(renamed),
        delete_iterations=len(deleted_iterations),
        publishing=_publishing_summary(plan),
    )


def _training_summary(plan: Plan) -> str:
    train = plan.of_type(ops.Train)
    if not train:
        return "none"
    verb = "wait for iteration" if train[0].wait_only else "new iteration"
    return f"{verb} {train[0].iteration_name}"


def _publishing_summary(plan: Plan) -> str:
    parts = []
    for op in plan.of_type(ops.Publish):
        if op.from_iteration is None:
            parts.append(f"{op.publish_name!r} -> {op.iteration_name}")
        else:
            parts.append(f"move {op.publish_name!r} {op.from_iteration} -> {op.iteration_name}")
    parts += [
        f"unpublish {op.publish_name!r} from {op.iteration_name}"
        for op in plan.of_type(ops.Unpublish)
    ]
    return "; ".join(parts) or "none"


def plan_line(summary: Summary) -> str:
    """Terraform's line: `Plan: X to add, Y to change, Z to destroy.`"""
    return f"Plan: {summary.total.line()}."


def summary_lines(plan: Plan) -> list[str]:
    """The `Plan:` line, then one line per kind; the kinds' counts add up to the first line."""
    s = summarize(plan)
    gone = with_project(plan)
    if gone is not None:
        # what goes with the project, which the per-operation counts do not show
        published = ", ".join(repr(name) for name in gone["published"])
        return [
            plan_line(s),
            f"Images: {gone['images']} to delete with the project.",
            f"Training: {gone['iterations']} iteration(s) to delete with the project.",
            f"Publishing: {'unpublish ' + published if published else 'none'}.",
        ]
    accounts = [_accounts_line(plan)] if s.by_resource[ACCOUNT] != Count() else []
    return [
        plan_line(s),
        *accounts,
        _project_and_tags_line(s),
        _images_line(s),
        _iterations_line(s),
        f"Publishing: {s.publishing}.",
    ]


def _accounts_line(plan: Plan) -> str:
    parts = [f"create {op.name} ({op.kind}, {op.sku})" for op in plan.of_type(ops.CreateAccount)]
    parts += [
        f"{op.name} SKU {op.before} -> {op.after}" for op in plan.of_type(ops.UpdateAccountSku)
    ]
    parts += [f"delete {op.name} ({op.kind})" for op in plan.of_type(ops.DeleteAccount)]
    return f"Accounts: {'; '.join(parts)}."


def with_project(plan: Plan) -> dict[str, Any] | None:
    """For a plan of `cvspec destroy`: what goes with the project (images, iterations,
    published names), which are not operations of their own; None for other plans."""
    live = plan.live_summary
    if not (plan.destroy and live is not None and plan.of_type(ops.DeleteProject)):
        return None
    return {
        "images": live.images,
        "iterations": live.iterations,
        "published": [name.rsplit("=", 1)[0] for name in live.published],
    }


def _project_and_tags_line(s: Summary) -> str:
    project = s.by_resource["project"]
    if project.add and project.destroy:
        what = "replace"
    elif project.add:
        what = "create"
    elif project.destroy:
        what = "destroy"
    elif project.change:
        what = "update"
    else:
        what = "no change"
    tags = s.by_resource["tag"]
    return (
        f"Project: {what}; tags: {tags.add} to create, {tags.change} to update, "
        f"{tags.destroy} to delete."
    )


def _images_line(s: Summary) -> str:
    adopt = f", {s.adopt} to adopt" if s.adopt else ""
    return f"Images: {s.upload} to upload, {s.retag} to retag{adopt}, {s.delete_images} to delete."


def _iterations_line(s: Summary) -> str:
    extra = ""
    if s.rename_iterations:
        extra += f"; {s.rename_iterations} iteration(s) to rename"
    if s.delete_iterations:
        extra += f"; {s.delete_iterations} old iteration(s) to delete"
    return f"Training: {s.training}{extra}."


def target_line(target: str, endpoint: str, state_dir: str = "", project: str = "") -> str:
    """`Target: built-in emulator (state in DIR)` or `Target: HOST[:PORT]` (never a key: only
    the endpoint's host name, and its port when not 443, are shown), then the project."""
    if target == "emulator":
        line = "Target: built-in emulator" + (f" (state in {state_dir})" if state_dir else "")
    else:
        line = f"Target: {endpoint_host(endpoint) or '(unknown endpoint)'}"
    return line + (f", project {project!r}" if project else "")


def endpoint_host(endpoint: str) -> str:
    """The endpoint's host name, with its port when not 443: what a plan says it targets."""
    parts = urlsplit(endpoint)
    if not parts.hostname:
        return ""
    port = parts.port if parts.port not in (None, 443) else None
    return parts.hostname + (f":{port}" if port else "")


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
    outside, blocked = _split_blocked(plan.drift)
    lines = _drift_lines(outside, verbose, paint) + _blocked_lines(blocked, paint)
    found = changes(plan)
    if not found:
        if blocked:
            return "\n".join([*lines, paint.bold(GATES_BLOCKED)])
        lines += [paint.bold(NO_DESTROY if plan.destroy else NO_CHANGES)]
        if not plan.destroy:
            lines += ["", _NO_CHANGES_DETAIL]
        return "\n".join(lines)
    lines += _legend(found, paint)
    lines += ["cvspec will perform the following actions:", ""]
    for change in found:
        lines += change_lines(change, verbose, paint)
        lines.append("")
    first, *rest = summary_lines(plan)
    lines += [paint.bold(first), *rest]
    return "\n".join(lines)


class _Painter:
    """Styles text with rich when colour is on. rich is imported only then: `cvspec plan` in a
    pipe or a CI log never pays for it."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._styles: dict[str, Any] = {}

    def __call__(self, key: str, text: str) -> str:
        if not self.enabled:
            return text
        from rich.color import ColorSystem
        from rich.style import Style

        style = self._styles.get(key)
        if style is None:
            style = self._styles[key] = Style.parse(_STYLES[key])
        rendered: str = style.render(text, color_system=ColorSystem.STANDARD)
        return rendered

    def bold(self, text: str) -> str:
        return self("bold", text)


def _legend(found: Sequence[Change], paint: _Painter) -> list[str]:
    used = {c.symbol for c in found}
    lines = ["Resource actions are indicated with the following symbols:"]
    lines += [f"  {paint(s, s.rjust(3))} {_LEGEND[s]}" for s in _LEGEND if s in used]
    return [*lines, ""]


def change_lines(change: Change, verbose: bool, paint: _Painter | None = None) -> list[str]:
    """One change: headline, reason, notes, symbol line, attributes (images: per tag)."""
    paint = paint or _Painter(False)
    headline = change.headline or _HEADLINE[change.symbol]
    lines = [
        paint.bold(f"  # {change.address} {headline}"),
        f"  # (because {change.reason})",
        *(f"  # {note}" for note in change.notes),
    ]
    symbol = paint(change.symbol, change.symbol.rjust(3))
    if change.resource == "images":
        return lines + _image_lines(change, symbol, verbose)
    return [*lines, f"{symbol} {change.address}", *_attribute_lines(change)]


_HIDDEN = ("name", "gates", "wait_only", "losses")
_NOT_SETTINGS = ("losses",)


def _attribute_lines(change: Change) -> list[str]:
    after = change.after or {}
    if change.actions == ("delete",):
        return []
    if change.actions in (("create",), ("read",)):
        changed = {c.path: c for c in changed_settings(change)}
        shown = {
            k: v
            for k, v in after.items()
            if k not in _HIDDEN and (v or k in changed) and _shown(k, {}, after)
        }
        width = max((len(k) for k in shown), default=0)
        return [
            f"      {k.ljust(width)} = "
            + (f"{_value(changed[k].before)} -> {_value(v)}" if k in changed else _value(v))
            for k, v in shown.items()
        ]
    found = changed_settings(change)
    width = max((len(c.path) for c in found), default=0)
    return [
        f"    ~ {c.path.ljust(width)} = {_value(c.before)} -> {_value(c.after)}"
        + ("  # forces replacement" if c.path in change.replace_paths else "")
        for c in found
    ]


def changed_settings(change: Change) -> tuple[SettingChange, ...]:
    """The settings an update or a replacement changes, by dotted path, nested ones included
    (`gates.per_tag.cat.min_recall`): the `~ path = old -> new` lines of the text and
    Markdown plans and `change.changed_paths` in JSON. Settings present on one side only at
    the top (what goes with a project, the gates of a publish) are not changes of a setting.
    A new iteration shows the training settings that differ from the iteration it succeeds
    (`training_type = "Regular" -> "Advanced"`): its `before` is that iteration.
    """
    successor = change.resource == "iteration" and change.actions == ("create",)
    if change.resource == "images" or not (
        successor or change.actions in (("update",), ("delete", "create"))
    ):
        return ()
    before, after = change.before or {}, change.after or {}
    skip = (*_NOT_SETTINGS, "name") if successor else _NOT_SETTINGS
    common = [k for k in after if k in before and k not in skip]
    found = setting_changes({k: before[k] for k in common}, {k: after[k] for k in common})
    return tuple(c for c in found if _shown(c.path.split(".", 1)[0], before, after))


def _shown(key: str, before: dict[str, Any], after: dict[str, Any]) -> bool:
    """A domain is shown by name; its id only when the name is unknown or the same."""
    if key != "domain_id" or "domain" not in after:
        return True
    return bool(before) and before.get("domain") == after["domain"]


def _value(value: Any) -> str:
    return "null" if value is None else json.dumps(value)


def _image_lines(change: Change, symbol: str, verbose: bool) -> list[str]:
    """Per-tag counts; with --verbose each tag's files, sorted, under its count."""
    if change.headline == ADOPTED:
        lines = [f"{symbol} images  adopt {len(change.images)} image(s)"]
        return lines + ([f"        {i}" for i, _ in sorted(change.images)] if verbose else [])
    grouped = _by_tag(change.images)
    width = max(len(f"images[{t}]") for t in grouped)
    verb = {"will be tagged": "tag", "will be untagged": "untag"}.get(change.headline, "")
    lines = []
    for tag, paths in grouped.items():
        label = f"images[{tag}]".ljust(width)
        lines.append(f"{symbol} {label}  {(verb + ' ') if verb else ''}{len(paths)} image(s)")
        if verbose:
            lines += [f"        {path}" for path in paths]
    return lines


def _by_tag(images: Iterable[tuple[str, tuple[str, ...]]]) -> dict[str, list[str]]:
    """Each tag (sorted; `(untagged)` for none) with its images, sorted. An image with several
    tags is listed under each, its other tags named after it."""
    grouped: dict[str, list[str]] = {}
    for path, tags in images:
        for tag in tags or ("(untagged)",):
            others = [t for t in tags if t != tag]
            grouped.setdefault(tag, []).append(
                path + (f"  [also {', '.join(others)}]" if others else "")
            )
    return {tag: sorted(grouped[tag]) for tag in sorted(grouped)}


GATES_BLOCKED = (
    "No changes to apply, but the spec is not met: its iteration failed the quality gates "
    "and is not published (exit status 3 with --detailed-exitcode)."
)


def _split_blocked(drift: Sequence[Drift]) -> tuple[list[Drift], list[Drift]]:
    """Changes made outside cvspec, and the spec's iterations that failed their gates."""
    blocked = [d for d in drift if d.kind is DriftKind.GATES_FAILED]
    return [d for d in drift if d.kind is not DriftKind.GATES_FAILED], blocked


def _blocked_lines(blocked: Sequence[Drift], paint: _Painter) -> list[str]:
    if not blocked:
        return []
    lines = [paint.bold("Warning: the spec's iteration failed its quality gates"), ""]
    lines += [f"  {paint('!', '!')} {d.address}: {d.detail}" for d in blocked]
    return [*lines, ""]


def _drift_lines(drift: Sequence[Drift], verbose: bool, paint: _Painter) -> list[str]:
    if not drift:
        return []
    lines = [paint.bold("Note: Objects have changed outside of cvspec"), ""]
    for d in drift:
        lines.append(f"  {paint('!', '!')} {d.address}: {d.detail}")
        if d.counts:
            lines.append("      " + ", ".join(f"{tag}: {n}" for tag, n in d.counts))
        if verbose:
            lines += [f"        {item}" for item in sorted(d.items)]
    return [*lines, "", "This plan leaves them as they are.", ""]


# --- JSON ------------------------------------------------------------------------------------


def plan_document(plan: Plan) -> dict[str, Any]:
    """The machine-readable plan as a dict (see docs/plan-json.md)."""
    s = summarize(plan)
    summary = _summary_json(s)
    gone = with_project(plan)
    if gone is not None:
        summary["with_project"] = gone
    return {
        "format_version": FORMAT_VERSION,
        "cvspec_version": __version__,
        "project": plan.project_name,
        "target": plan.target,
        "target_host": plan.target_host,
        "destroy": plan.destroy,
        "applyable": not plan.is_empty(),
        "summary": summary,
        "resource_changes": [change_json(c) for c in changes(plan)],
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
        "by_resource": {kind: asdict(s.by_resource[kind]) for kind in RESOURCES},
        "images": {
            "upload": s.upload,
            "retag": s.retag,
            "adopt": s.adopt,
            "delete": s.delete_images,
        },
        "training": s.training,
        "rename_iterations": s.rename_iterations,
        "delete_iterations": s.delete_iterations,
        "publishing": s.publishing,
    }


def change_json(c: Change) -> dict[str, Any]:
    """One change as a `resource_changes[]` entry (docs/plan-json.md)."""
    return {
        "address": c.address,
        "type": c.resource,
        "operations": list(c.operations),
        "action_reason": c.reason_code,
        "reason": c.reason,
        "notes": list(c.notes),
        "change": {
            "actions": list(c.actions),
            "before": c.before,
            "after": c.after,
            "replace_paths": list(c.replace_paths),
            "changed_paths": [s.path for s in changed_settings(c)],
        },
    }


def _drift_json(d: Drift) -> dict[str, Any]:
    return {
        "address": d.address,
        "kind": d.kind.value,
        "detail": d.detail,
        "counts": dict(d.counts),
        "items": list(d.items),
        "changes_model": d.changes_model,
    }
