"""The desired state: the YAML spec, its models, its image sources and their offline validation."""

from cvspec.spec.domains import resolve_domain
from cvspec.spec.images import ResolvedImage, resolve_images
from cvspec.spec.loader import ValidatedSpec, load_and_validate, load_spec
from cvspec.spec.model import (
    GatesSpec,
    ImageSourceSpec,
    ProjectSpec,
    PruneSpec,
    PublishSpec,
    Spec,
    TagGatesSpec,
    TagSpec,
    TrainingSpec,
)
from cvspec.spec.schema import spec_json_schema

__all__ = [
    "GatesSpec",
    "ImageSourceSpec",
    "ProjectSpec",
    "PruneSpec",
    "PublishSpec",
    "ResolvedImage",
    "Spec",
    "TagGatesSpec",
    "TagSpec",
    "TrainingSpec",
    "ValidatedSpec",
    "load_and_validate",
    "load_spec",
    "resolve_domain",
    "resolve_images",
    "spec_json_schema",
]
