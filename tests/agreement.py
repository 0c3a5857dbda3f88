"""The agreement invariant between a plan and what apply does with it (issue 9):

(a) every call that changes something, made while apply runs, maps to an operation of the
    plan it executes, with that operation's ids and names (the table below, per operation
    type, is the whole of what an operation may do); and
(b) every planned operation is either done (the service's state shows it) or reported in
    apply's output as failed or skipped.

Inputs: the Plan (`cvspec plan -out`), the calls the emulator recorded while
`cvspec apply PLAN --json` ran (cvspec.emulator.recorder), the project as read through the
official SDK before and after, and apply's exit status and JSON events. `check` returns the
violations, one sentence each; none means the invariant holds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cvspec import ops
from cvspec.emulator.recorder import RecordedCall
from cvspec.identity import (
    base_iteration_name,
    decode_identity,
    failed_gates,
    hash_key,
    manifest_entries,
)
from cvspec.plan import Plan
from cvspec.reserved import is_reserved_tag
from cvspec.sdk import call
from cvspec.service import Service

PAGE = 256
# POST calls that read, never change anything
READ_ONLY = frozenset({"QueryPredictions", "QuickTestImage", "QuickTestImageUrl"})


# --- the service, read through the official SDK ----------------------------------------


@dataclass(frozen=True)
class Iteration:
    id: str
    name: str
    status: str
    publish_name: str
    resource: str


@dataclass(frozen=True)
class World:
    """One project as the service holds it (ids lower-cased)."""

    project_id: str | None
    description: str = ""
    domain_id: str = ""
    tags: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (name, description)
    images: dict[str, tuple[str | None, tuple[str, ...]]] = field(default_factory=dict)
    iterations: dict[str, Iteration] = field(default_factory=dict)
    other_projects: frozenset[str] = frozenset()  # ids of every other project

    def tag_id(self, name: str) -> str | None:
        return next((i for i, (n, _) in self.tags.items() if n.lower() == name.lower()), None)

    def named(self, base: str) -> list[Iteration]:
        """Iterations whose name, a gate-failure record aside, is `base`."""
        return [i for i in self.iterations.values() if base_iteration_name(i.name) == base]

    def published(self, publish_name: str) -> list[Iteration]:
        return [i for i in self.iterations.values() if i.publish_name == publish_name]


def read_world(service: Service, project_name: str) -> World:
    """The project named `project_name`, read directly through the SDK (not cvspec.live)."""
    client = service.training
    projects = list(call(client.get_projects))
    project = next((p for p in projects if p.name == project_name), None)
    others = frozenset(str(p.id).lower() for p in projects if p is not project)
    if project is None:
        return World(None, other_projects=others)
    pid = project.id
    tags = {str(t.id).lower(): (t.name, t.description or "") for t in call(client.get_tags, pid)}
    images: dict[str, tuple[str | None, tuple[str, ...]]] = {}
    skip = 0
    while True:
        page = call(client.get_images, pid, take=PAGE, skip=skip)
        for image in page:
            names = tuple(sorted(t.tag_name for t in image.tags or ()))
            images[str(image.id).lower()] = (decode_identity(image.id, image.metadata), names)
        if len(page) < PAGE:
            break
        skip += PAGE
    iterations = {
        str(i.id).lower(): Iteration(
            str(i.id).lower(),
            i.name,
            i.status,
            i.publish_name or "",
            (i.original_publish_resource_id or "").lower(),
        )
        for i in call(client.get_iterations, pid)
    }
    return World(
        str(pid).lower(),
        project.description or "",
        str(project.settings.domain_id or "").lower(),
        tags,
        images,
        iterations,
        others,
    )


# --- what apply reported -----------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """`cvspec apply PLAN --json`: exit status, its JSON events and its stderr."""

    exit_code: int
    events: tuple[dict[str, Any], ...]
    stderr: str = ""

    @classmethod
    def parse(cls, exit_code: int, stdout: str, stderr: str = "") -> Outcome:
        events = []
        for line in stdout.splitlines():
            if line.startswith("{"):
                try:
                    events.append(json.loads(line))
                except ValueError:
                    continue
        return cls(exit_code, tuple(events), stderr)

    def of(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == name]


# --- (a) every mutating call maps to an operation ----------------------------------------


@dataclass
class _Ids:
    """Names and ids as they evolve during the apply (creations, renames)."""

    project_ids: set[str]
    tag_ids: dict[str, str]  # lower-cased name -> id
    iteration_names: dict[str, str]  # id -> current name
    before: World
    uploaded: dict[int, dict[str, str]] = field(default_factory=dict)  # op -> {image id: sha}
    trained: dict[int, set[str]] = field(default_factory=dict)  # op -> iteration ids started

    def tag(self, name: str) -> str | None:
        return self.tag_ids.get(name.lower())

    def tag_name(self, tag_id: str) -> str | None:
        return next((n for n, i in self.tag_ids.items() if i == tag_id.lower()), None)


def _body(c: RecordedCall) -> dict[str, Any]:
    return c.body if isinstance(c.body, dict) else {}


def _lower(value: Any) -> str:
    return str(value or "").lower()


def _in_project(c: RecordedCall, ids: _Ids) -> bool:
    return _lower(c.param("projectId")) in ids.project_ids


Explains = Callable[[int, ops.Op, RecordedCall, _Ids, Plan], bool]


def _create_project(i: int, op: ops.Op, c: RecordedCall, ids: _Ids, plan: Plan) -> bool:
    assert isinstance(op, ops.CreateProject)
    return c.operation == "CreateProject" and c.param("name") == op.name


def _delete_project(i: int, op: ops.Op, c: RecordedCall, ids: _Ids, plan: Plan) -> bool:
    assert isinstance(op, ops.DeleteProject)
    return c.operation in ("UnpublishIteration", "DeleteProject") and _lower(
        c.param("projectId")
    ) == _lower(op.project_id)


def _update_project(i: int, op: ops.Op, c: RecordedCall, ids: _Ids, plan: Plan) -> bool:
    assert isinstance(op, ops.UpdateProject)
    return (
        c.operation == "UpdateProject"
        and _lower(c.param("projectId")) == _lower(op.project_id)
        and _body(c).get("name") in (None, plan.project_name)
    )


def _create_tag(i: int, op: ops.Op, c: RecordedCall, ids: _Ids, plan: Plan) -> bool:
    assert isinstance(op, ops.CreateTag)
    return (
        c.operation == "CreateTag"
        and _in_project(c, ids)
        and _lower(c.param("name")) == op.name.lower()
    )


def _update_tag(i: int, op: ops.Op, c: RecordedCall, ids: _Ids, plan: Plan) -> bool:
    assert isinstance(op, ops.UpdateTag)
    return (
        c.operation == "UpdateTag"
        and _in_project(c, ids)
        and _lower(c.param("tagId")) == _lower(op.tag_id)
        and _body(c).get("name") == op.name
    )


def _delete_tag(i: int, op: ops.Op, c: RecordedCall, ids: _Ids, plan: Plan) -> bool:
    assert isinstance(op, ops.DeleteTag)
    return (
        c.operation == "DeleteTag"
        and _in_project(c, ids)
        and _lower(c.param("tagId")) == _lower(op.tag_id)
    )


def _tag_pairs(c: RecordedCall) -> list[tuple[str, str]]:
    """(image id, tag id) of a CreateImageTags body, lower-cased."""
    return [
        (_lower(t.get("imageId")), _lower(t.get("tagId")))
        for t in _body(c).get("tags") or ()
        if isinstance(t, dict)
    ]


def _upload(i: int, op: ops.Op, c: RecordedCall, ids: _Ids, plan: Plan) -> bool:
    """Uploads are by content: each file's sha256, with its planned tags, or a planned URL;
    then the identity manifest of exactly the images those calls created or found."""
    assert isinstance(op, ops.UploadImages)
    if not _in_project(c, ids):
        return False
    by_sha = {u.sha256: u for u in op.images}
    created = ids.uploaded.setdefault(i, {})
    if c.operation == "CreateImagesFromFiles":
        entries = [e for e in _body(c).get("images") or () if isinstance(e, dict)]
        shas = {}
        for entry in entries:
            sha = (entry.get("contents") or {}).get("sha256")
            planned = by_sha.get(str(sha))
            if planned is None:
                return False
            names = {ids.tag_name(t) for t in entry.get("tagIds") or ()}
            if not names <= {t.lower() for t in planned.tags}:
                return False
            shas[entry.get("name")] = sha
        for position, result in enumerate((c.response or {}).get("images") or ()):
            image = result.get("image") or {}
            sha = shas.get(result.get("sourceUrl"))
            if sha is None and len(entries) == len((c.response or {}).get("images") or ()):
                sha = (entries[position].get("contents") or {}).get("sha256")
            if image.get("id") and sha:
                created[_lower(image["id"])] = sha
        return True
    if c.operation == "CreateImagesFromUrls":
        by_url = {u.url: u for u in op.images if u.url}
        entries = [e for e in _body(c).get("images") or () if isinstance(e, dict)]
        if not all(e.get("url") in by_url for e in entries):
            return False
        for result in (c.response or {}).get("images") or ():
            image = result.get("image") or {}
            planned = by_url.get(result.get("sourceUrl"))
            if image.get("id") and planned is not None:
                created[_lower(image["id"])] = planned.sha256
        return True
    if c.operation == "UpdateImageMetadata":
        image_ids = set(c.ids("imageIds"))
        manifest = manifest_entries(_body(c))
        return (
            bool(image_ids)
            and image_ids <= set(created)
            and set(manifest) == image_ids
            and all(hash_key(created[k]) == v for k, v in manifest.items())
        )
    if c.operation == "CreateImageTags":
        return all(image in created for image, _ in _tag_pairs(c))
    return False


def _adopt(i: int, op: ops.Op, c: RecordedCall, ids: _Ids, plan: Plan) -> bool:
    assert isinstance(op, ops.AdoptPendingImages)
    wanted = {_lower(x) for x in op.image_ids}
    image_ids = set(c.ids("imageIds"))
    return (
        c.operation == "UpdateImageMetadata"
        and _in_project(c, ids)
        and bool(image_ids)
        and image_ids <= wanted
        and set(manifest_entries(_body(c))) == image_ids
    )


def _planned_pairs(images: tuple[ops.ImageRetag, ...], ids: _Ids) -> set[tuple[str, str]]:
    return {
        (_lower(image.image_id), _lower(ids.tag(tag)))
        for image in images
        for tag in image.tags
        if ids.tag(tag)
    }


def _remove_tags(i: int, op: ops.Op, c: RecordedCall, ids: _Ids, plan: Plan) -> bool:
    assert isinstance(op, ops.RemoveImageTags)
    pairs = {(image, tag) for image in c.ids("imageIds") for tag in c.ids("tagIds")}
    return (
        c.operation == "DeleteImageTags"
        and _in_project(c, ids)
        and bool(pairs)
        and pairs <= _planned_pairs(op.images, ids)
    )


def _add_tags(i: int, op: ops.Op, c: RecordedCall, ids: _Ids, plan: Plan) -> bool:
    assert isinstance(op, ops.AddImageTags)
    pairs = set(_tag_pairs(c))
    return (
        c.operation == "CreateImageTags"
        and _in_project(c, ids)
        and bool(pairs)
        and pairs <= _planned_pairs(op.images, ids)
    )


def _delete_images(i: int, op: ops.Op, c: RecordedCall, ids: _Ids, plan: Plan) -> bool:
    assert isinstance(op, ops.DeleteImages)
    image_ids = set(c.ids("imageIds"))
    return (
        c.operation == "DeleteImages"
        and _in_project(c, ids)
        and _lower(c.param("allImages")) != "true"
        and bool(image_ids)
        and image_ids <= {_lower(x) for x in op.image_ids}
    )


def _rename_iteration(i: int, op: ops.Op, c: RecordedCall, ids: _Ids, plan: Plan) -> bool:
    assert isinstance(op, ops.RenameIteration)
    return (
        c.operation == "UpdateIteration"
        and _in_project(c, ids)
        and _lower(c.param("iterationId")) == _lower(op.iteration_id)
        and _body(c).get("name") == op.new_name
    )


def _delete_iteration(i: int, op: ops.Op, c: RecordedCall, ids: _Ids, plan: Plan) -> bool:
    assert isinstance(op, ops.DeleteIteration)
    return (
        c.operation == "DeleteIteration"
        and _in_project(c, ids)
        and _lower(c.param("iterationId")) == _lower(op.iteration_id)
    )


def _train(i: int, op: ops.Op, c: RecordedCall, ids: _Ids, plan: Plan) -> bool:
    """UpdateProject (the training marker), TrainProject, naming the iteration it started
    (or recording a gate failure in that name), deleting a Failed iteration of the dataset."""
    assert isinstance(op, ops.Train)
    if not _in_project(c, ids):
        return False
    started = ids.trained.setdefault(i, set())
    iteration = _lower(c.param("iterationId"))
    mine = started | {
        it.id for it in ids.before.iterations.values() if _base(it.name) == op.iteration_name
    }
    if c.operation == "UpdateProject":
        return _body(c).get("name") in (None, plan.project_name)
    if c.operation == "TrainProject":
        new = _lower((c.response or {}).get("id"))
        if new:
            started.add(new)
        return True
    if c.operation == "UpdateIteration":
        name = str(_body(c).get("name") or "")
        before = ids.before.iterations.get(iteration)
        announced = (  # "training not needed": the plan named the iteration it may adopt
            before is not None and bool(op.adopt_candidate) and before.name == op.adopt_candidate
        )
        return (iteration in mine or announced) and _base(name) == op.iteration_name
    if c.operation == "DeleteIteration":
        before = ids.before.iterations.get(iteration)
        return before is not None and iteration in mine and before.status != "Completed"
    return False


def _base(name: str) -> str:
    return base_iteration_name(name)


def _targets(op: ops.Publish, ids: _Ids) -> set[str]:
    return {i for i, name in ids.iteration_names.items() if _base(name) == op.iteration_name}


def _publish(i: int, op: ops.Op, c: RecordedCall, ids: _Ids, plan: Plan) -> bool:
    """PublishIteration of the target under the name; UnpublishIteration of the name's old
    holder, or of the target when the plan drops the name it has; recording a gate failure;
    and, after the service refused the publish, putting back a name where it was before."""
    assert isinstance(op, ops.Publish)
    if not _in_project(c, ids):
        return False
    iteration = _lower(c.param("iterationId"))
    targets = _targets(op, ids)
    if c.operation == "PublishIteration":
        before = ids.before.iterations.get(iteration)
        restores = (  # the service refused the publish: what was published is put back
            before is not None
            and before.publish_name == c.param("publishName")
            and before.resource == _lower(c.param("predictionId"))
        )
        return restores or (
            iteration in targets
            and c.param("publishName") == op.publish_name
            and _lower(c.param("predictionId")) == _lower(op.prediction_resource_id)
        )
    if c.operation == "UnpublishIteration":
        before = ids.before.iterations.get(iteration)
        held = before is not None and before.publish_name == op.publish_name
        if iteration not in targets:
            return held  # the name's old holder
        dropped = any(
            isinstance(o, ops.Unpublish) and _lower(o.iteration_id) == iteration
            for o in plan.operations
        )
        return held or dropped
    if c.operation == "UpdateIteration":
        name = str(_body(c).get("name") or "")
        gates = failed_gates(name)
        if name == op.iteration_name:  # an earlier failure record, cleared as planned
            return iteration in targets and bool(op.recorded_failure)
        return (
            iteration in targets
            and _base(name) == op.iteration_name
            and gates is not None
            and (not op.gates_key or gates == op.gates_key)
        )
    return False


def _unpublish(i: int, op: ops.Op, c: RecordedCall, ids: _Ids, plan: Plan) -> bool:
    assert isinstance(op, ops.Unpublish)
    return (
        c.operation == "UnpublishIteration"
        and _in_project(c, ids)
        and _lower(c.param("iterationId")) == _lower(op.iteration_id)
    )


TABLE: dict[type[ops.Op], Explains] = {
    ops.CreateProject: _create_project,
    ops.DeleteProject: _delete_project,
    ops.UpdateProject: _update_project,
    ops.CreateTag: _create_tag,
    ops.UpdateTag: _update_tag,
    ops.DeleteTag: _delete_tag,
    ops.UploadImages: _upload,
    ops.AdoptPendingImages: _adopt,
    ops.RemoveImageTags: _remove_tags,
    ops.AddImageTags: _add_tags,
    ops.DeleteImages: _delete_images,
    ops.RenameIteration: _rename_iteration,
    ops.DeleteIteration: _delete_iteration,
    ops.Train: _train,
    ops.Publish: _publish,
    ops.Unpublish: _unpublish,
}
"""Per operation type, the calls it may make (with its ids and names). Nothing else."""


def describe_call(c: RecordedCall) -> str:
    """`UnpublishIteration iteration=… (204)`: a call in one line, for violations."""
    parts = [c.operation]
    for key in ("iterationId", "tagId"):
        if c.param(key):
            parts.append(f"{key[:-2]}={c.param(key)}")
    for key in ("name", "publishName", "imageIds", "tagIds"):
        value = c.param(key)
        if value:
            parts.append(f"{key}={value[:80]}")
    body = _body(c)
    if c.operation in ("UpdateIteration", "UpdateTag", "UpdateProject") and body:
        parts.append(f"body.name={body.get('name')!r}")
    if c.operation == "CreateImageTags":
        parts.append(f"pairs={len(_tag_pairs(c))}")
    return " ".join(parts) + f" ({c.status})"


def _op_label(index: int, op: ops.Op) -> str:
    images = getattr(op, "images", None) or getattr(op, "image_ids", None)
    if images is not None:
        return f"#{index} {type(op).__name__}({len(images)} image(s))"
    key = next(
        (
            str(getattr(op, f))
            for f in ("publish_name", "iteration_name", "name", "iteration_id", "tag_id")
            if getattr(op, f, None)
        ),
        "",
    )
    return f"#{index} {type(op).__name__}({key})"


def _track(c: RecordedCall, ids: _Ids) -> None:
    """Follow creations and renames, so that later calls are matched by current names."""
    if not c.ok:
        return
    response = c.response if isinstance(c.response, dict) else {}
    if c.operation == "CreateProject" and response.get("id"):
        ids.project_ids.add(_lower(response["id"]))
    elif c.operation == "CreateTag" and response.get("id"):
        ids.tag_ids[str(response.get("name") or c.param("name") or "").lower()] = _lower(
            response["id"]
        )
    elif c.operation == "UpdateTag":
        tag = _lower(c.param("tagId"))
        ids.tag_ids = {n: i for n, i in ids.tag_ids.items() if i != tag}
        ids.tag_ids[str(_body(c).get("name") or "").lower()] = tag
    elif c.operation == "TrainProject" and response.get("id"):
        ids.iteration_names[_lower(response["id"])] = str(response.get("name") or "")
    elif c.operation == "UpdateIteration":
        ids.iteration_names[_lower(c.param("iterationId"))] = str(_body(c).get("name") or "")


def unplanned_calls(plan: Plan, calls: list[RecordedCall], before: World) -> list[str]:
    """(a): each call, in the order the service received them, must be explained by an
    operation at or after the one that explained the previous call (apply runs operations
    in plan order). Returns one sentence per call that no operation explains."""
    ids = _Ids(
        project_ids={before.project_id} if before.project_id else set(),
        tag_ids={name.lower(): i for i, (name, _) in before.tags.items()},
        iteration_names={i: it.name for i, it in before.iterations.items()},
        before=before,
    )
    violations: list[str] = []
    current = 0
    explained = False  # some call was explained already: `current` is running
    lock_tags = {i for i, (name, _) in before.tags.items() if is_reserved_tag(name)}
    for c in sorted(calls, key=lambda c: c.seq):
        if c.operation in READ_ONLY or _lock_call(c, lock_tags):
            continue
        explaining = [
            i
            for i, op in enumerate(plan.operations)
            if TABLE.get(type(op), _nothing)(i, op, c, ids, plan)
        ]
        later = [i for i in explaining if i >= current]
        if later:
            current, explained = later[0], True
        elif explaining:
            op = plan.operations[explaining[-1]]
            violations.append(
                f"{describe_call(c)} belongs to {_op_label(explaining[-1], op)}, which ran "
                f"before {_op_label(current, plan.operations[current])}: out of plan order"
            )
        else:
            running = (
                f" (while {_op_label(current, plan.operations[current])} ran)"
                if explained
                else " (before any planned operation's call)"
            )
            violations.append(f"unplanned call {describe_call(c)}{running}")
        _track(c, ids)
    return violations


def _lock_call(c: RecordedCall, lock_tags: set[str]) -> bool:
    """The apply lock's calls (cvspec.lock): taking, renewing and releasing its tag are part
    of every apply, not of any operation. Follows the lock tags' ids in `lock_tags`."""
    if c.operation == "CreateTag" and is_reserved_tag(c.param("name") or ""):
        response = c.response if isinstance(c.response, dict) else {}
        if response.get("id"):
            lock_tags.add(_lower(response["id"]))
        return True
    return c.operation in ("UpdateTag", "DeleteTag") and _lower(c.param("tagId")) in lock_tags


def _nothing(i: int, op: ops.Op, c: RecordedCall, ids: _Ids, plan: Plan) -> bool:
    return False


# --- (b) every planned operation is done or reported ------------------------------------


def _done(op: ops.Op, before: World, after: World, plan: Plan) -> bool:
    if isinstance(op, ops.CreateProject):
        return after.project_id is not None
    if isinstance(op, ops.DeleteProject):
        pid = _lower(op.project_id)
        return after.project_id != pid and pid not in after.other_projects
    if isinstance(op, ops.UpdateProject):
        description = op.after.get("description")
        return description is None or description in after.description  # (+ a marker)
    if isinstance(op, ops.CreateTag):
        return after.tag_id(op.name) is not None
    if isinstance(op, ops.UpdateTag):
        tag = after.tags.get(_lower(op.tag_id))
        return tag is not None and tag[0] == op.name
    if isinstance(op, ops.DeleteTag):
        return _lower(op.tag_id) not in after.tags
    if isinstance(op, ops.UploadImages):
        keys = {key for key, _ in after.images.values() if key}
        return all(hash_key(u.sha256) in keys for u in op.images)
    if isinstance(op, ops.AdoptPendingImages):
        return all(after.images.get(_lower(i), ("gone", ()))[0] is not None for i in op.image_ids)
    if isinstance(op, ops.RemoveImageTags):
        return all(
            not set(r.tags) & set(after.images.get(_lower(r.image_id), (None, ()))[1])
            for r in op.images
        )
    if isinstance(op, ops.AddImageTags):
        return all(
            set(r.tags) <= set(after.images.get(_lower(r.image_id), (None, ()))[1])
            for r in op.images
        )
    if isinstance(op, ops.DeleteImages):
        return not {_lower(i) for i in op.image_ids} & set(after.images)
    if isinstance(op, ops.RenameIteration):
        it = after.iterations.get(_lower(op.iteration_id))
        return it is not None and _base(it.name) == _base(op.new_name)
    if isinstance(op, ops.DeleteIteration):
        return _lower(op.iteration_id) not in after.iterations
    if isinstance(op, ops.Train):
        return any(i.status == "Completed" for i in after.named(op.iteration_name))
    if isinstance(op, ops.Publish):
        return any(i.publish_name == op.publish_name for i in after.named(op.iteration_name))
    if isinstance(op, ops.Unpublish):
        it = after.iterations.get(_lower(op.iteration_id))
        return it is None or it.publish_name != op.publish_name
    return False


def unreported_operations(plan: Plan, outcome: Outcome, before: World, after: World) -> list[str]:
    """(b): operations neither done nor reported failed or skipped."""
    started = len(outcome.of("op_start"))
    finished = bool(outcome.of("summary"))
    skipped_training = bool(outcome.of("training_skipped"))
    failed_images = bool(outcome.of("image_failed"))
    kept = {e.get("iteration") for e in outcome.of("iteration_kept")}
    gate_failed = bool(outcome.of("gate_failed"))  # reported: not published, nor what follows
    violations: list[str] = []
    complete = finished and started == len(plan.operations)
    if outcome.exit_code == 0 and not complete and not gate_failed:
        violations.append(
            f"apply exited 0 after starting {started} of {len(plan.operations)} operation(s)"
        )
    for index, op in enumerate(plan.operations):
        label = _op_label(index, op)
        if index >= started:
            if (skipped_training or gate_failed) and isinstance(op, _SKIPPABLE):
                continue  # reported: "training and publishing skipped", or the gates failed
            if outcome.exit_code != 0 and not finished and "Error:" in outcome.stderr:
                continue  # reported: the apply stopped at the error it printed
            violations.append(f"{label} was neither run nor reported skipped")
            continue
        if _done(op, before, after, plan):
            continue
        if isinstance(op, ops.DeleteIteration) and op.iteration_name in kept:
            continue  # reported: "kept iteration ..."
        if isinstance(op, ops.UploadImages | ops.AddImageTags) and failed_images:
            continue  # reported per image
        if isinstance(op, ops.Publish) and gate_failed:
            continue  # reported: the gates failed
        last = index == started - 1
        if last and outcome.exit_code != 0 and not finished and "Error:" in outcome.stderr:
            continue  # reported: this operation failed with the error printed
        violations.append(f"{label} is not done in the service and apply did not report it")
    return violations


_SKIPPABLE = (ops.Train, ops.Publish, ops.Unpublish, ops.DeleteIteration)


def check(
    plan: Plan, calls: list[RecordedCall], before: World, after: World, outcome: Outcome
) -> list[str]:
    """Every violation of the agreement invariant; empty when plan and apply agree."""
    return [
        *unplanned_calls(plan, calls, before),
        *unreported_operations(plan, outcome, before, after),
    ]


# --- the harness: plan -out, apply the saved plan while recording, check ------------------


@dataclass(frozen=True)
class Step:
    """One `cvspec plan -out` + `cvspec apply PLAN --json`, and what the check found."""

    plan: Plan
    calls: list[RecordedCall]
    before: World
    after: World
    outcome: Outcome
    violations: list[str]
    plan_error: str = ""  # `cvspec plan` refused the spec (nothing was applied)

    def report(self) -> str:
        if self.plan_error:
            return f"plan refused: {self.plan_error}"
        lines = [f"plan: {[_op_label(i, op) for i, op in enumerate(self.plan.operations)]}"]
        lines += [f"call: {describe_call(c)}" for c in self.calls]
        lines.append(f"exit {self.outcome.exit_code}: {self.outcome.stderr.strip()[-400:]}")
        lines += [f"VIOLATION: {v}" for v in self.violations]
        return "\n".join(lines)


def plan_and_apply(
    server: Any,
    service: Service,
    spec: Path,
    env: dict[str, str],
    faults: Any = None,
    apply_spec: bool = False,
) -> Step:
    """Plan `spec` to a file, apply that file (with `faults` injected while it runs) and
    check the calls the service received against the plan. `server` is an EmulatorServer
    started with record=True; cvspec runs in-process (click's CliRunner). With `apply_spec`,
    `cvspec apply SPEC --auto-approve` runs instead of applying the saved plan: what it does
    must agree with what `cvspec plan` showed for the same state."""
    from click.testing import CliRunner

    from cvspec.cli import main
    from cvspec.planfile import load_plan

    runner = CliRunner()
    project = _project_name(spec)
    before = read_world(service, project)
    plan_file = spec.parent / "plan.json"
    made = runner.invoke(main, ["plan", str(spec), "-out", str(plan_file)], env=env)
    if made.exit_code != 0:
        assert made.exit_code == 1 and "Error" in made.stderr, made.output
        empty = Plan(project, (), (), "")
        return Step(empty, [], before, before, Outcome(0, ()), [], made.stderr.strip())
    plan = load_plan(plan_file)
    recorder = server.recorder
    recorder.clear()
    if plan.is_empty():
        return Step(plan, [], before, before, Outcome(0, ()), [])
    server.set_faults(faults)
    try:
        target = [str(spec), "--auto-approve"] if apply_spec else [str(plan_file)]
        result = runner.invoke(main, ["apply", *target, "--json", "--rate", "200"], env=env)
    finally:
        server.set_faults(None)
        server.wait_for_training(30)
    calls = recorder.take()
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    outcome = Outcome.parse(result.exit_code, result.stdout, result.stderr)
    after = read_world(service, project)
    return Step(plan, calls, before, after, outcome, check(plan, calls, before, after, outcome))


def _project_name(spec: Path) -> str:
    import yaml

    return str(yaml.safe_load(spec.read_text())["project"]["name"])
