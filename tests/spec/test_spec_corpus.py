"""The corpus of bad specs and bad images: each reports exactly the expected problems.

Each `tests/data/specs/bad-*.yaml` ends with comment lines (after the YAML, so line numbers
are not shifted): `# expect: <problem line>` for every expected problem, in order;
`# setup: <name>` to add files to the project first (see SETUPS); `{tmp}` in an expected
line stands for the directory that holds the project.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from cvspec.errors import SpecError
from cvspec.spec import load_and_validate
from tests import badimages

from .conftest import write_image

CORPUS = Path(__file__).resolve().parents[1] / "data" / "specs"
CASES = sorted(CORPUS.glob("bad-*.yaml"))


def _noise_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.frombytes("RGB", (128, 96), bytes(range(256)) * 144).save(buffer, "JPEG")
    return buffer.getvalue()


def _bytes_of(size: tuple[int, int], fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (1, 2, 3)).save(buffer, fmt)
    return buffer.getvalue()


def _corrupt_png() -> bytes:
    data = bytearray(_bytes_of((64, 48), "PNG"))
    data[data.index(b"IDAT") + 6] ^= 0xFF  # a byte of compressed data: the CRC no longer matches
    return bytes(data)


def _symlink_escape(root: Path) -> None:
    outside = write_image(root.parent / "outside.png")
    (root / "images/cat/5.png").symlink_to(outside)


def _symlink_folder_escape(root: Path) -> None:
    """images/cat is a symlink to a folder of 6 images outside the project."""
    outside = root.parent / "outside-cats"
    for index in range(6):
        write_image(outside / f"{index}.png")
    shutil.rmtree(root / "images" / "cat")
    (root / "images" / "cat").symlink_to(outside)


def _upper_case_extensions(root: Path) -> None:
    """images/cat holds IMG_1.JPG, IMG_2.Jpg and a .PNG beside the 0-4.png files."""
    # Fixed seeds far apart: solid colours one step apart can encode to the same JPEG bytes.
    files = (("IMG_1.JPG", "JPEG", 40), ("IMG_2.Jpg", "JPEG", 120), ("IMG_3.PNG", "PNG", 200))
    for name, fmt, seed in files:
        write_image(root / "images" / "cat" / name, fmt=fmt, seed=seed)


def _three_birds(root: Path) -> None:
    for index in range(3):
        write_image(root / "images" / "bird" / f"{index}.png")


def _manifest_escape(root: Path) -> None:
    write_image(root.parent / "outside.png")
    (root / "labels.csv").write_text("path,tags\n../outside.png,cat\n")


def _write(name: str, data: bytes | str) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)

    return setup


def _image(name: str, size: tuple[int, int] = (64, 48), fmt: str = "PNG") -> Callable[[Path], None]:
    return lambda root: _ignore(write_image(root / name, size, fmt))


def _ignore(_: object) -> None:
    return None


_BAD_JSONL = (
    '{"path": "images/cat/0.png", "tags": ["cat"]}\n'
    '{"path": "images/dog/0.png", "tags": }\n'
    '{"path": "images/dog/1.png", "tag": "dog"}\n'
    "[1]\n"
    '{"path": "images/dog/2.png", "tags": 3}\n'
)

SETUPS: dict[str, Callable[[Path], None]] = {
    "symlink-escape": _symlink_escape,
    "symlink-folder-escape": _symlink_folder_escape,
    "upper-case-extensions": _upper_case_extensions,
    "zero-byte": _write("images/cat/5.png", b""),
    "not-image": _write("images/cat/5.jpg", b"hello, not a JPEG\n"),
    "truncated-jpeg": _write("images/cat/5.jpg", _noise_jpeg()[:-500]),
    "truncated-png": _write("images/dog/5.png", _bytes_of((64, 48), "PNG")[:-20]),
    "corrupt-png": _write("images/dog/5.png", _corrupt_png()),
    "truncated-gif": _write("images/dog/5.gif", _bytes_of((64, 48), "GIF")[:-1]),
    "oversize": _image("images/cat/5.bmp", (1500, 1500), "BMP"),
    "dimensions": _image("images/cat/5.png", (10300, 500)),
    "aspect": _image("images/cat/5.png", (2600, 100)),
    "unsupported-format": _image("images/cat/5.tif", fmt="TIFF"),
    # headers (and a PNG's CRCs) right, pixel data garbage or cut short: found by decoding
    "garbage-png": _write("images/dog/5.png", badimages.png_garbage_idat()),
    "truncated-png-middle": _write("images/dog/5.png", badimages.png_truncated_idat()),
    "truncated-jpeg-middle": _write("images/cat/5.jpg", badimages.jpeg_truncated()),
    "garbage-jpeg": _write("images/cat/5.jpg", badimages.jpeg_garbage_scan()),
    "truncated-gif-middle": _write("images/dog/5.gif", badimages.gif_truncated()),
    "webp": _write("images/cat/5.webp", badimages.webp()),
    "copy-cat-to-dog": lambda root: _ignore(
        shutil.copy(root / "images/cat/0.png", root / "images/dog/5.png")
    ),
    "three-birds": _three_birds,
    "manifest-missing-file": _write(
        "labels.csv", "path,tags\nimages/cat/0.png,cat\nimages/cat/9.png,cat\n"
    ),
    "manifest-no-path-column": _write("labels.csv", "file,tags\nimages/cat/0.png,cat\n"),
    "jsonl-invalid": _write("labels.jsonl", _BAD_JSONL),
    "manifest-latin1": _write(
        "latin1.csv", "path,tags\nimages/cat/0.png,caf\xe9\n".encode("latin-1")
    ),
    "manifest-escape": _manifest_escape,
    "extra-untagged": _image("extra/a.png"),
}


def _directives(text: str, name: str) -> list[str]:
    prefix = f"# {name}: "
    return [line[len(prefix) :] for line in text.splitlines() if line.startswith(prefix)]


@pytest.mark.parametrize("case", CASES, ids=[case.stem for case in CASES])
def test_bad_spec__reports_exact_problems(case: Path, project: Path) -> None:
    text = case.read_text(encoding="utf-8")
    for setup in _directives(text, "setup"):
        SETUPS[setup](project)
    spec = project / case.name
    shutil.copy(case, spec)
    expected = [line.replace("{tmp}", str(project.parent)) for line in _directives(text, "expect")]
    with pytest.raises(SpecError) as raised:
        load_and_validate(spec)
    assert raised.value.problems == expected


def test_corpus__is_large_enough() -> None:
    assert len(CASES) >= 40
    assert all(_directives(case.read_text(), "expect") for case in CASES)
