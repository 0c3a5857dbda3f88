"""Read a spec file: YAML to a validated Spec, with errors naming file, line and field."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cvspec.errors import SpecError
from cvspec.spec.images import ResolvedImage, resolve_images
from cvspec.spec.model import Spec


def load_spec(path: Path) -> Spec:
    """Parse and validate the spec at `path`; raise SpecError listing every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([f"{path}: cannot read spec: {exc.strerror}"]) from None
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError([f"{path}: invalid YAML: {exc}"]) from None
    try:
        return Spec.model_validate(data)
    except ValidationError as exc:
        raise SpecError([_describe(path, err) for err in exc.errors()]) from None


def _describe(path: Path, err: Any) -> str:
    field = ".".join(str(p) for p in err["loc"]) or "(root)"
    return f"{path}: {field}: {err['msg']}"


@dataclass(frozen=True)
class ValidatedSpec:
    """A spec that passed every offline check, with its images resolved and hashed."""

    path: Path
    spec: Spec
    images: tuple[ResolvedImage, ...]

    @property
    def base_dir(self) -> Path:
        return self.path.parent


def load_and_validate(path: Path) -> ValidatedSpec:
    """Load the spec, resolve its images and run the offline checks; raise SpecError."""
    spec = load_spec(path)
    images = resolve_images(spec, path.parent)
    return ValidatedSpec(path=path, spec=spec, images=tuple(images))
