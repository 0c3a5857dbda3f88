"""The opt-in call recorder (cvspec.emulator.recorder): what reached the service and
changed something, named by Swagger operationId, with ids, query and compact bodies."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from azure.cognitiveservices.vision.customvision.training.models import (
    CustomVisionErrorException,
    ImageFileCreateBatch,
    ImageFileCreateEntry,
)

from cvspec.emulator.faults import FaultConfig
from cvspec.emulator.server import EmulatorServer

from .support import make_image, training_client


def test_off_by_default(tmp_path: Path) -> None:
    with EmulatorServer(tmp_path) as server:
        assert server.recorder is None
        training_client(server).create_project("unrecorded")


def test_records_each_mutating_call_by_operation_id(tmp_path: Path) -> None:
    data = make_image()
    with EmulatorServer(tmp_path, record=True) as server:
        assert server.recorder is not None
        client = training_client(server)
        project = client.create_project("recorded")
        tag = client.create_tag(project.id, "cat")
        entry = ImageFileCreateEntry(name="a.png", contents=bytearray(data), tag_ids=[tag.id])
        created = client.create_images_from_files(project.id, ImageFileCreateBatch(images=[entry]))
        image_id = created.images[0].image.id
        client.get_images(project.id)  # a read: not recorded
        client.delete_images(project.id, image_ids=[image_id])
        calls = server.recorder.take()
        assert server.recorder.calls() == []  # take() empties the log
    assert [c.operation for c in calls] == [
        "CreateProject",
        "CreateTag",
        "CreateImagesFromFiles",
        "DeleteImages",
    ]
    create_project, create_tag, upload, delete = calls
    assert create_project.param("name") == "recorded" and create_project.ok
    assert create_tag.param("projectId") == project.id and create_tag.response["id"] == tag.id
    (uploaded,) = upload.body["images"]
    assert uploaded["contents"] == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert uploaded["tagIds"] == [tag.id]
    assert upload.response["images"][0]["image"]["id"] == image_id
    assert delete.method == "DELETE" and delete.ids("imageIds") == [image_id.lower()]
    assert [c.seq for c in calls] == sorted(c.seq for c in calls)


def test_refused_calls_are_recorded_with_their_status(tmp_path: Path) -> None:
    with EmulatorServer(tmp_path, record=True) as server:
        client = training_client(server)
        project = client.create_project("refusals")
        with pytest.raises(CustomVisionErrorException):
            client.create_tag(project.id, "")
        (refused,) = server.recorder.take()[1:]  # type: ignore[union-attr]
    assert refused.operation == "CreateTag" and refused.status == 400 and not refused.ok


def test_injected_faults_never_reach_the_log(tmp_path: Path) -> None:
    with EmulatorServer(tmp_path, record=True) as server:
        client = training_client(server)
        server.set_faults(FaultConfig(rate=1.0, kinds=("503",)))
        with pytest.raises(CustomVisionErrorException):
            client.create_project("never")
        server.set_faults(None)
        client.create_project("once")
        calls = server.recorder.take()  # type: ignore[union-attr]
    assert [(c.operation, c.param("name")) for c in calls] == [("CreateProject", "once")]
