"""Pydantic models of the spec file (version 1). Unknown keys are errors."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class ProjectSpec(_Model):
    name: str = Field(min_length=1, max_length=256)
    """Project name; the project's identity in the service."""
    description: str = ""
    classification: Literal["multiclass", "multilabel"] = "multiclass"
    """Multiclass: exactly one tag per image. Multilabel: any number of tags per image."""
    domain: str = "General"
    """Domain by name ("General", "General [A2]", "Food", "General (compact)", ...) or GUID."""


class TagSpec(_Model):
    name: str = Field(min_length=1, max_length=256)
    description: str = ""
    type: Literal["regular", "negative"] = "regular"


class ImageSourceSpec(_Model):
    path: str
    """Glob relative to the spec file. `{tag}` in a directory part names the tag."""
    tags: list[str] = Field(default_factory=list)
    """Tags given to every matched image (in addition to a `{tag}` in the path)."""


class TrainingSpec(_Model):
    type: Literal["regular", "advanced"] = "regular"
    budget_hours: int = Field(default=0, ge=0)
    notification_email: str | None = None
    force: bool = False


class GatesSpec(_Model):
    min_precision: float | None = Field(default=None, ge=0, le=1)
    min_recall: float | None = Field(default=None, ge=0, le=1)
    min_ap: float | None = Field(default=None, ge=0, le=1)
    threshold: float = Field(default=0.5, gt=0, lt=1)


class PublishSpec(_Model):
    name: str = Field(min_length=1)
    prediction_resource: str | None = None
    """ARM id of the prediction resource; defaults to the one in the environment."""
    keep: int = Field(default=3, ge=1, le=20)
    """How many iterations to keep (oldest unpublished ones are deleted first)."""


class PruneSpec(_Model):
    tags: bool = False
    images: bool = False


class Spec(_Model):
    version: Literal[1] = 1
    project: ProjectSpec
    tags: list[TagSpec] = Field(default_factory=list)
    images: list[ImageSourceSpec] = Field(default_factory=list)
    training: TrainingSpec | None = Field(default_factory=TrainingSpec)
    gates: GatesSpec = Field(default_factory=GatesSpec)
    publish: PublishSpec | None = None
    prune: PruneSpec = Field(default_factory=PruneSpec)
    protect: bool = False
