"""Pydantic models of the spec file (version 1). Unknown keys are errors.

Each model checks only its own fields; checks that relate several parts of the spec (tag
names used by gates, duplicate tags) or need the files (images per tag) live in checks.py.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from cvspec.spec.domains import CLASSIFICATION_DOMAINS, DEFAULT_DOMAIN, resolve_domain
from cvspec.spec.globs import check_glob
from cvspec.spec.resources import ResourcesSpec

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{1,62}")  # an account name (resources section)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_ARM_ACCOUNT = re.compile(
    r"/subscriptions/[^/]+/resourceGroups/[^/]+"
    r"/providers/Microsoft\.CognitiveServices/accounts/[^/]+",
    re.IGNORECASE,
)


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"URL scheme must be http or https, not {parts.scheme or 'none'!r}")
    if not parts.netloc:
        raise ValueError(f"URL has no host: {url!r}")
    return url


Glob = Annotated[str, AfterValidator(check_glob)]

NAME_MAX = 256
"""Longest project, tag and publish name (the service's limit is not documented)."""
DESCRIPTION_MAX = 1024
"""Longest project or tag description (the service's limit is not documented; cvspec may
append a training marker of about 80 characters to the project's)."""


def _not_boolean(value: object) -> object:
    """Refuse a boolean where a number is expected (pydantic would read `yes` as 1)."""
    if isinstance(value, bool):
        raise PydanticCustomError("number_not_boolean", "should be a number, not a boolean")
    return value


Count = Annotated[int, BeforeValidator(_not_boolean)]
"""An integer; a YAML boolean (`yes`, `on`, `true`) is refused, not read as 1."""
Number = Annotated[float, BeforeValidator(_not_boolean)]
"""A number; a YAML boolean is refused, not read as 1.0."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class ProjectSpec(_Model):
    """The Custom Vision project (one per spec)."""

    name: str = Field(min_length=1, max_length=NAME_MAX)
    """Project name; the project's identity in the service."""
    description: str = Field(default="", max_length=DESCRIPTION_MAX)
    """Free text shown in the portal."""
    classification: Literal["multiclass", "multilabel"] = "multiclass"
    """Multiclass: exactly one tag per image. Multilabel: any number of tags per image."""
    domain: str = Field(default=DEFAULT_DOMAIN, examples=list(CLASSIFICATION_DOMAINS))
    """Domain by name ("General", "General [A2]", "Food", "General (compact)", ...) or GUID."""

    @field_validator("domain")
    @classmethod
    def _known_domain(cls, value: str) -> str:
        resolve_domain(value)
        return value

    @property
    def domain_id(self) -> str:
        """The domain's GUID."""
        return resolve_domain(self.domain)


class TagSpec(_Model):
    """A tag (label) of the project."""

    name: str = Field(min_length=1, max_length=NAME_MAX)
    """Tag name; unique in the project, compared case-insensitively."""
    description: str = Field(default="", max_length=DESCRIPTION_MAX)
    """Free text shown in the portal."""
    type: Literal["regular", "negative"] = "regular"
    """A negative tag marks images that match none of the other tags; it stands alone."""
    renamed_from: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    """The name this tag had (like Terraform's `moved`): when the project has a tag of that
    name and none of this one, it is renamed in place (one update; its images keep it, and
    the iteration trained on it is renamed too, without training again). Harmless once
    applied."""

    @field_validator("name", "renamed_from")
    @classmethod
    def _trimmed(cls, value: str | None) -> str | None:
        if value is not None and value != value.strip():
            raise ValueError(f"tag name {value!r} has leading or trailing spaces")
        return value


class ImageSourceSpec(_Model):
    """Where images come from: exactly one of `path`, `manifest` or `urls`."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": [k]} for k in ("path", "manifest", "urls")]}
    )

    path: str | None = None
    """Glob relative to the spec file (`*`, `?`, `**`). A `{tag}` path part names the tag,
    e.g. `images/{tag}/*.jpg`."""
    manifest: str | None = None
    """A CSV (columns `path`, `tags`; tags separated by `;`) or JSONL (`{"path": ..., "tags":
    [...]}` per line) label file, relative to the spec file. Its paths are relative to itself."""
    urls: list[Annotated[str, AfterValidator(_check_url)]] | None = None
    """HTTP(S) image URLs, uploaded through the service's URL API."""
    tags: list[str] = Field(default_factory=list)
    """Tags given to every image of this source (in addition to `{tag}` or the manifest's)."""
    exclude: list[Glob] = Field(default_factory=list)
    """Globs (relative to the spec file) of files this source leaves out."""

    @field_validator("path")
    @classmethod
    def _tag_is_a_path_part(cls, value: str | None) -> str | None:
        if value is not None:
            _check_pattern(value)
        return value

    @field_validator("manifest")
    @classmethod
    def _manifest_format(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().endswith((".csv", ".jsonl")):
            raise ValueError(f"manifest must be a .csv or .jsonl file, not {value!r}")
        return value

    @field_validator("tags")
    @classmethod
    def _named_tags(cls, value: list[str]) -> list[str]:
        if any(not tag.strip() for tag in value):
            raise ValueError("tag names must not be empty")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> ImageSourceSpec:
        kinds = [k for k in ("path", "manifest", "urls") if getattr(self, k) is not None]
        if len(kinds) != 1:
            given = ", ".join(kinds) or "none"
            raise ValueError(f"give exactly one of path, manifest, urls (given: {given})")
        if self.urls is not None and self.exclude:
            raise ValueError("exclude applies to files, not to urls")
        return self

    @property
    def kind(self) -> Literal["path", "manifest", "urls"]:
        """Which kind of source this is."""
        if self.path is not None:
            return "path"
        return "manifest" if self.manifest is not None else "urls"


def _check_pattern(pattern: str) -> None:
    check_glob(pattern)
    for part in pattern.replace("\\", "/").split("/"):
        if "{tag}" in part and part != "{tag}":
            raise ValueError(f"{{tag}} must be a whole path part, not {part!r}")
        if ("{" in part or "}" in part) and part != "{tag}":
            raise ValueError(f"only {{tag}} may appear in braces, not {part!r}")
    if pattern.count("{tag}") > 1:
        raise ValueError("{tag} may appear only once")


class TrainingSpec(_Model):
    """Train a new iteration when the images or tags changed."""

    type: Literal["regular", "advanced"] = "regular"
    """Regular (fast) or advanced (longer, budgeted) training."""
    budget_hours: Count = Field(default=0, ge=0)
    """Reserved budget for advanced training, in hours (at least 1 when advanced)."""
    notification_email: str | None = None
    """Address the service emails when training ends."""
    force: bool = False
    """Train even when nothing changed since the last training."""

    @field_validator("notification_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.fullmatch(value):
            raise ValueError(f"not an email address: {value!r}")
        return value

    @model_validator(mode="after")
    def _budget_matches_type(self) -> TrainingSpec:
        if self.type == "advanced" and self.budget_hours < 1:
            raise ValueError("advanced training needs budget_hours of at least 1")
        if self.type == "regular" and self.budget_hours:
            raise ValueError("budget_hours applies only to type: advanced")
        return self


class TagGatesSpec(_Model):
    """Minimum metrics of one tag for a trained iteration to be published."""

    min_precision: Number | None = Field(default=None, ge=0, le=1)
    """Minimum precision of this tag (0-1)."""
    min_recall: Number | None = Field(default=None, ge=0, le=1)
    """Minimum recall of this tag (0-1)."""
    min_ap: Number | None = Field(default=None, ge=0, le=1)
    """Minimum average precision of this tag (0-1)."""


class GatesSpec(_Model):
    """Quality gates: a trained iteration that fails one is not published."""

    min_precision: Number | None = Field(default=None, ge=0, le=1)
    """Minimum overall precision (0-1)."""
    min_recall: Number | None = Field(default=None, ge=0, le=1)
    """Minimum overall recall (0-1)."""
    min_ap: Number | None = Field(default=None, ge=0, le=1)
    """Minimum overall average precision (0-1)."""
    threshold: Number = Field(default=0.5, gt=0, lt=1)
    """Probability threshold at which precision and recall are measured."""
    per_tag: dict[str, TagGatesSpec] = Field(default_factory=dict)
    """Gates of single tags, keyed by tag name."""
    no_regression: bool = False
    """Refuse an iteration whose precision, recall or AP is below the published iteration's."""
    regression_tolerance: Number = Field(default=0.0, ge=0, le=1)
    """How far below the published iteration a metric may fall under no_regression."""


class PublishSpec(_Model):
    """Publish the trained iteration for prediction."""

    name: str = Field(min_length=1, max_length=NAME_MAX)
    """Publish name that prediction clients use."""
    prediction_resource: str | None = None
    """Full ARM id of the prediction resource (/subscriptions/.../providers/
    Microsoft.CognitiveServices/accounts/NAME), or the name of a prediction resource of the
    `resources` section; null or empty: the section's first prediction resource, else the one
    in the environment (on the built-in emulator, its own)."""
    keep: Count = Field(default=3, ge=1, le=20)
    """How many iterations to keep (oldest unpublished ones are deleted first)."""

    @field_validator("prediction_resource")
    @classmethod
    def _arm_id(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None  # `${CVSPEC_PREDICTION_RESOURCE_ID:-}`: from the environment, if any
        if value is not None and not (_ARM_ACCOUNT.fullmatch(value) or _NAME.fullmatch(value)):
            raise ValueError(
                "must be the prediction resource's full ARM id (/subscriptions/SUB/"
                "resourceGroups/RG/providers/Microsoft.CognitiveServices/accounts/NAME) or the "
                f"name of one in the resources section, not {value!r}"
            )
        return value


class PruneSpec(_Model):
    """Delete what the spec no longer lists."""

    tags: bool = False
    """Delete tags of the project that the spec does not list."""
    images: bool = False
    """Delete images of the project that the spec does not list."""
    unmanaged_images: bool = False
    """Also delete images that cvspec did not upload (added in the portal or by other
    programs). Off by default: without it cvspec never deletes what it does not own."""


class Spec(_Model):
    """A cvspec spec: the desired state of one Custom Vision classification project."""

    version: Annotated[Literal[1], BeforeValidator(_not_boolean)] = 1
    """Version of the spec format."""
    tier: Literal["S0", "F0"] = "S0"
    """Pricing tier of the training resource; sets the tag and image limits checked offline."""
    project: ProjectSpec
    """The project."""
    tags: list[TagSpec] = Field(default_factory=list)
    """Every tag of the project."""
    images: list[ImageSourceSpec] = Field(default_factory=list)
    """Image sources; the same image reached twice merges its tags (multilabel)."""
    exclude: list[Glob] = Field(default_factory=list)
    """Globs (relative to the spec file) of files no source may use."""
    allow_outside: bool = False
    """Allow image paths that leave the spec's directory (through `..` or a symlink)."""
    training: TrainingSpec | None = Field(default_factory=TrainingSpec)
    """Training settings; null means never train."""
    gates: GatesSpec = Field(default_factory=GatesSpec)
    """Quality gates a trained iteration must pass before it is published."""
    publish: PublishSpec | None = None
    """Publish settings; null means do not publish."""
    prune: PruneSpec = Field(default_factory=PruneSpec)
    """What to delete when the spec no longer lists it."""
    protect: bool = False
    """Refuse to destroy or replace the project."""
    resources: ResourcesSpec | None = None
    """The Azure accounts that train and serve the project, resolved (and created) through
    Resource Manager, keys read at run time (docs/resources.md); null: the endpoints and keys
    come from the environment."""
