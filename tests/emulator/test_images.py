"""Image uploads, de-duplication, listing, counts, metadata and image tags through the SDK."""

from __future__ import annotations

import base64
import http.server
import io
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.prediction.models import (
    CustomVisionErrorException as PredictionError,
)
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    CustomVisionErrorException,
    ImageFileCreateBatch,
    ImageFileCreateEntry,
    ImageTagCreateEntry,
    ImageUrlCreateBatch,
    ImageUrlCreateEntry,
    Project,
)

from cvspec.emulator.server import EmulatorServer
from tests import badimages

from .support import PALETTE, make_image, service_error, upload

# name -> (bytes, per-image status, request-level code): undecodable pixel data answers
# BadRequestImageFormat, pixel data that ends early BadRequestImageStream (inferred).
BAD_IMAGES: dict[str, tuple[bytes, str, str]] = {
    "png-garbage-idat.png": (
        badimages.png_garbage_idat(),
        "ErrorImageFormat",
        "BadRequestImageFormat",
    ),
    "png-truncated-idat.png": (
        badimages.png_truncated_idat(),
        "ErrorImageFormat",
        "BadRequestImageStream",
    ),
    "jpeg-truncated.jpg": (badimages.jpeg_truncated(), "ErrorImageFormat", "BadRequestImageStream"),
    "jpeg-garbage-scan.jpg": (
        badimages.jpeg_garbage_scan(),
        "ErrorImageFormat",
        "BadRequestImageFormat",
    ),
    "gif-truncated.gif": (badimages.gif_truncated(), "ErrorImageFormat", "BadRequestImageStream"),
    "image.webp": (badimages.webp(), "ErrorImageFormat", "BadRequestImageFormat"),
}


def _files(*images: bytes, tag_ids: list[str] | None = None) -> ImageFileCreateBatch:
    entries = [
        ImageFileCreateEntry(name=f"f{i}.png", contents=bytearray(d)) for i, d in enumerate(images)
    ]
    return ImageFileCreateBatch(images=entries, tag_ids=tag_ids)


def test_create_images_from_files(trainer: CustomVisionTrainingClient, project: Project) -> None:
    tag = trainer.create_tag(project.id, "t")
    summary = trainer.create_images_from_files(
        project.id, _files(make_image(size=(40, 30)), tag_ids=[tag.id])
    )
    assert summary.is_batch_successful
    result = summary.images[0]
    assert (result.source_url, result.status) == ("f0.png", "OK")
    assert (result.image.width, result.image.height) == (40, 30)
    assert [t.tag_id for t in result.image.tags] == [tag.id]
    assert result.image.original_image_uri.startswith("http://127.0.0.1:")


def test_create_images_from_data(trainer: CustomVisionTrainingClient, project: Project) -> None:
    tag = trainer.create_tag(project.id, "t")
    summary = trainer.create_images_from_data(
        project.id, io.BytesIO(make_image(fmt="JPEG")), tag_ids=[tag.id]
    )
    assert summary.is_batch_successful
    assert summary.images[0].status == "OK"
    assert summary.images[0].source_url.startswith('"')  # the part's file name, quoted
    assert trainer.get_tagged_image_count(project.id) == 1


def test_image_uri_serves_the_bytes(trainer: CustomVisionTrainingClient, project: Project) -> None:
    import urllib.request

    data = make_image()
    image = trainer.create_images_from_files(project.id, _files(data)).images[0].image
    with urllib.request.urlopen(image.original_image_uri) as response:
        assert response.read() == data


def test_duplicate_merges_tags(trainer: CustomVisionTrainingClient, project: Project) -> None:
    a = trainer.create_tag(project.id, "a")
    b = trainer.create_tag(project.id, "b")
    data = make_image()
    first = trainer.create_images_from_files(project.id, _files(data, tag_ids=[a.id]))
    second = trainer.create_images_from_data(project.id, io.BytesIO(data), tag_ids=[b.id])
    assert second.is_batch_successful is False
    assert second.images[0].status == "OKDuplicate"
    assert second.images[0].image.id == first.images[0].image.id
    assert {t.tag_id for t in second.images[0].image.tags} == {a.id, b.id}
    assert trainer.get_image_count(project.id) == 1


def test_duplicate_within_one_batch(trainer: CustomVisionTrainingClient, project: Project) -> None:
    data = make_image()
    summary = trainer.create_images_from_files(project.id, _files(data, data))
    assert [i.status for i in summary.images] == ["OK", "OKDuplicate"]
    assert summary.images[0].image.id == summary.images[1].image.id


def test_batch_of_64_accepted_65_refused(
    trainer: CustomVisionTrainingClient, project: Project
) -> None:
    images = [make_image(size=(16, 16)) for _ in range(65)]
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.create_images_from_files(project.id, _files(*images))
    assert service_error(excinfo)[:2] == (400, "BadRequestExceededBatchSize")
    summary = trainer.create_images_from_files(project.id, _files(*images[:64]))
    assert summary.is_batch_successful and len(summary.images) == 64


def test_tags_per_batch_20_accepted_21_refused(
    trainer: CustomVisionTrainingClient, project: Project
) -> None:
    tags = [trainer.create_tag(project.id, f"t{i}").id for i in range(21)]
    ok = trainer.create_images_from_files(project.id, _files(make_image(), tag_ids=tags[:20]))
    assert ok.is_batch_successful
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.create_images_from_files(project.id, _files(make_image(), tag_ids=tags))
    assert service_error(excinfo)[:2] == (400, "BadRequestExceededBatchSize")


def test_partly_failed_batch_is_207(trainer: CustomVisionTrainingClient, project: Project) -> None:
    big = make_image(size=(10_241, 8))
    wide = make_image(size=(260, 10))
    summary = trainer.create_images_from_files(
        project.id, _files(make_image(), b"not an image", big, wide, b"GIF89a-broken")
    )
    assert summary.is_batch_successful is False
    statuses = [i.status for i in summary.images]
    assert statuses == [
        "OK",
        "ErrorImageFormat",
        "ErrorImageDimensions",
        "ErrorImageDimensions",
        "ErrorImageFormat",
    ]
    assert all(i.image is None for i in summary.images[1:])


@pytest.mark.parametrize(
    ("size", "accepted"),
    [((10_240, 410), True), ((10_241, 410), False), ((250, 10), True), ((251, 10), False)],
)
def test_dimension_and_aspect_limits(
    trainer: CustomVisionTrainingClient, project: Project, size: tuple[int, int], accepted: bool
) -> None:
    data = make_image(size=size, fmt="GIF")
    summary = trainer.create_images_from_files(project.id, _files(make_image(), data))
    assert (summary.images[1].status == "OK") is accepted


def test_single_bad_image_is_a_request_error(
    trainer: CustomVisionTrainingClient, project: Project
) -> None:
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.create_images_from_data(project.id, io.BytesIO(b"\x00" * 100))
    assert service_error(excinfo)[:2] == (400, "BadRequestImageFormat")


def test_image_size_6mb(trainer: CustomVisionTrainingClient, project: Project) -> None:
    limit = 6 * 1024 * 1024
    png = make_image(size=(16, 16))
    at_limit = png + b"\x00" * (limit - len(png))  # trailing bytes after IEND are ignored
    summary = trainer.create_images_from_files(project.id, _files(at_limit, at_limit + b"\x00"))
    assert [i.status for i in summary.images] == ["OK", "ErrorImageSize"]


def test_formats(trainer: CustomVisionTrainingClient, project: Project) -> None:
    images = [make_image(fmt=f) for f in ("JPEG", "PNG", "BMP", "GIF", "TIFF")]
    summary = trainer.create_images_from_files(project.id, _files(*images))
    assert [i.status for i in summary.images] == ["OK", "OK", "OK", "OK", "ErrorImageFormat"]


def test_unknown_tag_is_per_image_error(
    trainer: CustomVisionTrainingClient, project: Project
) -> None:
    entries = [
        ImageFileCreateEntry(name="a", contents=bytearray(make_image())),
        ImageFileCreateEntry(
            name="b",
            contents=bytearray(make_image()),
            tag_ids=["00000000-0000-0000-0000-000000000000"],
        ),
    ]
    summary = trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=entries))
    assert [i.status for i in summary.images] == ["OK", "ErrorInvalidTag"]


def test_negative_and_regular_on_same_image(
    trainer: CustomVisionTrainingClient, project: Project
) -> None:
    regular = trainer.create_tag(project.id, "r")
    negative = trainer.create_tag(project.id, "n", type="Negative")
    both = [regular.id, negative.id]
    entries = [
        ImageFileCreateEntry(name="ok", contents=bytearray(make_image())),
        ImageFileCreateEntry(name="both", contents=bytearray(make_image()), tag_ids=both),
    ]
    summary = trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=entries))
    assert [i.status for i in summary.images] == ["OK", "ErrorNegativeAndRegularTagOnSameImage"]
    image_id = upload(trainer, project.id, [regular.id], 1, PALETTE["red"])[0]
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.create_image_tags(
            project.id,
            [ImageTagCreateEntry(image_id=image_id, tag_id=negative.id)],
        )
    assert service_error(excinfo)[:2] == (400, "BadRequestNegativeAndRegularTagOnSameImage")


def test_image_limit_per_project(tmp_path_factory: pytest.TempPathFactory) -> None:
    from cvspec.emulator.limits import tier_limits

    from .support import training_client

    srv = EmulatorServer(tmp_path_factory.mktemp("small"))
    srv.backend.limits = tier_limits("S0", images_per_project=2)
    with srv:
        client = training_client(srv)
        project = client.create_project("p")
        summary = client.create_images_from_files(
            project.id, _files(make_image(), make_image(), make_image())
        )
        assert [i.status for i in summary.images] == ["OK", "OK", "ErrorLimitExceed"]


def test_metadata_at_upload_and_filter(
    trainer: CustomVisionTrainingClient, project: Project
) -> None:
    batch = _files(make_image(), make_image())
    batch.metadata = {"camera": "a", "site": "north"}
    trainer.create_images_from_files(project.id, batch)
    other = _files(make_image())
    other.metadata = {"camera": "b"}
    trainer.create_images_from_files(project.id, other)
    assert len(trainer.get_images(project.id, filter="camera eq 'a'")) == 2
    assert trainer.get_image_count(project.id, filter="camera ne 'a'") == 1
    assert trainer.get_image_count(project.id, filter="camera eq 'b' or site eq 'north'") == 3
    assert trainer.get_image_count(project.id, filter="camera eq 'a' and site eq 'south'") == 0
    images = trainer.get_images(project.id, filter="camera eq 'b'")
    assert images[0].metadata == {"camera": "b"}


def test_metadata_limits_at_upload(trainer: CustomVisionTrainingClient, project: Project) -> None:
    ten = _files(make_image())
    ten.metadata = {f"k{i}": "v" for i in range(10)}
    assert trainer.create_images_from_files(project.id, ten).is_batch_successful
    eleven = _files(make_image())
    eleven.metadata = {f"k{i}": "v" for i in range(11)}
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.create_images_from_files(project.id, eleven)
    assert service_error(excinfo)[1] == "BadRequestImageMetadataKey"
    long_key = _files(make_image())
    long_key.metadata = {"k" * 129: "v"}
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.create_images_from_files(project.id, long_key)
    assert service_error(excinfo)[1] == "BadRequestImageMetadataKey"
    long_value = _files(make_image())
    long_value.metadata = {"k" * 128: "v" * 257}
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.create_images_from_files(project.id, long_value)
    assert service_error(excinfo)[1] == "BadRequestImageMetadataValue"


def test_update_image_metadata(trainer: CustomVisionTrainingClient, project: Project) -> None:
    ids = upload(trainer, project.id, [], 2, PALETTE["green"])
    summary = trainer.update_image_metadata(project.id, ids, {"k": "v"})
    assert summary.is_batch_successful
    assert [(e.image_id, e.status, e.metadata) for e in summary.images] == [
        (ids[0], "OK", {"k": "v"}),
        (ids[1], "OK", {"k": "v"}),
    ]
    partly = trainer.update_image_metadata(
        project.id, [ids[0], "00000000-0000-0000-0000-000000000000"], {"j": "w"}
    )
    assert partly.is_batch_successful is False
    assert [e.status for e in partly.images] == ["OK", "ErrorImageNotFound"]
    assert trainer.get_images_by_ids(project.id, [ids[0]])[0].metadata == {"k": "v", "j": "w"}
    many = trainer.update_image_metadata(project.id, [ids[1]], {f"x{i}": "v" for i in range(10)})
    assert [e.status for e in many.images] == ["ErrorLimitExceed"]


def test_listing_paging_order_and_counts(
    trainer: CustomVisionTrainingClient, project: Project
) -> None:
    a = trainer.create_tag(project.id, "a")
    b = trainer.create_tag(project.id, "b")
    tagged_a = upload(trainer, project.id, [a.id], 3, PALETTE["red"])
    tagged_b = upload(trainer, project.id, [b.id], 2, PALETTE["blue"])
    untagged = upload(trainer, project.id, [], 4, PALETTE["green"])
    everything = tagged_a + tagged_b + untagged
    assert [i.id for i in trainer.get_images(project.id)] == everything[::-1]
    assert [i.id for i in trainer.get_images(project.id, order_by="Oldest")] == everything
    assert [i.id for i in trainer.get_images(project.id, take=2, skip=1)] == everything[::-1][1:3]
    assert len(trainer.get_images(project.id, tagging_status="Untagged")) == 4
    assert len(trainer.get_images(project.id, tag_ids=[b.id])) == 2
    assert {i.id for i in trainer.get_tagged_images(project.id, tag_ids=[a.id])} == set(tagged_a)
    assert len(trainer.get_tagged_images(project.id)) == 5
    assert {i.id for i in trainer.get_untagged_images(project.id)} == set(untagged)
    assert trainer.get_image_count(project.id) == 9
    assert trainer.get_image_count(project.id, tagging_status="Tagged") == 5
    assert trainer.get_tagged_image_count(project.id, tag_ids=[a.id, b.id]) == 5
    assert trainer.get_untagged_image_count(project.id) == 4
    assert trainer.get_tag(project.id, a.id).image_count == 3
    found = trainer.get_images_by_ids(project.id, [untagged[0], tagged_a[0]])
    assert [i.id for i in found] == [untagged[0], tagged_a[0]]
    assert trainer.get_tagged_images(project.id, take=256) is not None


def test_take_over_256_is_refused_by_the_sdk(
    trainer: CustomVisionTrainingClient, project: Project
) -> None:
    from msrest.exceptions import ValidationError

    with pytest.raises(ValidationError):
        trainer.get_images(project.id, take=257)


def test_delete_images(trainer: CustomVisionTrainingClient, project: Project) -> None:
    ids = upload(trainer, project.id, [], 3, PALETTE["yellow"])
    trainer.delete_images(project.id, image_ids=ids[:1])
    assert trainer.get_image_count(project.id) == 2
    trainer.delete_images(project.id, all_images=True, all_iterations=True)
    assert trainer.get_image_count(project.id) == 0


def test_create_and_delete_image_tags(
    trainer: CustomVisionTrainingClient, project: Project
) -> None:
    a = trainer.create_tag(project.id, "a")
    b = trainer.create_tag(project.id, "b")
    ids = upload(trainer, project.id, [a.id], 2, PALETTE["red"])
    entries = [ImageTagCreateEntry(image_id=i, tag_id=t) for i in ids for t in (a.id, b.id)]
    summary = trainer.create_image_tags(project.id, entries)
    assert len(summary.created) == 2
    assert len(summary.duplicated) == 2
    trainer.delete_image_tags(project.id, ids, [a.id])
    assert trainer.get_tagged_image_count(project.id, tag_ids=[a.id]) == 0
    assert trainer.get_tagged_image_count(project.id, tag_ids=[b.id]) == 2


def test_image_tags_128_accepted_129_refused(
    trainer: CustomVisionTrainingClient, project: Project
) -> None:
    tags = [trainer.create_tag(project.id, f"t{i}").id for i in range(16)]
    ids = upload(trainer, project.id, [], 9, PALETTE["green"])
    pairs = [ImageTagCreateEntry(image_id=i, tag_id=t) for i in ids for t in tags]
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.create_image_tags(project.id, pairs[:129])
    assert service_error(excinfo)[:2] == (400, "BadRequestExceededBatchSize")
    summary = trainer.create_image_tags(project.id, pairs[:128])
    assert len(summary.created) == 128


def test_multiclass_second_tag_refused(
    trainer: CustomVisionTrainingClient, make_project: Any
) -> None:
    project = make_project(classification_type="Multiclass")
    a = trainer.create_tag(project.id, "a")
    b = trainer.create_tag(project.id, "b")
    image_id = upload(trainer, project.id, [a.id], 1, PALETTE["red"])[0]
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.create_image_tags(
            project.id,
            [ImageTagCreateEntry(image_id=image_id, tag_id=b.id)],
        )
    assert service_error(excinfo)[:2] == (400, "BadRequestImageTags")
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.create_images_from_files(project.id, _files(make_image(), tag_ids=[a.id, b.id]))
    assert service_error(excinfo)[:2] == (400, "BadRequestImageTags")


def test_image_tags_unknown_image(trainer: CustomVisionTrainingClient, project: Project) -> None:
    tag = trainer.create_tag(project.id, "a")
    entry = ImageTagCreateEntry(image_id="00000000-0000-0000-0000-000000000000", tag_id=tag.id)
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.create_image_tags(project.id, [entry])
    assert service_error(excinfo)[:2] == (404, "NotFoundImage")


def test_create_images_from_urls(trainer: CustomVisionTrainingClient, project: Project) -> None:
    source = trainer.create_images_from_files(project.id, _files(make_image())).images[0].image
    other = trainer.create_project(project.name + "-urls")
    try:
        tag = trainer.create_tag(other.id, "t")
        batch = ImageUrlCreateBatch(
            images=[
                ImageUrlCreateEntry(url=source.original_image_uri),
                ImageUrlCreateEntry(url="http://127.0.0.1:9/missing.png"),
                ImageUrlCreateEntry(url="file:///etc/passwd"),
            ],
            tag_ids=[tag.id],
        )
        summary = trainer.create_images_from_urls(other.id, batch)
        assert [i.status for i in summary.images] == ["OK", "ErrorSource", "ErrorSource"]
        assert summary.images[0].source_url == source.original_image_uri
        assert trainer.get_tagged_image_count(other.id) == 1
    finally:
        trainer.delete_project(other.id)


def test_base64_contents_roundtrip(trainer: CustomVisionTrainingClient, project: Project) -> None:
    data = make_image(fmt="BMP")
    summary = trainer.create_images_from_files(project.id, _files(data))
    assert summary.images[0].status == "OK"
    assert base64.b64encode(data)  # the SDK sends base64; the emulator decoded it


def test_more_than_20_tags_on_one_entry_is_per_image_error(
    trainer: CustomVisionTrainingClient, project: Project
) -> None:
    tags = [trainer.create_tag(project.id, f"t{i}").id for i in range(21)]
    entries = [
        ImageFileCreateEntry(name="ok", contents=bytearray(make_image()), tag_ids=tags[:20]),
        ImageFileCreateEntry(name="too many", contents=bytearray(make_image()), tag_ids=tags),
    ]
    summary = trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=entries))
    assert [i.status for i in summary.images] == ["OK", "ErrorTagLimitExceed"]
    assert len(summary.images[0].image.tags) == 20


def test_batch_with_no_valid_image_is_refused(
    trainer: CustomVisionTrainingClient, project: Project
) -> None:
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.create_images_from_files(project.id, _files(b"junk", b"more junk"))
    assert service_error(excinfo) == (400, "BadRequestImageBatch", "No valid image files")


def test_create_images_from_unknown_prediction(
    trainer: CustomVisionTrainingClient, project: Project
) -> None:
    from azure.cognitiveservices.vision.customvision.training.models import (
        ImageIdCreateBatch,
        ImageIdCreateEntry,
    )

    batch = ImageIdCreateBatch(
        images=[ImageIdCreateEntry(id="00000000-0000-0000-0000-000000000000")]
    )
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.create_images_from_predictions(project.id, batch)
    assert service_error(excinfo)[:2] == (400, "BadRequestImageBatch")


def test_thumbnail_and_resized_uris(trainer: CustomVisionTrainingClient, project: Project) -> None:
    import urllib.request

    from PIL import Image

    data = make_image(size=(1200, 600), fmt="PNG")
    image = trainer.create_images_from_files(project.id, _files(data)).images[0].image
    sizes = {}
    for name, uri in (
        ("original", image.original_image_uri),
        ("resized", image.resized_image_uri),
        ("thumbnail", image.thumbnail_uri),
    ):
        with urllib.request.urlopen(uri) as response:
            sizes[name] = Image.open(io.BytesIO(response.read())).size
    assert sizes == {"original": (1200, 600), "resized": (1024, 512), "thumbnail": (256, 128)}


def test_take_over_256_and_bad_filter_refused_by_the_service(
    server: EmulatorServer, project: Project
) -> None:
    import requests

    url = f"{server.training_endpoint}/customvision/v3.4-preview/training/projects/{project.id}"
    headers = {"Training-Key": server.training_key}
    over = requests.get(url + "/images", params={"take": 257}, headers=headers)
    assert over.status_code == 400 and over.json()["code"] == "BadRequestInvalid"
    assert requests.get(url + "/images", params={"take": 256}, headers=headers).ok
    bad = requests.get(url + "/images", params={"$filter": "k eq"}, headers=headers)
    assert bad.status_code == 400 and bad.json()["code"] == "BadRequestInvalid"


def test_undecodable_images_are_refused_per_image(
    trainer: CustomVisionTrainingClient, project: Project
) -> None:
    """Header and checksums right, pixel data garbage or cut short: refused, good ones land."""
    good = [badimages.noise(fmt, seed=index) for index, fmt in enumerate(("PNG", "JPEG", "GIF"))]
    names = ["good.png", "good.jpg", "good.gif", *BAD_IMAGES]
    contents = good + [data for data, _, _ in BAD_IMAGES.values()]
    entries = [
        ImageFileCreateEntry(name=name, contents=bytearray(data))
        for name, data in zip(names, contents, strict=True)
    ]
    summary = trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=entries))
    assert summary.is_batch_successful is False
    statuses = {i.source_url: i.status for i in summary.images}
    assert statuses == {
        "good.png": "OK",
        "good.jpg": "OK",
        "good.gif": "OK",
        **{name: status for name, (_, status, _) in BAD_IMAGES.items()},
    }
    assert all(i.image is None for i in summary.images[3:])
    assert trainer.get_image_count(project.id) == 3


@pytest.mark.parametrize("name", list(BAD_IMAGES))
def test_undecodable_single_image_is_a_request_error(
    trainer: CustomVisionTrainingClient, project: Project, name: str
) -> None:
    data, _, code = BAD_IMAGES[name]
    with pytest.raises(CustomVisionErrorException) as excinfo:
        trainer.create_images_from_data(project.id, io.BytesIO(data))
    assert service_error(excinfo)[:2] == (400, code)
    assert trainer.get_image_count(project.id) == 0


class _BytesHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        name = self.path.lstrip("/")
        body = BAD_IMAGES[name][0] if name in BAD_IMAGES else badimages.noise("PNG", seed=9)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def image_site() -> Iterator[str]:
    """An HTTP server on 127.0.0.1 answering BAD_IMAGES by name, anything else a good PNG."""
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BytesHandler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{site.server_address[1]}"
    finally:
        site.shutdown()
        site.server_close()


def test_undecodable_images_by_url_are_refused_per_image(
    trainer: CustomVisionTrainingClient, project: Project, image_site: str
) -> None:
    urls = [f"{image_site}/good.png", *(f"{image_site}/{name}" for name in BAD_IMAGES)]
    batch = ImageUrlCreateBatch(images=[ImageUrlCreateEntry(url=url) for url in urls])
    summary = trainer.create_images_from_urls(project.id, batch)
    assert [i.status for i in summary.images] == [
        "OK",
        *(status for _, status, _ in BAD_IMAGES.values()),
    ]
    assert trainer.get_image_count(project.id) == 1


def test_undecodable_image_prediction_and_quick_test(
    trainer: CustomVisionTrainingClient,
    predictor: CustomVisionPredictionClient,
    published: dict[str, Any],
    image_site: str,
) -> None:
    """Classify, classify by URL and quick test answer the request-level code, not 200."""
    project, publish_name = published["project"].id, published["publish_name"]
    for name, (data, _, code) in BAD_IMAGES.items():
        with pytest.raises(PredictionError) as predicted:
            predictor.classify_image(project, publish_name, io.BytesIO(data))
        with pytest.raises(PredictionError) as by_url:
            predictor.classify_image_url(project, publish_name, url=f"{image_site}/{name}")
        with pytest.raises(CustomVisionErrorException) as quick:
            trainer.quick_test_image(project, io.BytesIO(data))
        got = [service_error(e)[:2] for e in (predicted, by_url, quick)]
        assert got == [(400, code)] * 3, name
    # the same client's next call still works
    result = predictor.classify_image(project, publish_name, io.BytesIO(make_image()))
    assert result.predictions
