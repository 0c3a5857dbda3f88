"""Read a spec file: YAML to a validated Spec, with every problem located by line and field."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cvspec.errors import SpecError
from cvspec.spec.checks import check_images, check_spec
from cvspec.spec.credentials import find_literal_credentials
from cvspec.spec.images import ResolvedImage, resolve_sources
from cvspec.spec.interpolation import interpolate
from cvspec.spec.model import Spec
from cvspec.spec.problems import Locator, display_path
from cvspec.spec.pydantic_errors import describe_error
from cvspec.spec.yamldoc import Document, Loc, YamlSyntaxError, parse_yaml


@dataclass(frozen=True)
class LoadedSpec:
    """A spec that passed the schema checks, and where its parts were written."""

    spec: Spec
    locator: Locator


@dataclass(frozen=True)
class ValidatedSpec:
    """A spec that passed every offline check, with its images resolved and hashed."""

    path: Path
    spec: Spec
    images: tuple[ResolvedImage, ...]
    """Every image, sorted by sha256."""

    @property
    def base_dir(self) -> Path:
        """The spec's directory: image paths are relative to it."""
        return self.path.parent


def load_spec(path: Path, environ: Mapping[str, str] | None = None) -> Spec:
    """Parse and validate the spec at `path` (no image files read); raise SpecError."""
    return read_spec(path, environ).spec


def load_and_validate(
    path: Path, environ: Mapping[str, str] | None = None, *, use_cache: bool = True
) -> ValidatedSpec:
    """Load the spec, resolve and check its images, run every offline check.

    Raises:
        SpecError: with every problem found, one line each.
    """
    loaded = read_spec(path, environ)
    resolution = resolve_sources(loaded.spec, path.parent, loaded.locator, use_cache=use_cache)
    problems = resolution.problems + check_images(loaded.spec, resolution, loaded.locator)
    if problems:
        raise SpecError(problems)
    return ValidatedSpec(path=path, spec=loaded.spec, images=resolution.images)


def read_spec(path: Path, environ: Mapping[str, str] | None = None) -> LoadedSpec:
    """The spec and its locator; raise SpecError listing every problem of the file."""
    document = _parse(path)
    locator = Locator(path, document)
    found: list[tuple[Loc, str, bool]] = [
        (loc, f"duplicate key {loc[-1]!r} (first on line {line})", True)
        for loc, line in document.duplicate_keys
    ]
    secrets = find_literal_credentials(document.data)
    data, missing = interpolate(document.data, os.environ if environ is None else environ)
    found += [(loc, msg, False) for loc, msg in secrets + missing]
    # No second message about a value that holds a secret (it would echo it) or an unset var.
    spec = _validate(data, found, skip={loc for loc, _ in secrets + missing})
    if spec is not None:
        found += [(loc, msg, False) for loc, msg in check_spec(spec)]
    if found or spec is None:
        raise SpecError(_render(found, locator))
    return LoadedSpec(spec, locator)


def _parse(path: Path) -> Document:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([f"{display_path(path)}: cannot read spec: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise SpecError([f"{display_path(path)}: spec is not UTF-8 text"]) from None
    try:
        document = parse_yaml(text)
    except YamlSyntaxError as exc:
        where = f"{display_path(path)}:{exc.position.line}:{exc.position.column}"
        raise SpecError([f"{where}: {exc.message}"]) from None
    if document.data is None:
        raise SpecError([f"{display_path(path)}:1:1: (root): the spec is empty"])
    return document


def _validate(data: Any, found: list[tuple[Loc, str, bool]], skip: set[Loc]) -> Spec | None:
    """The Spec, or None with its errors added to `found` (except those at `skip`)."""
    try:
        return Spec.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            message, at_key = describe_error(error)
            if tuple(error["loc"]) not in skip or error["type"] == "extra_forbidden":
                found.append((tuple(error["loc"]), message, at_key))
        return None


def _render(found: list[tuple[Loc, str, bool]], locator: Locator) -> list[str]:
    ordered = sorted(found, key=lambda item: locator.sort_key(item[0], at_key=item[2]))
    lines = [locator.problem(loc, message, at_key=at_key) for loc, message, at_key in ordered]
    return list(dict.fromkeys(lines))
