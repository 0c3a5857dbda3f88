"""Tier profiles (F0 free, S0 standard) from the service's limits-and-quotas table."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class TierLimits:
    """Every limit the emulator enforces; a profile is data, so tests can tighten it."""

    name: str
    projects: int
    images_per_project: int
    tags_per_project: int
    iterations_per_project: int = 20
    images_per_batch: int = 64
    tags_per_batch: int = 20
    image_tag_pairs_per_call: int = 128
    delete_image_tags_images: int = 64
    ids_per_call: int = 256
    metadata_update_images: int = 64
    prediction_ids_per_call: int = 64
    max_take: int = 256
    tags_per_image: int = 100
    training_image_bytes: int = 6 * 1024 * 1024
    prediction_image_bytes: int = 4 * 1024 * 1024
    max_dimension: int = 10_240
    max_aspect_ratio: float = 25.0
    metadata_pairs: int = 10
    metadata_key_length: int = 128
    metadata_value_length: int = 256
    min_images_per_tag: int = 5
    min_tags_to_train: int = 2
    # transactions per second, enforced only when the server runs with tps_limit=True
    tps_training: float = 10.0
    tps_train_project: float = 10.0
    tps_prediction: float = 10.0
    tps_prediction_nostore: float = 20.0


S0 = TierLimits(name="S0", projects=100, images_per_project=100_000, tags_per_project=500)
F0 = TierLimits(
    name="F0",
    projects=2,
    images_per_project=5_000,
    tags_per_project=50,
    tps_training=10.0,
    tps_train_project=2.0,
    tps_prediction=2.0,
    tps_prediction_nostore=2.0,
)

TIERS: dict[str, TierLimits] = {"S0": S0, "F0": F0}


def tier_limits(name: str, **overrides: int | float) -> TierLimits:
    """The named profile (case-insensitive), optionally with some limits overridden."""
    try:
        base = TIERS[name.upper()]
    except KeyError:
        raise ValueError(f"unknown tier {name!r}; expected one of {', '.join(TIERS)}") from None
    return replace(base, **overrides) if overrides else base  # type: ignore[arg-type]
