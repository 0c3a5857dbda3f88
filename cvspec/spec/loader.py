"""Read a spec file: YAML to a validated Spec, with every problem located by line and field."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

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
    spec = _validate(data, document, found, skip={loc for loc, _ in secrets + missing})
    if spec is not None:
        found += [(loc, msg, False) for loc, msg in check_spec(spec)]
    if found or spec is None:
        raise SpecError(_render(found, locator))
    return LoadedSpec(spec, locator)


MAX_SPEC_BYTES = 1024 * 1024
"""Largest spec file (1 MiB): bounds the time and memory of parsing it. Long lists of
images belong in manifests, which are read line by line."""


def _parse(path: Path) -> Document:
    try:
        text = _read_text(path)
    except OSError as exc:
        raise SpecError([f"{display_path(path)}: cannot read spec: {exc.strerror}"]) from None
    try:
        document = parse_yaml(text)
    except YamlSyntaxError as exc:
        where = f"{display_path(path)}:{exc.position.line}:{exc.position.column}"
        raise SpecError([f"{where}: {exc.message}"]) from None
    if document.data is None:
        raise SpecError([f"{display_path(path)}:1:1: (root): the spec is empty"])
    return document


def _read_text(path: Path) -> str:
    """The spec's text; SpecError when it is too large or not UTF-8 (naming the line)."""
    with path.open("rb") as stream:
        data = stream.read(MAX_SPEC_BYTES + 1)
        if len(data) > MAX_SPEC_BYTES:
            stream.seek(0)
            raise SpecError([_too_large(path, stream)])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        column = len(data[line_start : exc.start].decode("utf-8", errors="replace")) + 1
        raise SpecError(
            [
                f"{display_path(path)}:{line}:{column}: spec is not UTF-8 text: byte "
                f"0x{data[exc.start]:02x} at offset {exc.start} ({exc.reason}); "
                "save the file as UTF-8"
            ]
        ) from None


def _too_large(path: Path, stream: BinaryIO) -> str:
    """The problem of a spec over MAX_SPEC_BYTES, naming its longest line (read in chunks,
    at most 64 MiB of it: the spec may be /dev/zero)."""
    size = line = longest_line = longest = current = 0
    while size < 64 * 1024 * 1024 and (chunk := stream.read(1024 * 1024)):
        size += len(chunk)
        for piece in chunk.split(b"\n")[:-1]:
            current += len(piece)
            line += 1
            if current > longest:
                longest, longest_line = current, line
            current = 0
        current += len(chunk) - chunk.rfind(b"\n") - 1
    if current > longest:
        longest, longest_line = current, line + 1
    more = "more than " if stream.read(1) else ""
    total = f"{more}{size:,}"
    return (
        f"{display_path(path)}:{longest_line}:1: spec is {total} bytes, over the "
        f"{MAX_SPEC_BYTES:,}-byte limit (line {longest_line} alone is {more}{longest:,} bytes)"
    )


def _validate(
    data: Any, document: Document, found: list[tuple[Loc, str, bool]], skip: set[Loc]
) -> Spec | None:
    """The Spec, or None with its errors added to `found` (except those at `skip`)."""
    try:
        return Spec.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            message, at_key = describe_error(error)
            loc = tuple(error["loc"])
            message = _unquoted_hint(error["type"], document.unquoted.get(loc), message)
            if loc[-1:] == ("[key]",) and loc[:-1] in document.unquoted_keys:
                text = document.unquoted_keys[loc[:-1]]  # `per_tag: {no: ...}`
                loc, at_key = (*loc[:-2], text), True
                message = f'key {text} is read by YAML as {_read_as(text)}; quote it: "{text}"'
            if loc not in skip or error["type"] == "extra_forbidden":
                found.append((loc, message, at_key))
        return None


def _unquoted_hint(kind: str, unquoted: tuple[str, str] | None, message: str) -> str:
    """`keep: yes`, `name: no`: say what YAML made of the unquoted text, and how to fix it."""
    if unquoted is None:
        return message
    text, read_as = unquoted
    if kind == "number_not_boolean":
        if text.lower() in ("true", "false"):
            return f"should be a number, got the boolean {text}"
        return f"should be a number, got {text} (YAML 1.1 reads an unquoted {text} as a boolean)"
    if kind == "string_type":
        return (
            f"should be text, got {text}, which YAML reads as {read_as}; "
            f'quote it if you mean the text: "{text}"'
        )
    expected = message.rsplit(", got ", 1)[0]
    if kind == "literal_error" and "'" in expected:  # `type: no` where a word is expected
        return f"{expected}, got {text}, which YAML reads as {read_as}"
    return message


def _read_as(text: str) -> str:
    return "a boolean" if text.lower() in _BOOLEAN_WORDS else "a number"


_BOOLEAN_WORDS = {"y", "n", "yes", "no", "true", "false", "on", "off"}


def _render(found: list[tuple[Loc, str, bool]], locator: Locator) -> list[str]:
    ordered = sorted(found, key=lambda item: locator.sort_key(item[0], at_key=item[2]))
    lines = [
        locator.problem(loc, _bounded(message), at_key=at_key) for loc, message, at_key in ordered
    ]
    return list(dict.fromkeys(lines))


MAX_MESSAGE = 500
"""Longest problem message: a validator that quotes a value (a URL, an email address) must
not print a megabyte of it."""


def _bounded(message: str) -> str:
    if len(message) <= MAX_MESSAGE:
        return message
    return f"{message[: MAX_MESSAGE - 40]}... (cut short: {len(message):,} characters)"
