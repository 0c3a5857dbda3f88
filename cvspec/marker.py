"""The training marker: how an iteration started by an interrupted apply stays cvspec's.

TrainProject creates an iteration named "Iteration N"; cvspec renames it to the dataset's
fingerprint name right after. An apply killed between the two calls would leave an iteration
that nothing identifies. So, just before TrainProject, apply appends a marker to the
project's description, naming the iteration it is about to train and the creation time of
the newest iteration before it (the service's clock, so no clock skew):

    Handwritten digits [cvspec-training cvspec-0123456789ab after=2026-11-30T13:00:00+00:00]

and removes it once the iteration has its name. The next plan finds a marker, takes the
oldest default-named iteration created after that time as the one TrainProject made, and
plans its rename (RenameIteration, reason `interrupted_training`); a marker with no such
iteration (killed before TrainProject landed) is removed by an UpdateProject. The live
reader strips the marker, so the project's description compares with the spec's as usual.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MARKER = re.compile(r"\s*\[cvspec-training (?P<name>\S+) after=(?P<after>\S*)\]\s*$")
DEFAULT_ITERATION_NAME = re.compile(r"^Iteration \d+$")


@dataclass(frozen=True)
class TrainingMarker:
    iteration_name: str  # the name the started iteration was to get
    after: str  # ISO creation time of the newest iteration before it ("" for none)


def split_description(description: str) -> tuple[str, TrainingMarker | None]:
    """The description without its marker, and the marker (None when there is none)."""
    found = _MARKER.search(description)
    if found is None:
        return description, None
    marker = TrainingMarker(found["name"], found["after"])
    return description[: found.start()], marker


def with_marker(description: str, marker: TrainingMarker) -> str:
    """The description carrying `marker` (any previous marker replaced)."""
    text, _ = split_description(description)
    return f"{text} [cvspec-training {marker.iteration_name} after={marker.after}]"
