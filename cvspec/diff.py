"""The pure diff: desired state + live state -> Plan. No I/O, no clock."""

from __future__ import annotations

from cvspec import ops
from cvspec.desired import Desired, DesiredImage, DesiredPublish, DesiredTag, DesiredTraining
from cvspec.errors import PlanError
from cvspec.identity import iteration_fingerprint
from cvspec.live import LiveIteration, LiveState
from cvspec.plan import Plan, live_fingerprint, order

ITERATION_LIMIT = 20


def diff(desired: Desired, live: LiveState) -> Plan:
    """Every operation that brings `live` to `desired`, in execution order, with drift notes."""
    found: list[ops.Op] = []
    drift: list[str] = []
    domain_id = _domain_id(desired.domain, live)
    project = live.project
    if project is not None and project.classification_type != desired.classification_type:
        found.append(_replace_project(desired, live))
        project = None
    if project is None:
        live = LiveState(domains=live.domains, project=None)
        found.append(_create_project(desired, domain_id, "the project does not exist"))
    else:
        found.extend(_project_changes(desired, live, domain_id))
    found.extend(_tag_changes(desired, live, drift))
    found.extend(_image_changes(desired, live, drift))
    training = _training_changes(desired.training, live)
    found.extend(training)
    found.extend(_publish_changes(desired, live, trains=bool(training), drift=drift))
    return Plan(
        project_name=desired.project_name,
        operations=order(found),
        drift=tuple(drift),
        live_fingerprint=live_fingerprint(live),
    )


def _domain_id(domain: str, live: LiveState) -> str:
    wanted = domain.strip().lower()
    for d in live.domains:
        if d.type == "Classification" and wanted in (d.id.lower(), d.name.lower()):
            return d.id
    names = ", ".join(sorted({d.name for d in live.domains if d.type == "Classification"}))
    raise PlanError(f"project.domain: unknown classification domain {domain!r} (known: {names})")


def _replace_project(desired: Desired, live: LiveState) -> ops.Op:
    assert live.project is not None
    reason = (
        f"classification type changes from {live.project.classification_type} to "
        f"{desired.classification_type}, which the service cannot change in place"
    )
    if desired.protect:
        raise PlanError(
            f"project {desired.project_name!r} is protected; refusing to replace it: {reason}"
        )
    return ops.DeleteProject(reason=reason, project_id=live.project.id, name=live.project.name)


def _create_project(desired: Desired, domain_id: str, reason: str) -> ops.Op:
    return ops.CreateProject(
        reason=reason,
        name=desired.project_name,
        description=desired.description,
        domain_id=domain_id,
        classification_type=desired.classification_type,
    )


def _project_changes(desired: Desired, live: LiveState, domain_id: str) -> list[ops.Op]:
    assert live.project is not None
    before = {"description": live.project.description, "domain_id": live.project.domain_id}
    after = {"description": desired.description, "domain_id": domain_id}
    if before == after:
        return []
    changed = ", ".join(k for k in after if before[k] != after[k])
    return [
        ops.UpdateProject(
            reason=f"{changed} differs from the spec",
            project_id=live.project.id,
            name=live.project.name,
            before={k: v for k, v in before.items() if v != after[k]},
            after={k: v for k, v in after.items() if v != before[k]},
        )
    ]


def desired_tags(desired: Desired) -> dict[str, DesiredTag]:
    """Declared tags plus any tag that images use (with default settings)."""
    tags = {t.name: t for t in desired.tags}
    for image in desired.images:
        for name in image.tags:
            tags.setdefault(name, DesiredTag(name, "", "Regular"))
    return tags


def _tag_changes(desired: Desired, live: LiveState, drift: list[str]) -> list[ops.Op]:
    want = desired_tags(desired)
    have = {t.name: t for t in live.tags}
    found: list[ops.Op] = [
        ops.CreateTag(
            reason="not in the project", name=t.name, description=t.description, type=t.type
        )
        for name, t in want.items()
        if name not in have
    ]
    for name, tag in have.items():
        if name in want:
            found.extend(_tag_update(want[name], tag.id, tag.description, tag.type))
        elif desired.prune_tags:
            found.append(
                ops.DeleteTag(reason="not in the spec (prune.tags)", tag_id=tag.id, name=name)
            )
        else:
            drift.append(f"tag {name!r} is in the project but not in the spec (kept)")
    return found


def _tag_update(want: DesiredTag, tag_id: str, description: str, kind: str) -> list[ops.Op]:
    before = {"description": description, "type": kind}
    after = {"description": want.description, "type": want.type}
    if before == after:
        return []
    return [
        ops.UpdateTag(
            reason="settings differ from the spec",
            tag_id=tag_id,
            name=want.name,
            before={k: v for k, v in before.items() if v != after[k]},
            after={k: v for k, v in after.items() if v != before[k]},
        )
    ]


def _image_changes(desired: Desired, live: LiveState, drift: list[str]) -> list[ops.Op]:
    have = {i.hash_key: i for i in live.images if i.hash_key}
    want = {i.hash_key: i for i in desired.images}
    uploads = [_upload(i) for key, i in sorted(want.items()) if key not in have]
    removes, adds = [], []
    for key, image in sorted(want.items()):
        if key in have:
            current = set(have[key].tags)
            gone = tuple(sorted(current - set(image.tags)))
            new = tuple(sorted(set(image.tags) - current))
            if gone:
                removes.append(ops.ImageRetag(have[key].id, image.path, gone))
            if new:
                adds.append(ops.ImageRetag(have[key].id, image.path, new))
    extra = sorted(i.id for key, i in have.items() if key not in want)
    found: list[ops.Op] = []
    if uploads:
        found.append(ops.UploadImages(reason="not in the project", images=tuple(uploads)))
    if removes:
        found.append(ops.RemoveImageTags(reason="tags differ from the spec", images=tuple(removes)))
    if adds:
        found.append(ops.AddImageTags(reason="tags differ from the spec", images=tuple(adds)))
    if extra and desired.prune_images:
        found.append(
            ops.DeleteImages(reason="not in the spec (prune.images)", image_ids=tuple(extra))
        )
    elif extra:
        drift.append(f"{len(extra)} image(s) uploaded by cvspec are no longer in the spec (kept)")
    unmanaged = sum(1 for i in live.images if not i.hash_key)
    if unmanaged:
        drift.append(f"{unmanaged} image(s) in the project were not uploaded by cvspec (kept)")
    return found


def _upload(image: DesiredImage) -> ops.ImageUpload:
    return ops.ImageUpload(sha256=image.sha256, path=image.path, tags=image.tags)


def _training_changes(training: DesiredTraining | None, live: LiveState) -> list[ops.Op]:
    if training is None:
        return []
    mine = [i for i in live.iterations if i.name == training.iteration_name]
    if any(i.status == "Completed" for i in mine):
        return []
    waiting = any(i.status == "Training" for i in mine)
    reason = _training_reason(live.iterations, waiting)
    return [
        ops.Train(
            reason=reason,
            iteration_name=training.iteration_name,
            training_type=training.training_type,
            budget_hours=training.budget_hours,
            notification_email=training.notification_email,
            force=training.force,
            wait_only=waiting,
        )
    ]


def _training_reason(iterations: tuple[LiveIteration, ...], waiting: bool) -> str:
    if waiting:
        return "an iteration of this dataset is still training"
    trained = [i for i in iterations if i.status == "Completed"]
    if not trained:
        return "no trained iteration yet"
    latest = max(trained, key=lambda i: i.created)
    return f"the dataset or training settings changed since iteration {latest.name!r}"


def _publish_changes(
    desired: Desired, live: LiveState, trains: bool, drift: list[str]
) -> list[ops.Op]:
    publish, training = desired.publish, desired.training
    if publish is None or training is None:
        return []
    if not publish.prediction_resource_id:
        raise PlanError(
            "publish.prediction_resource: no prediction resource id; set it in the spec or "
            "set CVSPEC_PREDICTION_RESOURCE_ID"
        )
    target = training.iteration_name
    found: list[ops.Op] = []
    current = [i for i in live.iterations if i.publish_name == publish.name]
    for it in current:
        if it.name != target or it.prediction_resource_id != publish.prediction_resource_id:
            found.append(
                ops.Unpublish(
                    reason=f"{publish.name!r} moves to iteration {target!r}",
                    iteration_id=it.id,
                    iteration_name=it.name,
                    publish_name=it.publish_name,
                )
            )
    if not any(i.name == target for i in current) or found:
        found.append(
            ops.Publish(
                reason="the spec publishes the latest training",
                iteration_name=target,
                publish_name=publish.name,
                prediction_resource_id=publish.prediction_resource_id,
                gates=publish.gates,
            )
        )
    for it in live.iterations:
        if it.publish_name and it.publish_name != publish.name and iteration_fingerprint(it.name):
            drift.append(f"iteration {it.name!r} is published as {it.publish_name!r} (kept)")
    return found + _retention(publish, target, live, trains, found)


def _retention(
    publish: DesiredPublish, target: str, live: LiveState, trains: bool, found: list[ops.Op]
) -> list[ops.Op]:
    unpublishing = {op.iteration_id for op in found if isinstance(op, ops.Unpublish)}
    owned = [i for i in live.iterations if iteration_fingerprint(i.name) is not None]
    total_after = len(owned) + (1 if trains else 0)
    limit_excess = len(live.iterations) + (1 if trains else 0) - ITERATION_LIMIT
    excess = max(total_after - publish.keep, limit_excess)
    candidates = sorted(
        (i for i in owned if i.name != target and (not i.publish_name or i.id in unpublishing)),
        key=lambda i: (i.created, i.id),
    )
    return [
        ops.DeleteIteration(
            reason=f"keeps at most {publish.keep} iterations (publish.keep)",
            iteration_id=i.id,
            iteration_name=i.name,
            after_unpublish=i.id in unpublishing,
        )
        for i in candidates[: max(0, excess)]
        if i.status != "Training"
    ]
