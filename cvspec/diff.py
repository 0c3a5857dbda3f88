"""The pure diff: desired state + live state -> Plan. No I/O, no clock.

Resources are matched by natural key with set algebra: the project by name, tags by name,
images by the content-hash key cvspec records in their metadata, iterations by the dataset
fingerprint in their names. What is only in the spec is created, what differs is updated
(or replaced when the service cannot change it in place), and what is only in the service
is deleted when the spec's prune settings ask for it; otherwise it is reported as drift.
Images cvspec did not upload are reported and never deleted.

Two comparisons, each with what suits its size: a setting (of the project, a tag) is a small
plain dict compared with deepdiff (cvspec.settings_diff), which reports each difference by its
dotted path; the images, up to 100,000 and more, are compared with set algebra on their
content keys, linear in their number, where a generic deep comparison would be far slower.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from itertools import chain
from typing import Any

from cvspec import ops, rules
from cvspec.desired import Desired, DesiredImage, DesiredTag, DesiredTraining
from cvspec.diff_iterations import ITERATION_LIMIT as ITERATION_LIMIT
from cvspec.diff_iterations import compare_iterations
from cvspec.errors import PlanError
from cvspec.identity import (
    base_iteration_name,
    dataset_iteration_name,
    failed_gates,
    failed_iteration_name,
    iteration_fingerprint,
)
from cvspec.live import LiveImage, LiveProject, LiveState, LiveTag
from cvspec.plan import (
    Drift,
    DriftKind,
    Plan,
    domain_names,
    live_fingerprint,
    live_summary,
    order,
)
from cvspec.settings_diff import setting_changes
from cvspec.settings_diff import values as changed_values

CLASSIFICATION = "Classification"
R = ops.Reason


@dataclass
class _Found:
    """What the comparison found so far: operations and drift."""

    operations: list[ops.Op] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)

    def add(self, *found: ops.Op) -> None:
        self.operations.extend(found)


def diff(desired: Desired, live: LiveState) -> Plan:
    """Every operation that brings `live` to `desired`, in execution order, with drift notes.

    Raises:
        PlanError: the plan would replace a protected project, the domain is unknown, the
            spec publishes without a prediction resource, or the training it plans would
            break the service's training rules (cvspec.rules).
    """
    found = _Found()
    domain_id = _domain_id(desired.domain, live)
    compared = _compare_project(desired, live, domain_id, found)
    deleted_tags, renamed_tags = _compare_tags(desired, compared, found)
    types, used = _tag_types(desired)
    _compare_images(desired, compared, deleted_tags, renamed_tags, set(types), found)
    compared = _follow_tag_renames(desired, compared, deleted_tags, renamed_tags, found)
    # (from here on, `compared` carries the new tag names)
    training, trained = _training_set(desired, compared, types, used)
    desired = replace(desired, training=training)
    updates_project = any(isinstance(op, ops.UpdateProject) for op in found.operations)
    changes_dataset = _changes_dataset(found.operations, compared)
    iterations = compare_iterations(
        desired, compared, project_updated=updates_project, dataset_changes=changes_dataset
    )
    if trained is not None and training is not None and _trains(iterations.operations):
        problems = rules.problems(
            trained,
            desired.images,
            multiclass=desired.classification_type == "Multiclass",
            min_images=training.min_images_per_tag,
        )
        if problems:
            raise PlanError(rules.refusal(problems))
    found.add(*iterations.operations)
    found.drift.extend(iterations.drift)
    return Plan(
        project_name=desired.project_name,
        operations=order(found.operations),
        drift=tuple(found.drift),
        live_fingerprint=live_fingerprint(live),
        live_summary=live_summary(live),
        domains=domain_names(live.domains, found.operations),
    )


def _trains(operations: Iterable[ops.Op]) -> bool:
    return any(isinstance(op, ops.Train) and not op.wait_only for op in operations)


# Operations that change what the service trains on.
_DATASET_OPS = (
    ops.CreateProject,
    ops.CreateTag,
    ops.DeleteTag,
    ops.RemoveImageTags,
    ops.AddImageTags,
    ops.DeleteImages,
)


def _changes_dataset(operations: list[ops.Op], live: LiveState) -> bool:
    """Whether the plan surely changes the images or tags the service trains on. Uploads do
    not when the project holds images cvspec did not upload: they may be the same files
    (adopting a portal project), which the service merges ("OKDuplicate")."""
    if any(isinstance(op, _DATASET_OPS) for op in operations):
        return True
    uploads = any(isinstance(op, ops.UploadImages) for op in operations)
    return uploads and all(i.hash_key is not None for i in live.images)


def destroy_plan(project_name: str, live: LiveState, protect: bool) -> Plan:
    """The plan of `cvspec destroy`: delete the project (its iterations are unpublished first).

    Raises:
        PlanError: the project is protected.
    """
    found: list[ops.Op] = []
    if live.project is not None:
        if protect:
            raise PlanError(
                f"project {project_name!r} is protected (protect: true); refusing to destroy it"
            )
        found.append(
            ops.DeleteProject(
                reason="destroy was requested",
                reason_code=R.DESTROY,
                project_id=live.project.id,
                name=live.project.name,
                settings=_settings(live.project),
                losses=losses(live),
            )
        )
    return Plan(
        project_name=project_name,
        operations=tuple(found),
        drift=(),
        live_fingerprint=live_fingerprint(live),
        live_summary=live_summary(live),
        destroy=True,
        domains=domain_names(live.domains, found),
    )


# --- project ---------------------------------------------------------------------------------


def _domain_id(domain: str, live: LiveState) -> str:
    wanted = domain.strip().lower()
    for d in live.domains:
        if d.type == CLASSIFICATION and wanted in (d.id.lower(), d.name.lower()):
            return d.id
    names = ", ".join(sorted({d.name for d in live.domains if d.type == CLASSIFICATION}))
    raise PlanError(f"project.domain: unknown classification domain {domain!r} (known: {names})")


def _compare_project(desired: Desired, live: LiveState, domain_id: str, found: _Found) -> LiveState:
    """Plan the project's own changes; return the live state the rest is compared with
    (empty when the project is created or replaced)."""
    project = live.project
    if project is None:
        found.add(_create_project(desired, domain_id, R.MISSING, "the project does not exist"))
        return LiveState(domains=live.domains, project=None)
    why = _cannot_update(desired, project, live)
    if why:
        found.add(*_replace_project(desired, live, domain_id, why))
        return LiveState(domains=live.domains, project=None)
    found.add(*_update_project(desired, project, domain_id))
    return live


def _cannot_update(desired: Desired, project: LiveProject, live: LiveState) -> str | None:
    if project.classification_type != desired.classification_type:
        return (
            f"classification type changes from {project.classification_type} to "
            f"{desired.classification_type}"
        )
    kind = next((d.type for d in live.domains if d.id == project.domain_id), CLASSIFICATION)
    if kind != CLASSIFICATION:
        return f"domain type changes from {kind} to {CLASSIFICATION}"
    return None


def _replace_project(desired: Desired, live: LiveState, domain_id: str, why: str) -> list[ops.Op]:
    project = live.project
    assert project is not None
    reason = f"{why}, which the service cannot change in place"
    if desired.protect:
        raise PlanError(
            f"project {desired.project_name!r} is protected (protect: true); refusing to "
            f"replace it: {reason}. Remove protect to allow it, or keep the old setting."
        )
    code = R.REPLACE_BECAUSE_CANNOT_UPDATE
    delete = ops.DeleteProject(
        reason=reason,
        reason_code=code,
        project_id=project.id,
        name=project.name,
        settings=_settings(project),
        losses=losses(live),
    )
    return [delete, _create_project(desired, domain_id, code, reason)]


def losses(live: LiveState) -> tuple[str, ...]:
    """What deleting the project takes with it, one phrase each (DeleteProject.losses)."""
    found: list[str] = []
    if live.images:
        unmanaged = sum(1 for i in live.images if i.hash_key is None)
        text = _count(len(live.images), "image")
        if unmanaged:
            text += f", {unmanaged} of them not uploaded by cvspec"
        found.append(text)
    if live.iterations:
        found.append(_count(len(live.iterations), "iteration"))
    names = sorted({i.publish_name for i in live.iterations if i.publish_name})
    found += [f"publish name {name!r} (clients calling it will fail)" for name in names]
    return tuple(found)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def check_replace_consent(plan: Plan, consent: bool) -> None:
    """Refuse a plan that replaces the project unless the user consented (`--replace`).

    Raises:
        PlanError: one line naming the project, why it is replaced, what goes with it, and
            the flag that allows it.
    """
    replacing = [
        op
        for op in plan.of_type(ops.DeleteProject)
        if op.reason_code is R.REPLACE_BECAUSE_CANNOT_UPDATE
    ]
    if consent or not replacing:
        return
    op = replacing[0]
    lost = "; it deletes: " + "; ".join(op.losses) if op.losses else ""
    raise PlanError(
        f"project {op.name!r} must be replaced ({op.reason}){lost}. Run again with --replace "
        "to allow it."
    )


def _settings(project: LiveProject) -> dict[str, str]:
    return {
        "description": project.description,
        "domain_id": project.domain_id,
        "classification_type": project.classification_type,
    }


def _create_project(desired: Desired, domain_id: str, code: ops.Reason, reason: str) -> ops.Op:
    return ops.CreateProject(
        reason=reason,
        reason_code=code,
        name=desired.project_name,
        description=desired.description,
        domain_id=domain_id,
        classification_type=desired.classification_type,
    )


_SHOWN = {"domain_id": "domain"}  # the setting's name for people


def _update_project(desired: Desired, project: LiveProject, domain_id: str) -> list[ops.Op]:
    live_settings = {"description": project.description, "domain_id": project.domain_id}
    spec_settings = {"description": desired.description, "domain_id": domain_id}
    found = setting_changes(live_settings, spec_settings)
    if not found:
        return []
    before, after = changed_values(found)
    return [
        ops.UpdateProject(
            reason=f"{', '.join(_SHOWN.get(c.path, c.path) for c in found)} differs from the spec",
            reason_code=R.SETTINGS_DIFFER,
            project_id=project.id,
            name=project.name,
            before=before,
            after=after,
        )
    ]


# --- tags ------------------------------------------------------------------------------------


def desired_tags(desired: Desired) -> dict[str, DesiredTag]:
    """Declared tags plus any tag that images use (with default settings)."""
    tags = {t.name: t for t in desired.tags}
    for image in desired.images:
        for name in image.tags:
            tags.setdefault(name, DesiredTag(name, "", "Regular"))
    return tags


def _match_tags(
    want: dict[str, DesiredTag], have: Iterable[LiveTag]
) -> tuple[dict[str, LiveTag], list[LiveTag]]:
    """Pair live tags with spec tags: by name, then ignoring case. Returns (pairs, unmatched)."""
    pairs: dict[str, LiveTag] = {}
    rest: list[LiveTag] = []
    for tag in have:
        (pairs.__setitem__(tag.name, tag) if tag.name in want else rest.append(tag))
    by_lower = {name.lower(): name for name in want if name not in pairs}
    unmatched = []
    for tag in rest:
        name = by_lower.pop(tag.name.lower(), None)
        if name is None:
            unmatched.append(tag)
        else:
            pairs[name] = tag
    return pairs, unmatched


def _compare_tags(
    desired: Desired, live: LiveState, found: _Found
) -> tuple[set[str], dict[str, str]]:
    """Plan tag changes; return the names of tags this plan deletes, and the new name of
    each tag it renames (a change of case, or a spec tag's `renamed_from`), by old name."""
    want = desired_tags(desired)
    pairs, extra = _match_tags(want, live.tags)
    pairs, extra = _match_renames(desired.tags, pairs, extra)
    renamed = {tag.name: name for name, tag in pairs.items() if tag.name != name}
    for name in sorted(want):
        tag = pairs.get(name)
        if tag is None:
            found.add(_create_tag(want[name]))
        else:
            found.add(*_update_tag(want[name], tag))
    deleted: set[str] = set()
    for tag in extra:
        if desired.prune_tags:
            found.add(_delete_tag(tag))
            deleted.add(tag.name)
        else:
            found.drift.append(_unlisted_tag(tag))
    return deleted, renamed


def _match_renames(
    tags: Iterable[DesiredTag], pairs: dict[str, LiveTag], unmatched: list[LiveTag]
) -> tuple[dict[str, LiveTag], list[LiveTag]]:
    """Pair a spec tag that has no live tag with the live tag it is `renamed_from` (names
    compare case-insensitively, as the service's do). Returns (pairs, unmatched)."""
    olds = {
        t.renamed_from.casefold(): t.name for t in tags if t.renamed_from and t.name not in pairs
    }
    if not olds:
        return pairs, unmatched
    pairs, rest = dict(pairs), []
    for tag in unmatched:
        name = olds.pop(tag.name.casefold(), None)
        if name is None:
            rest.append(tag)
        else:
            pairs[name] = tag
    return pairs, rest


def _create_tag(tag: DesiredTag) -> ops.Op:
    reason = "the tag is not in the project" + ("" if tag.type == "Regular" else f" ({tag.type})")
    return ops.CreateTag(
        reason=reason,
        reason_code=R.MISSING,
        name=tag.name,
        description=tag.description,
        type=tag.type,
    )


def _update_tag(want: DesiredTag, tag: LiveTag) -> list[ops.Op]:
    live_settings = {"name": tag.name, "description": tag.description, "type": tag.type}
    spec_settings = {"name": want.name, "description": want.description, "type": want.type}
    found = setting_changes(live_settings, spec_settings)
    if not found:
        return []
    changed = [c.path for c in found]
    before, after = changed_values(found)
    reason, code = f"{', '.join(changed)} differs from the spec", R.SETTINGS_DIFFER
    old = (want.renamed_from or "").casefold()
    if tag.name != want.name and tag.name.casefold() == old:
        reason, code = f"the spec's tag {want.name!r} is renamed_from {tag.name!r}", R.TAG_RENAMED
        others = [k for k in changed if k != "name"]
        if others:
            reason += f"; {', '.join(others)} differs from the spec"
    return [
        ops.UpdateTag(
            reason=reason,
            reason_code=code,
            tag_id=tag.id,
            name=want.name,
            before=before,
            after=after,
        )
    ]


def _delete_tag(tag: LiveTag) -> ops.Op:
    images = f"; it is removed from its {tag.image_count} image(s)" if tag.image_count else ""
    return ops.DeleteTag(
        reason=f"the spec does not list it (prune.tags){images}",
        reason_code=R.NOT_IN_SPEC,
        tag_id=tag.id,
        name=tag.name,
    )


def _unlisted_tag(tag: LiveTag) -> Drift:
    return Drift(
        kind=DriftKind.UNLISTED_TAG,
        address=f"tag.{tag.name}",
        detail=(
            f"is in the project ({tag.image_count} image(s)) but not in the spec; kept "
            "(set prune.tags to delete it)"
        ),
    )


# --- images ----------------------------------------------------------------------------------


def _tag_types(desired: Desired) -> tuple[dict[str, str], set[str]]:
    """The type of every tag of the spec, declared or used by its images (as desired_tags,
    in one pass of C-level set work over the images), and the tags its images use."""
    types = {t.name: t.type for t in desired.tags}
    used = set(chain.from_iterable(i.tags for i in desired.images))
    types.update(dict.fromkeys(used - types.keys(), "Regular"))
    return types, used


def _compare_images(
    desired: Desired,
    live: LiveState,
    deleted_tags: set[str],
    renamed_tags: dict[str, str],
    spec_tags: set[str],
    found: _Found,
) -> None:
    # Set algebra on content keys, not deepdiff: it must stay fast at 100,000 images (one
    # hash lookup per image); deepdiff is for the few settings (cvspec.settings_diff).
    have, duplicates = _managed(live.images)
    if renamed_tags:
        # Renaming a tag renames it on its images: they need no untag and tag again.
        have = {key: _renamed(image, renamed_tags) for key, image in have.items()}
    want = {i.hash_key: i for i in desired.images}
    uploads = [_upload(want[key]) for key in sorted(want.keys() - have.keys())]
    removes, adds = _retags(want, have, deleted_tags)
    extra = [have[key] for key in sorted(have.keys() - want.keys())]
    if uploads:
        found.add(
            ops.UploadImages(
                reason="the images are not in the project",
                reason_code=R.MISSING,
                images=tuple(uploads),
            )
        )
    if removes:
        found.add(_retag_op(ops.RemoveImageTags, removes))
    if adds:
        found.add(_retag_op(ops.AddImageTags, adds))
    _extra_images(extra, desired.prune_images, found)
    _adopt_pending(live.images, found)
    unmanaged = [i for i in live.images if i.hash_key is None]
    if desired.prune_unmanaged and unmanaged:
        found.add(_delete_unmanaged(unmanaged))
        unmanaged = []
    _note_images(unmanaged, duplicates, _trained_tags(spec_tags, renamed_tags), found)


def _trained_tags(spec_tags: set[str], renamed_tags: dict[str, str]) -> set[str]:
    """The live names of the tags training selects (the spec's, before a case rename)."""
    return spec_tags | {old for old, new in renamed_tags.items() if new in spec_tags}


def _adopt_pending(images: Iterable[LiveImage], found: _Found) -> None:
    """Images an interrupted apply uploaded without their identity: the live reader hashed
    them, the diff matched them like managed images; their manifest is written first."""
    pending = [i for i in images if i.pending and i.hash_key is not None]
    if not pending:
        return
    found.add(
        ops.AdoptPendingImages(
            reason=(
                f"an interrupted apply uploaded {len(pending)} image(s) without recording "
                "their identity"
            ),
            reason_code=R.PENDING_IMAGES,
            image_ids=tuple(i.id for i in pending),
            hash_keys=tuple(str(i.hash_key) for i in pending),
            tags=tuple(i.tags for i in pending),
        )
    )
    found.drift.append(
        Drift(
            kind=DriftKind.PENDING_IMAGES,
            address="images",
            detail=(
                f"{len(pending)} image(s) uploaded by an interrupted apply were never marked "
                "as cvspec's; this plan adopts them, then keeps or prunes them like the others"
            ),
            counts=_tag_counts(pending),
            items=tuple(i.id for i in pending),
        )
    )


def _delete_unmanaged(images: list[LiveImage]) -> ops.Op:
    return ops.DeleteImages(
        reason="cvspec did not upload them (prune.unmanaged_images)",
        reason_code=R.UNMANAGED,
        image_ids=tuple(i.id for i in images),
        tags=tuple(i.tags for i in images),
    )


def _managed(images: Iterable[LiveImage]) -> tuple[dict[str, LiveImage], list[LiveImage]]:
    """Managed images by hash key (the lowest id wins), and the duplicates left over."""
    have: dict[str, LiveImage] = {}
    duplicates: list[LiveImage] = []
    for image in sorted(images, key=lambda i: i.id):
        if image.hash_key is None:
            continue
        if image.hash_key in have:
            duplicates.append(image)
        else:
            have[image.hash_key] = image
    return have, duplicates


def _renamed(image: LiveImage, renamed_tags: dict[str, str]) -> LiveImage:
    if not renamed_tags.keys() & set(image.tags):
        return image
    tags = tuple(sorted(renamed_tags.get(name, name) for name in image.tags))
    return replace(image, tags=tags)


def _upload(image: DesiredImage) -> ops.ImageUpload:
    return ops.ImageUpload(sha256=image.sha256, path=image.path, tags=image.tags, url=image.url)


def _retags(
    want: dict[str, DesiredImage], have: dict[str, LiveImage], deleted_tags: set[str]
) -> tuple[list[ops.ImageRetag], list[ops.ImageRetag]]:
    removes: list[ops.ImageRetag] = []
    adds: list[ops.ImageRetag] = []
    # Only images whose tags differ are sorted (tags are sorted tuples on both sides).
    changed = sorted(k for k in want.keys() & have.keys() if want[k].tags != have[k].tags)
    for key in changed:
        image, current = want[key], have[key]
        # Deleting a tag untags its images: no separate removal for it.
        gone = sorted(set(current.tags) - set(image.tags) - deleted_tags)
        new = sorted(set(image.tags) - set(current.tags))
        if gone:
            removes.append(ops.ImageRetag(current.id, image.path, tuple(gone)))
        if new:
            adds.append(ops.ImageRetag(current.id, image.path, tuple(new)))
    return removes, adds


def _retag_op(
    kind: type[ops.RemoveImageTags | ops.AddImageTags], images: list[ops.ImageRetag]
) -> ops.Op:
    return kind(
        reason="the images' tags differ from the spec",
        reason_code=R.TAGS_DIFFER,
        images=tuple(images),
    )


def _extra_images(extra: list[LiveImage], prune: bool, found: _Found) -> None:
    if not extra:
        return
    if prune:
        found.add(
            ops.DeleteImages(
                reason="the spec no longer lists them (prune.images)",
                reason_code=R.NOT_IN_SPEC,
                image_ids=tuple(i.id for i in extra),
                tags=tuple(i.tags for i in extra),
            )
        )
        return
    found.drift.append(
        Drift(
            kind=DriftKind.UNLISTED_IMAGES,
            address="images",
            detail=(
                f"{len(extra)} image(s) uploaded by cvspec are no longer in the spec; kept "
                "(set prune.images to delete them)"
            ),
            counts=_tag_counts(extra),
            items=tuple(i.id for i in extra),
        )
    )


def _note_images(
    images: Iterable[LiveImage], duplicates: list[LiveImage], trained: set[str], found: _Found
) -> None:
    """Drift about images cvspec did not upload, by what training does with them (the
    tags it selects are `trained`), and about duplicates."""
    unmanaged = [i for i in images if i.hash_key is None and not i.pending]
    _note_unreadable([i for i in images if i.hash_key is None and i.pending], trained, found)
    untagged = [i for i in unmanaged if not i.tags]
    used = [i for i in unmanaged if i.tags and not trained.isdisjoint(i.tags)]
    other = [i for i in unmanaged if i.tags and trained.isdisjoint(i.tags)]
    not_ours = "image(s) in the project were not uploaded by cvspec"
    groups = (
        (
            DriftKind.UNMANAGED_TRAINED,
            used,
            f"{not_ours} and carry tags the spec lists: the service trains on them, and the "
            "plan's iteration includes them (set prune.unmanaged_images to delete them)",
        ),
        (
            DriftKind.UNMANAGED_UNTAGGED,
            untagged,
            f"{not_ours} and have no tag: not trained; kept",
        ),
        (
            DriftKind.UNMANAGED_IMAGES,
            other,
            f"{not_ours}; their tags are not in the spec, so they are not trained; kept",
        ),
    )
    for kind, group, detail in groups:
        if group:
            found.drift.append(
                Drift(
                    kind=kind,
                    address="images",
                    detail=f"{len(group)} {detail}",
                    counts=_tag_counts(group),
                    items=tuple(i.id for i in group),
                    changes_model=kind is DriftKind.UNMANAGED_TRAINED,
                )
            )
    if duplicates:
        found.drift.append(
            Drift(
                kind=DriftKind.DUPLICATE_IMAGES,
                address="images",
                detail=f"{len(duplicates)} image(s) repeat the identity of another; kept",
                counts=_tag_counts(duplicates),
                items=tuple(i.id for i in duplicates),
            )
        )


def _note_unreadable(images: list[LiveImage], trained: set[str], found: _Found) -> None:
    """Pending images the live reader could not download: not adopted this time."""
    if not images:
        return
    found.drift.append(
        Drift(
            kind=DriftKind.PENDING_IMAGES,
            address="images",
            detail=(
                f"{len(images)} image(s) uploaded by an interrupted apply could not be "
                "downloaded to be identified; kept (the service trains those that carry the "
                "spec's tags), and the next plan tries again"
            ),
            counts=_tag_counts(images),
            items=tuple(i.id for i in images),
            changes_model=any(not trained.isdisjoint(i.tags) for i in images),
        )
    )


def _tag_counts(images: Iterable[LiveImage]) -> tuple[tuple[str, int], ...]:
    counts = Counter(t for i in images for t in i.tags or ("(untagged)",))
    return tuple(sorted(counts.items()))


# --- training --------------------------------------------------------------------------------


def _effective_training(desired: Desired, live: LiveState) -> DesiredTraining | None:
    """The training of the dataset the service will hold after the apply (`_training_set`;
    `live` carries the tag names as they will be)."""
    return _training_set(desired, live, *_tag_types(desired))[0]


def _training_set(
    desired: Desired, live: LiveState, types: dict[str, str], used: set[str]
) -> tuple[DesiredTraining | None, rules.TrainedSet | None]:
    """The training of the dataset the service will hold after the apply, and what it
    trains on (for the training rules, cvspec.rules). `live` carries the tag names as they
    will be; `types` and `used` are `_tag_types(desired)`.

    The service trains the spec's tags (selectedTags) on every image that carries one of
    them: the spec's images, the images cvspec uploaded that the spec no longer lists but
    keeps (prune.images off), and images cvspec did not upload (prune.unmanaged_images off).
    The iteration's fingerprint covers them all (unmanaged ones by image id), or a plan
    would promise an iteration that the service refuses as "not needed", and would not see
    images tagged in the portal. Images carrying only other tags are not trained: drift.
    """
    training = desired.training
    if training is None:
        return None, None
    trained = rules.trained_set(types, used, _outside_images(desired, live))
    effective = replace(training, selected_tags=trained.selected)
    if trained.outside:
        name = dataset_iteration_name(
            training.settings_json,
            [*((i.hash_key, i.tags) for i in desired.images), *trained.fingerprint_items()],
        )
        effective = replace(effective, iteration_name=name)
    return effective, trained


def _outside_images(
    desired: Desired, live: LiveState
) -> Iterable[tuple[str, tuple[str, ...], str]]:
    """(key, tags, origin) of the images the project keeps after the apply that the spec
    does not list: kept managed images by hash key, unmanaged ones by image id."""
    want = {i.hash_key for i in desired.images}
    for image in live.images:
        if image.hash_key is None:
            if desired.prune_unmanaged:
                continue
            key, origin = image.id, rules.UNMANAGED
        elif desired.prune_images or image.hash_key in want:
            continue
        else:
            key, origin = image.hash_key, rules.KEPT
        yield key, image.tags, origin


def _follow_tag_renames(
    desired: Desired,
    live: LiveState,
    deleted_tags: set[str],
    renamed_tags: dict[str, str],
    found: _Found,
) -> LiveState:
    """The live state the training and publishing comparisons see once this plan's tag
    renames are done: tags and images carry the new names and, when a completed iteration
    was trained on this very dataset under the old tag names, it is renamed to the new
    dataset's name (RenameIteration, reason TAG_RENAMED). The data is the same, so it is not
    trained again, and a publish name on it stays where it is.

    The old name is the effective training name (`_effective_training`) of the dataset with
    the new tag names mapped back: first the renames this plan makes, then every
    `renamed_from` of the spec whose old name the project no longer has (the tag was renamed
    by an apply interrupted before it renamed the iteration)."""
    declared = {t.name: t.renamed_from for t in desired.tags if t.renamed_from}
    if not renamed_tags and not declared:
        return live
    after = _with_tag_names(live, renamed_tags)
    training = _effective_training(desired, after)
    if training is None:
        return after
    target = training.iteration_name
    if any(base_iteration_name(i.name) == target for i in after.iterations):
        return after  # the new dataset's iteration exists: the usual comparison decides
    # (an old name still in the project is another tag: its dataset is not this one)
    live_names = {t.name.casefold() for t in after.tags}
    gone = {new: old for new, old in declared.items() if old.casefold() not in live_names}
    candidates = [{new: old for old, new in renamed_tags.items()}, gone]
    for back in (c for c in candidates if c):
        old = _effective_training(_named_back(desired, back), _with_tag_names(after, back))
        assert old is not None
        trained = [
            i
            for i in after.iterations
            if i.status == "Completed"
            and iteration_fingerprint(i.name) is not None
            and base_iteration_name(i.name) == old.iteration_name
        ]
        if trained:
            it = max(trained, key=lambda i: (i.created, i.id))
            gates = failed_gates(it.name)
            new_name = failed_iteration_name(target, gates) if gates else target
            found.add(
                ops.RenameIteration(
                    reason="it was trained on the same images under the old tag names",
                    reason_code=R.TAG_RENAMED,
                    iteration_id=it.id,
                    iteration_name=it.name,
                    new_name=new_name,
                )
            )
            iterations = tuple(
                replace(i, name=new_name) if i.id == it.id else i for i in after.iterations
            )
            return replace(after, iterations=iterations)
    return after


def _with_tag_names(live: LiveState, names: dict[str, str]) -> LiveState:
    """`live` with its tags renamed (old name -> new name), on its images too."""
    if not names:
        return live
    return replace(
        live,
        tags=tuple(replace(t, name=names.get(t.name, t.name)) for t in live.tags),
        images=tuple(_renamed(i, names) for i in live.images),
    )


def _named_back(desired: Desired, back: dict[str, str]) -> Desired:
    """The desired state with tag names mapped back (new name -> old name): its tags, its
    images' tags, and every tag name in the training settings the fingerprint covers."""
    training = desired.training
    images = tuple(
        replace(i, tags=tuple(sorted(back.get(t, t) for t in i.tags))) for i in desired.images
    )
    if training is not None:
        settings = json.dumps(
            _tag_names_back(json.loads(training.settings_json), back, False), sort_keys=True
        )
        name = dataset_iteration_name(settings, [(i.hash_key, i.tags) for i in images])
        training = replace(training, settings_json=settings, iteration_name=name)
    return replace(
        desired,
        tags=tuple(replace(t, name=back.get(t.name, t.name)) for t in desired.tags),
        images=images,
        training=training,
    )


def _tag_names_back(value: Any, back: dict[str, str], in_tags: bool) -> Any:
    """Map tag names (strings, and keys, under any key that mentions "tag") back; a list
    sorted before stays sorted, as the fingerprint's lists are."""
    if isinstance(value, dict):
        return {
            (back.get(k, k) if in_tags else k): _tag_names_back(v, back, in_tags or "tag" in k)
            for k, v in value.items()
        }
    if isinstance(value, list):
        items = [_tag_names_back(v, back, in_tags) for v in value]
        try:
            return sorted(items) if value == sorted(value) else items
        except TypeError:
            return items
    if in_tags and isinstance(value, str):
        return back.get(value, value)
    return value
