"""Label manifests: CSV (`path`, `tags` columns, tags separated by `;`) or JSONL
(`{"path": "...", "tags": ["..."]}` per line). Paths are relative to the manifest."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from typing import Any

from cvspec.spec.problems import file_problem

MANIFEST_SUFFIXES = (".csv", ".jsonl")
TAG_SEPARATOR = ";"


@dataclass(frozen=True)
class ManifestRow:
    """One image of a manifest: its path as written, its tags and its line."""

    path: str
    tags: tuple[str, ...]
    line: int


def read_manifest(path: str) -> tuple[list[ManifestRow], list[str]]:
    """The rows of a manifest and the problems of its lines. Raises OSError."""
    # utf-8-sig: Excel and Notepad start UTF-8 files with a byte-order mark
    with open(path, encoding="utf-8-sig", newline="") as file:
        text = file.read()
    if path.lower().endswith(".csv"):
        return _read_csv(path, text)
    return _read_jsonl(path, text)


def _read_csv(path: str, text: str) -> tuple[list[ManifestRow], list[str]]:
    reader = csv.DictReader(text.splitlines(keepends=True))
    columns = [name.strip() for name in reader.fieldnames or []]  # `path, tags` too
    reader.fieldnames = columns
    if "path" not in columns:
        shown = ", ".join(columns) or "none"
        return [], [file_problem(path, f"needs a 'path' column (columns: {shown})", 1)]
    rows, problems = [], []
    for record in reader:
        line = reader.line_num
        image = (record.get("path") or "").strip()
        if not image:
            problems.append(file_problem(path, "empty path", line))
            continue
        tags = [t.strip() for t in (record.get("tags") or "").split(TAG_SEPARATOR)]
        rows.append(ManifestRow(image, tuple(t for t in tags if t), line))
    return rows, problems


def _read_jsonl(path: str, text: str) -> tuple[list[ManifestRow], list[str]]:
    rows, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(_jsonl_row(json.loads(line), number))
        except json.JSONDecodeError as exc:
            problems.append(file_problem(path, f"invalid JSON: {exc.msg}", number))
        except ValueError as exc:
            problems.append(file_problem(path, str(exc), number))
    return rows, problems


def _jsonl_row(record: Any, line: int) -> ManifestRow:
    if not isinstance(record, dict):
        raise ValueError('expected an object like {"path": "a.jpg", "tags": ["cat"]}')
    unknown = sorted(set(record) - {"path", "tags"})
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r}; allowed keys: path, tags")
    image, tags = record.get("path"), record.get("tags", [])
    if not isinstance(image, str) or not image.strip():
        raise ValueError("'path' must be a non-empty string")
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
        raise ValueError("'tags' must be a list of non-empty strings")
    return ManifestRow(image.strip(), tuple(t.strip() for t in tags), line)
