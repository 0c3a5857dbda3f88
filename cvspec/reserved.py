"""What cvspec keeps in the service for its own use, and the live reader hides: the owner
marker at the end of the project's description (cvspec.ownership) and the lock tag
(cvspec.lock). Neither is ever planned, counted, trained or compared with the spec."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from cvspec.errors import PlanError

LOCK_TAG = "cvspec.lock"
_OWNER = re.compile(r"(?: |^)\[cvspec-owner (?P<owner>[^\]\s]+)\]")


def is_reserved_tag(name: str) -> bool:
    """A tag cvspec made for itself (the lock), never one of the spec's."""
    return name.casefold() == LOCK_TAG


def refuse_reserved_tags(names: Iterable[str]) -> None:
    """The spec may not list the lock's tag.

    Raises:
        PlanError: it does.
    """
    taken = sorted(name for name in names if is_reserved_tag(name))
    if taken:
        raise PlanError(
            f"the tag name {taken[0]!r} is reserved for cvspec's apply lock "
            "(docs/concurrency.md): rename the spec's tag"
        )


def split_owner(description: str) -> tuple[str, str | None]:
    """The description without its owner marker, and the owner (None when there is none).
    Give it a description whose training marker was removed (cvspec.marker)."""
    # the last marker is cvspec's (a user may quote one earlier)
    found = next(reversed(list(_OWNER.finditer(description))), None)
    if found is None:
        return description, None
    return description[: found.start()] + description[found.end() :], found["owner"]


def with_owner(description: str, owner: str) -> str:
    """`description` (without a training marker) carrying the owner marker `owner`."""
    text, _ = split_owner(description)
    return f"{text} [cvspec-owner {owner}]" if text else f"[cvspec-owner {owner}]"


def owned_description(current: str, after: Mapping[str, str]) -> str:
    """The description an UpdateProject writes: `current` (the service's, training marker
    removed) with the planned description and owner of `after`; the owner is kept when
    `after` does not change it."""
    text, owner = split_owner(current)
    text = after.get("description", text)
    owner = after.get("owner", owner)
    return with_owner(text, owner) if owner else text
