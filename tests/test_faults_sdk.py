"""cvspec.sdk.call against a faulty emulator: every HTTP method is retried through 429s,
503s and dropped connections (the SDK itself retries no POST or PATCH), a non-transient
refusal is not retried, and a file argument is sent again from its start."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.cognitiveservices.vision.customvision.training import models as m

from cvspec import sdk
from cvspec.emulator.faults import FaultConfig
from cvspec.errors import ServiceError
from tests.apply_support import Emulator, emulator, png

REASON = {"429": "429", "503": "503", "drop": "connection"}


@pytest.fixture(params=["429", "503", "drop"])
def faulty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Emulator, str]]:
    kind = str(request.param)
    faults = FaultConfig(rate=0.4, kinds=(kind,), seed=11, retry_after_seconds=0)
    with emulator(tmp_path, faults=faults) as emu:
        yield emu, kind


def test_every_method_is_retried_through_faults(faulty: tuple[Emulator, str]) -> None:
    emu, kind = faulty
    policy = sdk.configure(emu.service.endpoint, rate=1000)
    client = emu.service.training
    call = sdk.call
    project = call(client.create_project, "retries")  # POST
    for n in range(6):
        tag = call(client.create_tag, project.id, f"t{n}")  # POST
        tag = call(  # PATCH
            client.update_tag,
            project.id,
            tag.id,
            m.Tag(name=f"t{n}", description="d", type="Regular"),
        )
        assert call(client.get_tag, project.id, tag.id).description == "d"  # GET
    for tag in call(client.get_tags, project.id)[:3]:
        call(client.delete_tag, project.id, tag.id)  # DELETE
    assert len(call(client.get_tags, project.id)) == 3
    assert policy.stats.retries[REASON[kind]] >= 3


def test_a_file_argument_is_resent_from_its_start(faulty: tuple[Emulator, str]) -> None:
    emu, _ = faulty
    sdk.configure(emu.service.endpoint, rate=1000)
    client = emu.service.training
    project = sdk.call(client.create_project, "rewind")
    images = [png(seed, size=32) for seed in range(8)]
    for data in images:  # multipart uploads: a retry must not send an emptied stream
        summary = sdk.call(client.create_images_from_data, project.id, io.BytesIO(data))
        assert summary.images[0].status in ("OK", "OKDuplicate")
    listed = sdk.call(client.get_images, project.id, take=50)
    assert len(listed) == len(images)


def test_a_refusal_is_not_retried(tmp_path: Path) -> None:
    with emulator(tmp_path) as emu:
        policy = sdk.configure(emu.service.endpoint, rate=1000)
        with pytest.raises(ServiceError) as refused:
            sdk.call(emu.service.training.get_project, "00000000-0000-0000-0000-000000000000")
        assert refused.value.status == 404 and refused.value.code
        assert policy.stats.total_calls == 1 and not policy.stats.retries
