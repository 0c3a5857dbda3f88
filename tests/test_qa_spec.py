"""Specs as users write them, found refused in acceptance testing: `cvspec validate` through
the CLI (offline)."""

from __future__ import annotations

import io
from pathlib import Path

from click.testing import CliRunner
from PIL import Image

from cvspec.cli import main
from cvspec.spec import load_and_validate


def _png(path: Path, shade: int) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (shade, 40, 90)).save(buffer, format="PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())


def test_manifests_saved_with_a_byte_order_mark_and_spaced_headers_are_read(
    tmp_path: Path,
) -> None:
    for n in range(3):
        _png(tmp_path / "img" / f"{n}.png", n * 40)
    bom = b"\xef\xbb\xbf"
    (tmp_path / "excel.csv").write_bytes(bom + b"path, tags\r\nimg/0.png, cat\r\n")
    (tmp_path / "notepad.jsonl").write_bytes(bom + b'{"path": "img/1.png", "tags": "cat"}\n')
    (tmp_path / "plain.csv").write_text("path,tags\nimg/2.png,cat\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\nproject: {name: qa-bom}\ntags: [{name: cat}]\ntraining: null\n"
        "images:\n  - manifest: excel.csv\n  - manifest: notepad.jsonl\n"
        "  - manifest: plain.csv\n"
    )
    result = CliRunner().invoke(main, ["validate", str(spec)])
    assert result.exit_code == 0, result.output
    validated = load_and_validate(spec, use_cache=False)
    assert sorted((Path(str(i.path)).name, i.tags) for i in validated.images) == [
        ("0.png", ("cat",)),
        ("1.png", ("cat",)),
        ("2.png", ("cat",)),
    ]
