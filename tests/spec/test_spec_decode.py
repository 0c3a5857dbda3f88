"""`cvspec validate` decodes images as the service does: garbage or truncated pixel data,
and formats the service does not accept, are one line each naming the file, exit 1."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from cvspec.cli import main
from tests import badimages

from .conftest import BASIC_SPEC, age

BAD = {
    "images/cat/garbage.png": badimages.png_garbage_idat(),
    "images/cat/cut.png": badimages.png_truncated_idat(),
    "images/cat/cut.jpg": badimages.jpeg_truncated(),
    "images/dog/garbage.jpg": badimages.jpeg_garbage_scan(),
    "images/dog/cut.gif": badimages.gif_truncated(),
    "images/dog/photo.webp": badimages.webp(),
}


def test_validate__reports_every_undecodable_image(project: Path) -> None:
    for name, data in BAD.items():
        (project / name).write_bytes(data)
        age(project / name)
    spec = project / "spec.yaml"
    spec.write_text(BASIC_SPEC.replace("*.png", "*"))
    result = CliRunner().invoke(main, ["validate", str(spec)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("images/")]
    assert sorted(lines) == [
        "images/cat/cut.jpg: truncated JPEG (no end-of-image marker)",
        "images/cat/cut.png: truncated PNG (a chunk ends early)",
        "images/cat/garbage.png: corrupt PNG (the pixel data cannot be decoded)",
        "images/dog/cut.gif: truncated GIF (the pixel data ends early)",
        "images/dog/garbage.jpg: corrupt JPEG (the pixel data cannot be decoded)",
        "images/dog/photo.webp: unsupported image format WEBP"
        " (the service accepts JPEG, PNG, BMP and GIF)",
    ]
