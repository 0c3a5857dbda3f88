"""The desired state: the YAML spec, its models, its image sources and their offline validation."""

from cvspec.spec.images import ResolvedImage, resolve_images
from cvspec.spec.loader import ValidatedSpec, load_and_validate, load_spec
from cvspec.spec.model import (
    GatesSpec,
    ImageSourceSpec,
    ProjectSpec,
    PruneSpec,
    PublishSpec,
    Spec,
    TagSpec,
    TrainingSpec,
)

__all__ = [
    "GatesSpec",
    "ImageSourceSpec",
    "ProjectSpec",
    "PruneSpec",
    "PublishSpec",
    "ResolvedImage",
    "Spec",
    "TagSpec",
    "TrainingSpec",
    "ValidatedSpec",
    "load_and_validate",
    "load_spec",
    "resolve_images",
]
