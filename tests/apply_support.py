"""Support for the applier's tests: small generated images, specs written from a model, an
emulator served from the test process, and an independent read of what the service holds.

The emulator runs here, in the test process, and cvspec runs as a user runs it (a CLI
subprocess, or click's CliRunner) pointed at it through the CVSPEC_* environment. Killing
the cvspec process therefore leaves the "service" alive, as a real one would be.
"""

from __future__ import annotations

import hashlib
import io
import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from PIL import Image

from cvspec.emulator.faults import FaultConfig
from cvspec.emulator.server import EmulatorServer
from cvspec.identity import decode_identity, hash_key
from cvspec.sdk import call
from cvspec.service import Service, Settings, make_service
from tests.helpers import emulator_env

PAGE = 256


def png(seed: int, size: int = 24, hue: int | None = None) -> bytes:
    """A small PNG, different for every seed; `hue` biases its colour (learnable by tag)."""
    rng = random.Random(seed)
    base = hue if hue is not None else rng.randrange(256)
    image = Image.new("RGB", (size, size))
    pixels = [
        ((base + rng.randrange(40)) % 256, rng.randrange(256), (255 - base) % 256)
        for _ in range(size * size)
    ]
    image.putdata(pixels)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@dataclass
class SpecModel:
    """A spec as data: tags, and image files by tag (multiclass, one tag per image)."""

    name: str = "apply-test"
    tags: dict[str, str] = field(default_factory=dict)  # name -> description
    images: dict[str, list[int]] = field(default_factory=dict)  # tag -> image seeds
    training: bool = True
    publish: str | None = "latest"
    keep: int = 3
    gates: dict[str, Any] = field(default_factory=dict)
    prune: bool = True
    protect: bool = False
    description: str = ""
    learnable: bool = False  # colour images by tag, so that training learns something

    def write(self, root: Path) -> Path:
        """Write the images and the spec under `root`; returns the spec's path."""
        images = root / "images"
        for tag, seeds in self.images.items():
            folder = images / tag
            folder.mkdir(parents=True, exist_ok=True)
            wanted = {f"{seed}.png" for seed in seeds}
            for stale in folder.glob("*.png"):
                if stale.name not in wanted:
                    stale.unlink()
            for seed in seeds:
                target = folder / f"{seed}.png"
                if not target.exists():
                    target.write_bytes(self.image(tag, seed))
        if images.exists():
            for folder in images.iterdir():
                if folder.name not in self.images:
                    for stale in folder.glob("*.png"):
                        stale.unlink()
        doc: dict[str, Any] = {
            "version": 1,
            "project": {"name": self.name, "description": self.description},
            "tags": [{"name": n, "description": d} for n, d in sorted(self.tags.items())],
            "images": [{"path": "images/{tag}/*.png"}],
            "training": {"type": "regular"} if self.training else None,
            "gates": self.gates,
            "prune": {"tags": self.prune, "images": self.prune},
            "protect": self.protect,
        }
        if self.publish:
            doc["publish"] = {"name": self.publish, "keep": self.keep}
        path = root / "spec.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    def expected(self) -> dict[str, tuple[str, ...]]:
        """{hash key: tags} of every image the spec lists."""
        return {
            hash_key(hashlib.sha256(self.image(tag, seed)).hexdigest()): (tag,)
            for tag, seeds in self.images.items()
            for seed in seeds
        }

    def image(self, tag: str, seed: int) -> bytes:
        """The bytes of image `seed` under `tag` (the same for every tag unless learnable)."""
        return png(seed, hue=_hue(tag) if self.learnable else None)


def edit_images(model: SpecModel, kind: str, tag: str, seed: int, pick: int) -> bool:
    """Image edits of a spec, shared by the property tests: `add_image` puts `seed` under
    `tag`, `remove_image` drops the `pick`-th image, `retag` moves it under `tag`. Returns
    whether `kind` is one of these (an edit that does not fit the model does nothing)."""
    placed = {s: t for t, seeds in model.images.items() for s in seeds}
    if kind == "add_image" and seed not in placed:
        model.tags.setdefault(tag, "")
        model.images.setdefault(tag, []).append(seed)
    elif kind == "remove_image" and placed:
        victim = sorted(placed)[pick % len(placed)]
        model.images[placed[victim]].remove(victim)
    elif kind == "retag" and placed:
        moved = sorted(placed)[pick % len(placed)]
        model.images[placed[moved]].remove(moved)
        model.tags.setdefault(tag, "")
        model.images.setdefault(tag, []).append(moved)
    return kind in ("add_image", "remove_image", "retag")


def _hue(tag: str) -> int:
    return int(hashlib.sha256(tag.encode()).hexdigest()[:2], 16)


@dataclass
class Emulator:
    server: EmulatorServer
    service: Service

    def env(self, **extra: str) -> dict[str, str]:
        """The environment that points cvspec at this emulator."""
        return {**emulator_env(self.server), **extra}


@contextmanager
def emulator(
    data_dir: Path, faults: FaultConfig | None = None, tps_limit: bool = False, record: bool = False
) -> Iterator[Emulator]:
    server = EmulatorServer(data_dir=data_dir, faults=faults, tps_limit=tps_limit, record=record)
    with server:
        settings = Settings(
            training_endpoint=server.training_endpoint,
            training_key=server.training_key,
            prediction_endpoint=server.prediction_endpoint,
            prediction_key=server.prediction_key,
            prediction_resource_id=server.prediction_resource_id,
        )
        yield Emulator(server, make_service(settings, target="emulator"))


@dataclass(frozen=True)
class Snapshot:
    """What the service holds for one project, read directly through the SDK."""

    project_id: str | None
    tags: tuple[str, ...]
    images: tuple[tuple[str | None, tuple[str, ...]], ...]  # (hash key, tags) per image
    iterations: tuple[tuple[str, str, str], ...]  # (name, status, publish name)

    def managed(self) -> dict[str, tuple[str, ...]]:
        return {key: tags for key, tags in self.images if key}

    def duplicates(self) -> list[str]:
        counts = Counter(key for key, _ in self.images)
        return [str(key) for key, n in counts.items() if n > 1]

    def published(self, name: str) -> list[str]:
        return [it for it, _, pub in self.iterations if pub == name]


def snapshot(service: Service, project_name: str) -> Snapshot:
    """Read the project without cvspec's own reader (so that tests check it independently)."""
    client = service.training  # through sdk.call: the emulator may be injecting faults
    project = next((p for p in call(client.get_projects) if p.name == project_name), None)
    if project is None:
        return Snapshot(None, (), (), ())
    tags = tuple(sorted(t.name for t in call(client.get_tags, project.id)))
    images: list[tuple[str | None, tuple[str, ...]]] = []
    skip = 0
    while True:
        page = call(client.get_images, project.id, take=PAGE, skip=skip)
        for image in page:
            names = tuple(sorted(t.tag_name for t in image.tags or ()))
            images.append((decode_identity(image.id, image.metadata), names))
        if len(page) < PAGE:
            break
        skip += PAGE
    iterations = tuple(
        sorted(
            (i.name, i.status, i.publish_name or "")
            for i in call(client.get_iterations, project.id)
        )
    )
    return Snapshot(project.id, tags, tuple(sorted(images, key=str)), iterations)


def assert_matches(snap: Snapshot, model: SpecModel) -> None:
    """The service holds exactly the spec's images and tags, without duplicates."""
    assert snap.project_id is not None, "the project does not exist"
    assert not snap.duplicates(), f"duplicate images: {snap.duplicates()}"
    unmanaged = [tags for key, tags in snap.images if key is None]
    assert not unmanaged, f"{len(unmanaged)} image(s) without cvspec identity"
    assert snap.managed() == model.expected()
    wanted_tags = set(model.tags) | {t for t, seeds in model.images.items() if seeds}
    assert set(snap.tags) == wanted_tags
