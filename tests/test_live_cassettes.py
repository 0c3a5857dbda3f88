"""The live reader's reading of the service, pinned offline by recorded HTTP cassettes.

The cassettes in tests/cassettes/test_live_cassettes/ were recorded from the emulator, with
the example spec applied and then changed by hand as a portal user would (two images
uploaded outside cvspec, a tag added). By default they are replayed with the network
blocked: the reader talks to https://emulator.invalid and vcrpy answers. To re-record,
see tests/cassettes/README.md.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image

from cvspec import live as live_module
from cvspec import sdk
from cvspec.desired import desired_state
from cvspec.diff import diff
from cvspec.identity import hash_key, iteration_fingerprint
from cvspec.live import LiveState, read_live
from cvspec.plan import DriftKind
from cvspec.service import Service, Settings, make_service
from cvspec.spec import load_and_validate
from tests.conftest import PLACEHOLDER
from tests.helpers import copy_example

CASSETTES = Path(__file__).parent / "cassettes" / "test_live_cassettes"
PROJECT = "digits-example"
SMALL_PAGE = 10  # 26 images read in 3 pages, so that paging is pinned with a small cassette


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_example(tmp_path_factory.mktemp("recorded"))


@pytest.fixture(scope="module")
def service(request: pytest.FixtureRequest, spec: Path) -> Iterator[Service]:
    """Replaying: a client of the placeholder host. Recording: a seeded real emulator."""
    if request.config.getoption("--record-mode") == "none":
        replayed = make_service(Settings(PLACEHOLDER, "replayed-key"), target="recorded")
        sdk.configure(replayed.endpoint, rate=10_000)
        yield replayed
        return
    from cvspec.emulator.server import EmulatorServer

    with EmulatorServer(data_dir=spec.parent / "emulator") as server:
        seeded = _seed(server, spec)
        sdk.configure(seeded.endpoint, rate=10_000)
        yield seeded


def _seed(server: object, spec: Path) -> Service:
    """Apply the example spec, then change the project by hand as a portal user would."""
    from cvspec.cli import main

    env = {
        "CVSPEC_TRAINING_ENDPOINT": server.training_endpoint,  # type: ignore[attr-defined]
        "CVSPEC_TRAINING_KEY": server.training_key,  # type: ignore[attr-defined]
        "CVSPEC_PREDICTION_RESOURCE_ID": server.prediction_resource_id,  # type: ignore[attr-defined]
    }
    result = CliRunner().invoke(main, ["apply", str(spec), "--auto-approve"], env=env)
    assert result.exit_code == 0, result.output
    service = make_service(
        Settings(server.training_endpoint, server.training_key),  # type: ignore[attr-defined]
        target="emulator",
    )
    client = service.training
    project = next(p for p in client.get_projects() if p.name == PROJECT)
    portal_tag = client.create_tag(project.id, "portal-tag")
    for n, tag_ids in ((1, [portal_tag.id]), (2, None)):
        client.create_images_from_data(project.id, _png(n), tag_ids=tag_ids)
    return service


def _png(n: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (40 * n, 200, 255 - 40 * n)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The operations the live reader calls, in order."""
    calls: list[str] = []
    original = live_module.call

    def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(fn, "__name__", "?"))
        return original(fn, *args, **kwargs)

    monkeypatch.setattr(live_module, "call", call)
    return calls


@pytest.mark.vcr
@pytest.mark.block_network
def test_read_live_of_an_applied_and_hand_edited_project(
    service: Service, spec: Path, counted: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_module, "PAGE", SMALL_PAGE)
    state = read_live(service, PROJECT)

    assert counted == [
        "get_domains",
        "get_projects",
        "get_tags",
        *["get_images"] * 3,
        "get_iterations",
    ]
    assert state.project is not None
    assert (state.project.name, state.project.classification_type) == (PROJECT, "Multiclass")
    assert [t.name for t in state.tags] == ["one", "portal-tag", "seven", "zero"]
    assert {t.name: t.image_count for t in state.tags} == {
        "one": 8,
        "portal-tag": 1,
        "seven": 8,
        "zero": 8,
    }
    _assert_images(state, spec)
    (iteration,) = state.iterations
    assert iteration.status == "Completed"
    assert iteration.publish_name == "digits-latest"
    assert iteration_fingerprint(iteration.name) is not None


def _assert_images(state: LiveState, spec: Path) -> None:
    files = {
        hash_key(hashlib.sha256(f.read_bytes()).hexdigest()): f.parent.name
        for f in sorted((spec.parent / "digits").glob("*/*.png"))
    }
    managed = {i.hash_key: i.tags for i in state.images if i.hash_key}
    assert managed == {key: (tag,) for key, tag in files.items()}
    unmanaged = sorted(i.tags for i in state.images if i.hash_key is None)
    assert unmanaged == [(), ("portal-tag",)]
    assert len({i.id for i in state.images}) == len(state.images) == 26


@pytest.mark.vcr
@pytest.mark.block_network
def test_plan_from_the_recording_is_a_no_op_that_shows_the_hand_edits(
    service: Service, spec: Path
) -> None:
    state = read_live(service, PROJECT)
    published = state.iterations[0].prediction_resource_id
    plan = diff(desired_state(load_and_validate(spec), published), state)

    assert plan.is_empty()
    assert [(d.kind, d.address, d.counts) for d in plan.drift] == [
        (DriftKind.UNLISTED_TAG, "tag.portal-tag", ()),
        (DriftKind.UNMANAGED_UNTAGGED, "images", (("(untagged)", 1),)),
        (DriftKind.UNMANAGED_IMAGES, "images", (("portal-tag", 1),)),
    ]


@pytest.mark.vcr
@pytest.mark.block_network
def test_read_live_of_a_missing_project(service: Service, counted: list[str]) -> None:
    state = read_live(service, "no-such-project")
    assert state.project is None and state.images == ()
    assert "General" in {d.name for d in state.domains if d.type == "Classification"}
    assert counted == ["get_domains", "get_projects"]


def test_cassettes_hold_no_keys_and_no_real_hosts() -> None:
    cassettes = sorted(CASSETTES.glob("*.yaml"))
    assert len(cassettes) == 3
    for cassette in cassettes:
        text = cassette.read_text()
        assert not re.search(r"(?i)(training|prediction)-key", text), cassette.name
        assert not re.search(r"127\.0\.0\.1|localhost|\.azure\.com|cognitiveservices\.azure", text)
        assert f"uri: {PLACEHOLDER}/customvision/" in text, cassette.name
