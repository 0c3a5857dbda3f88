"""What `cvspec destroy` shows before it asks (pure: no I/O).

The plan itself comes from cvspec.diff.destroy_plan (one DeleteProject; its handler
unpublishes every published iteration first, since the service refuses to delete a project
that still serves predictions).
"""

from __future__ import annotations

from cvspec.live import LiveState
from cvspec.plan import Plan


def destroy_lines(live: LiveState, plan: Plan | None = None) -> list[str]:
    """Terraform-like lines: everything that goes, with counts; with the plan, its losses and
    the same summary lines as `cvspec plan --destroy`."""
    if live.project is None:
        return []
    managed = sum(1 for i in live.images if i.hash_key)
    unmanaged = len(live.images) - managed
    lines = [
        "cvspec will destroy the following:",
        "",
        f"  - project.{live.project.name}  # {live.project.id}",
        f"      {len(live.tags)} tag(s), {len(live.images)} image(s), "
        f"{len(live.iterations)} iteration(s)",
    ]
    if unmanaged:
        lines.append(f"      ! {unmanaged} image(s) were not uploaded by cvspec; they go too")
    for it in live.iterations:
        if it.publish_name:
            lines.append(f"  - publish.{it.publish_name}  # unpublished from {it.name}")
    if plan is not None:
        from cvspec import ops
        from cvspec.render import summary_lines

        losses = [loss for op in plan.of_type(ops.DeleteProject) for loss in op.losses]
        lines += [f"      # this destroys: {loss}" for loss in losses]
        return [*lines, "", *summary_lines(plan)]
    lines += [
        "",
        f"Destroy: 1 project, {len(live.images)} image(s), {len(live.iterations)} iteration(s).",
    ]
    return lines
