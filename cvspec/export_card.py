"""The exported dataset's card (README.md for people, dataset.json for programs) and the
spec that rebuilds the project from the exported folder (pure: text in, text out)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from cvspec.export_layout import (
    CHECKSUMS,
    IMAGEFOLDER_DIR,
    MANIFEST_CSV,
    MANIFEST_JSONL,
    SPEC_FILE,
    SPEC_LABELS,
    StoredImage,
    has_folders,
    needs_spec_labels,
)
from cvspec.export_models import ModelExport
from cvspec.gates import Evaluation

CARD_VERSION = 1
CARD_JSON = "dataset.json"
CARD_MD = "README.md"


@dataclass(frozen=True)
class CardProject:
    id: str
    name: str
    description: str
    classification: str  # "Multiclass" | "Multilabel"
    domain: str  # the domain's name
    tags: tuple[tuple[str, str], ...]  # (name, "Regular" | "Negative"), sorted by name
    tag_descriptions: tuple[tuple[str, str], ...] = ()  # (name, description), non-empty ones


@dataclass(frozen=True)
class CardIteration:
    name: str
    status: str
    created: str
    publish_name: str
    evaluation: Evaluation | None


@dataclass(frozen=True)
class Card:
    project: CardProject
    images: tuple[StoredImage, ...]
    missing: tuple[tuple[str, str], ...]  # images that could not be downloaded (id, reason)
    iterations: tuple[CardIteration, ...]
    models: tuple[ModelExport, ...]
    exported_at: str

    def counts(self) -> dict[str, int]:
        """Images per tag (every tag, zero included), sorted by tag name."""
        found = Counter(t for s in self.images for t in s.image.tags)
        return {name: found[name] for name, _ in self.project.tags}

    @property
    def untagged(self) -> int:
        return sum(1 for s in self.images if not s.image.tags)


def card_document(card: Card) -> dict[str, Any]:
    """dataset.json (documented in docs/export.md)."""
    p = card.project
    return {
        "format_version": CARD_VERSION,
        "exported_at": card.exported_at,
        "project": {
            "id": p.id,
            "name": p.name,
            "description": p.description,
            "classification": p.classification,
            "domain": p.domain,
        },
        "tags": [
            {"name": name, "type": kind, "images": card.counts()[name]} for name, kind in p.tags
        ],
        "images": {
            "total": len(card.images),
            "untagged": card.untagged,
            "in_imagefolder": sum(1 for s in card.images if s.folder_path),
            "missing": [{"id": i, "reason": r} for i, r in card.missing],
        },
        "files": {
            "manifest_csv": MANIFEST_CSV,
            "manifest_jsonl": MANIFEST_JSONL,
            "imagefolder": IMAGEFOLDER_DIR,
            "spec": SPEC_FILE,
            "checksums": CHECKSUMS,
        },
        "iterations": [_iteration(i) for i in card.iterations],
        "models": [
            {
                "iteration": m.iteration,
                "platform": m.platform,
                "status": m.status,
                "path": m.path,
                "note": m.note,
            }
            for m in card.models
        ],
    }


def _iteration(it: CardIteration) -> dict[str, Any]:
    ev = it.evaluation
    return {
        "name": it.name,
        "status": it.status,
        "created": it.created,
        "published_as": it.publish_name or None,
        "evaluation": None if ev is None else {"threshold": ev.threshold, **ev.document()},
    }


def card_json(card: Card) -> str:
    return json.dumps(card_document(card), indent=2, ensure_ascii=False) + "\n"


def card_markdown(card: Card) -> str:
    """README.md: what the folder holds, counts per tag, every iteration's evaluation."""
    p = card.project
    lines = [
        f"# {p.name}",
        "",
        p.description or "(no description)",
        "",
        f"Exported by cvspec from Custom Vision project `{p.id}` on {card.exported_at}: "
        f"{p.classification.lower()} image classification, domain {p.domain}, "
        f"{len(card.images)} images.",
        "",
        "## Files",
        "",
        "| path | what |",
        "|---|---|",
        "| `images/` | every image once, named by its Custom Vision id |",
        f"| `{IMAGEFOLDER_DIR}/<tag>/` | images with exactly one tag (ImageFolder layout) |",
        f"| `{MANIFEST_CSV}` | every image: path, tags (`;`-separated), id, sha256, size |",
        f"| `{MANIFEST_JSONL}` | the same, one JSON object a line (tags as a list) |",
        f"| `{SPEC_FILE}` | a cvspec spec that rebuilds the project from this folder |",
        f"| `{CARD_JSON}` | this card for programs |",
        f"| `{CHECKSUMS}` | SHA-256 of every file (`sha256sum -c {CHECKSUMS}`) |",
        "",
        "## Tags",
        "",
        "| tag | type | images |",
        "|---|---|---:|",
    ]
    counts = card.counts()
    lines += [f"| {_cell(name)} | {kind.lower()} | {counts[name]} |" for name, kind in p.tags]
    lines += [f"| (untagged) | | {card.untagged} |", ""]
    if card.missing:
        lines += [f"{len(card.missing)} image(s) could not be downloaded and are missing:", ""]
        lines += [f"- `{i}`: {r}" for i, r in card.missing] + [""]
    lines += _iteration_lines(card.iterations) + _model_lines(card.models)
    return "\n".join(lines).rstrip() + "\n"


def _iteration_lines(iterations: Sequence[CardIteration]) -> list[str]:
    lines = ["## Iterations", ""]
    if not iterations:
        return [*lines, "None.", ""]
    lines += [
        "| iteration | status | published as | precision | recall | AP |",
        "|---|---|---|---:|---:|---:|",
    ]
    for it in iterations:
        ev = it.evaluation
        figures = (
            ("-", "-", "-")
            if ev is None
            else tuple(
                f"{v:.1%}"
                for v in (ev.overall.precision, ev.overall.recall, ev.overall.average_precision)
            )
        )
        lines.append(
            f"| {_cell(it.name)} | {it.status} | {_cell(it.publish_name) or '-'} | "
            + " | ".join(figures)
            + " |"
        )
    lines.append("")
    for it in iterations:
        if it.evaluation is not None and it.evaluation.per_tag:
            lines += [f"Per tag, {_cell(it.name)} (threshold {it.evaluation.threshold:g}):", ""]
            lines += ["| tag | precision | recall | AP |", "|---|---:|---:|---:|"]
            lines += [
                f"| {_cell(n)} | {m.precision:.1%} | {m.recall:.1%} | {m.average_precision:.1%} |"
                for n, m in it.evaluation.per_tag
            ]
            lines.append("")
    return lines


def _model_lines(models: Sequence[ModelExport]) -> list[str]:
    if not models:
        return []
    lines = ["## Models", "", "| iteration | platform | status | file |", "|---|---|---|---|"]
    for m in models:
        where = f"`{m.path}`" if m.path else m.note
        lines.append(f"| {_cell(m.iteration)} | {m.platform} | {m.status} | {_cell(where)} |")
    return [*lines, ""]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def spec_yaml(card: Card) -> str:
    """A spec over this folder: `cvspec apply` of it rebuilds the project's tags and images
    (training off: a new resource trains when the spec says so)."""
    p = card.project
    tags: list[dict[str, Any]] = []
    descriptions = dict(p.tag_descriptions)
    for name, kind in p.tags:
        tag: dict[str, Any] = {"name": name}
        if descriptions.get(name):
            tag["description"] = descriptions[name]
        if kind == "Negative":
            tag["type"] = "negative"
        tags.append(tag)
    sources: list[dict[str, Any]] = []
    if has_folders(card.images):
        sources.append({"path": IMAGEFOLDER_DIR + "/{tag}/*"})
    if needs_spec_labels(card.images):
        sources.append({"manifest": SPEC_LABELS})
    document: dict[str, Any] = {
        "version": 1,
        "project": {
            "name": p.name,
            "description": p.description,
            "classification": p.classification.lower(),
            "domain": p.domain,
        },
        "tags": tags,
        "images": sources,
        "training": None,
    }
    header = (
        f"# Written by `cvspec export` from project {p.id}. `cvspec apply` rebuilds its tags\n"
        "# and images on the service the environment names. Untagged images are in\n"
        f"# {MANIFEST_CSV} but not here (a spec uploads tagged images). To train, replace\n"
        "# `training: null` with `training: {}` (and add `publish:` to publish).\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
