"""Which spec owns a project: a marker in the project's description, like kubectl's ApplySet
labels (docs/concurrency.md).

A spec's identity is its path inside its git repository, prefixed with the repository's
`origin` remote (normalised, so that an SSH and an HTTPS clone agree):

    github.com/acme/vision:specs/digits.yaml

It survives a fresh CI clone and a renamed checkout folder; it changes when the spec file
moves (take the project over from its old path with --take-over). CVSPEC_OWNER, when set,
overrides it. A spec outside any git repository, without CVSPEC_OWNER, has no identity: its
applies record no owner, and it is refused on a project another spec owns.

The marker sits at the end of the description, before a training marker (cvspec.marker):

    Handwritten digits [cvspec-owner github.com/acme/vision:specs/digits.yaml]

The live reader strips it, so the description compares with the spec's as usual. A plan
refuses a project owned by another spec unless --take-over is given; a project without a
marker (made before this feature, or by hand) is adopted. Both show as an UpdateProject of
the project's `owner` (reason `ownership`), and a new project is created with the marker.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
from pathlib import Path
from urllib.parse import quote

from cvspec import ops
from cvspec.errors import PlanError
from cvspec.live import LiveState
from cvspec.plan import Plan, order

ENV_OWNER = "CVSPEC_OWNER"
_SAFE = "/:@._-~+"
_GIT_TIMEOUT = 10.0


# --- a spec's identity ------------------------------------------------------------------


def spec_owner(spec_path: Path) -> str:
    """The spec's owner id, or "" for none (see the module's docstring)."""
    override = os.environ.get(ENV_OWNER, "").strip()
    if override:
        return _clean(override)
    spec = spec_path.resolve()
    top = _git(spec.parent, "rev-parse", "--show-toplevel")
    if not top:
        return ""
    relative = spec.relative_to(Path(top).resolve()).as_posix()
    remote = _normalise_remote(_git(spec.parent, "config", "--get", "remote.origin.url"))
    return _clean(f"{remote}:{relative}" if remote else relative)


def _git(folder: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _normalise_remote(url: str) -> str:
    """`git@github.com:acme/vision.git`, `https://user@github.com/acme/vision` ->
    `github.com/acme/vision` (no user, no credentials, no `.git`)."""
    if not url:
        return ""
    url = re.sub(r"^[a-z+]+://", "", url.strip())
    user, at, rest = url.partition("@")
    if at and "/" not in user:  # drop a user (and any token) before the host
        url = rest
    url = re.sub(r"^([^/:]+):(?:\d+/)?/?", r"\1/", url)  # scp-like host:path, or a port
    return url.removesuffix("/").removesuffix(".git")


def _clean(owner: str) -> str:
    return quote(owner, safe=_SAFE)


# --- the plan's ownership check -----------------------------------------------------------


def claim(plan: Plan, live: LiveState, owner: str, take_over: bool) -> Plan:
    """`plan`, with the project created carrying `owner`, or adopted / taken over.

    Raises:
        PlanError: the project is owned by another spec and `take_over` is not given.
    """
    plan = dataclasses.replace(plan, owner=owner)
    creates = plan.of_type(ops.CreateProject)
    current = live.project.owner if live.project is not None else None
    if current is not None and current != owner and not (take_over and owner):
        raise PlanError(_refusal(plan.project_name, current, owner))
    if creates and owner:
        created = [dataclasses.replace(op, owner=owner) for op in creates]
        kept = [op for op in plan.operations if not isinstance(op, ops.CreateProject)]
        return dataclasses.replace(plan, operations=order([*kept, *created]))
    if live.project is None or current == owner or not owner:
        return plan
    return dataclasses.replace(plan, operations=order(_with_owner_update(plan, live, owner)))


def _refusal(project: str, current: str, owner: str) -> str:
    if not owner:
        return (
            f"project {project!r} is owned by the spec {current}, and this spec has no "
            "identity to compare (it is not in a git repository): apply the owning spec, or "
            f"set {ENV_OWNER} (to {current} if this is that spec, moved)"
        )
    return (
        f"project {project!r} is owned by another spec: {current} (this spec is {owner}). "
        "Two specs on one project undo each other; rename this spec's project, or take the "
        "project over with --take-over"
    )


def _with_owner_update(plan: Plan, live: LiveState, owner: str) -> list[ops.Op]:
    assert live.project is not None
    current = live.project.owner
    reason = (
        f"taken over from {current} (--take-over)"
        if current
        else "the project has no owner yet: this spec adopts it"
    )
    others = [op for op in plan.operations if not isinstance(op, ops.UpdateProject)]
    updates = plan.of_type(ops.UpdateProject)
    before = {"owner": current or "(none)"}
    if updates:
        first = updates[0]
        merged = dataclasses.replace(
            first,
            before={**first.before, **before},
            after={**first.after, "owner": owner},
            reason=f"{first.reason}; {reason}",
        )
        return [*others, merged, *updates[1:]]
    update = ops.UpdateProject(
        reason=reason,
        reason_code=ops.Reason.OWNERSHIP,
        project_id=live.project.id,
        name=live.project.name,
        before=before,
        after={"owner": owner},
    )
    return [*others, update]
