"""The $filter grammar for image metadata."""

from __future__ import annotations

import pytest

from cvspec.emulator.exceptions import ServiceError
from cvspec.emulator.metadata_filter import parse_filter

IMAGE = {"camera": "a", "site": "north", "note": "it's"}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("camera eq 'a'", True),
        ("camera ne 'a'", False),
        ("camera eq 'a' and site eq 'south'", False),
        ("camera eq 'b' or site eq 'north'", True),
        ("camera eq 'b' or site eq 'north' and camera eq 'z'", False),  # and binds tighter
        ("(camera eq 'b' or site eq 'north') and camera eq 'a'", True),
        ("not camera eq 'b'", True),
        ("note eq 'it''s'", True),
        ("missing ne 'x'", True),
        ("metadata/camera EQ 'a'", True),
    ],
)
def test_filter(expression: str, expected: bool) -> None:
    assert parse_filter(expression)(IMAGE) is expected


@pytest.mark.parametrize(
    "expression", ["camera", "camera eq", "camera gt 'a'", "(camera eq 'a'", "'a' eq camera"]
)
def test_invalid_filter(expression: str) -> None:
    with pytest.raises(ServiceError) as excinfo:
        parse_filter(expression)
    assert excinfo.value.code == "BadRequestInvalid"
