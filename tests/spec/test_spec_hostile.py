"""Hostile and sloppy specs through the CLI: one clean line, exit 1, fast, bounded memory.

Each case runs `cvspec validate` in a fresh process started by a small wrapper that reports
the child's peak RSS and CPU time (getrusage of its only child), so the figures are the
command's own. Before the bounds, the 564-byte alias bomb took about 100 s and 3.4 GB, and
5,000 nested lists ended in a RecursionError traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[1] / "data" / "specs"

MAX_CPU_SECONDS = 2.0
MAX_WALL_SECONDS = 10.0  # generous: the machine is shared; CPU time is the real bound
MAX_RSS_MB = 150  # `cvspec validate` of a valid spec peaks around 40 MB

_WRAPPER = textwrap.dedent(
    """
    import json, resource, subprocess, sys
    done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({
        "code": done.returncode, "stdout": done.stdout, "stderr": done.stderr,
        "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024,
    }))
    """
)


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str
    cpu: float
    wall: float
    rss_mb: float


def _validate(spec: Path) -> Run:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, sys.executable, "-m", "cvspec", "validate", spec.name],
        capture_output=True,
        text=True,
        cwd=spec.parent,
        check=True,
        timeout=120,
    )
    report = json.loads(done.stdout)
    return Run(
        report["code"],
        report["stdout"],
        report["stderr"],
        report["cpu"],
        time.monotonic() - started,
        report["rss_mb"],
    )


def _assert_refused_fast(run: Run, expected: str, max_cpu: float = MAX_CPU_SECONDS) -> None:
    assert "Traceback" not in run.stderr
    assert run.code == 1
    assert run.stderr.splitlines() == [expected, "Error: the spec has 1 problem(s)"]
    assert run.cpu < max_cpu, f"{run.cpu:.2f} s CPU"
    assert run.wall < MAX_WALL_SECONDS, f"{run.wall:.2f} s"
    assert run.rss_mb < MAX_RSS_MB, f"{run.rss_mb:.0f} MB"


def _corpus_case(project: Path, name: str) -> tuple[Path, str]:
    spec = project / name
    text = (CORPUS / name).read_text(encoding="utf-8")
    spec.write_text(text, encoding="utf-8")
    expected = [line.removeprefix("# expect: ") for line in text.splitlines() if "# expect" in line]
    return spec, expected[0]


def test_alias_bomb__refused_at_the_alias_fast_and_small(project: Path) -> None:
    spec, expected = _corpus_case(project, "bad-alias-bomb.yaml")
    assert spec.stat().st_size < 1200  # 9 levels of 9 aliases: 10^9 nodes once expanded
    _assert_refused_fast(_validate(spec), expected)


def test_five_thousand_nested_lists__one_line_no_recursion_error(project: Path) -> None:
    spec, expected = _corpus_case(project, "bad-deep-nesting.yaml")
    _assert_refused_fast(_validate(spec), expected)


def test_five_thousand_nested_block_lists__one_line(project: Path) -> None:
    spec = project / "deep.yaml"
    spec.write_text("version: 1\nproject: {name: pets}\ntags:\n  " + "- " * 5000 + "x\n")
    expected = "deep.yaml:4:129: invalid YAML: nested more than 64 levels deep"
    _assert_refused_fast(_validate(spec), expected)


def test_ten_megabyte_description__refused_by_size_never_printed(project: Path) -> None:
    spec = project / "huge.yaml"
    spec.write_text("version: 1\nproject:\n  name: pets\n  description: " + "x" * 10_000_000 + "\n")
    expected = (
        "huge.yaml:4:1: spec is 10,000,049 bytes, over the 1,048,576-byte limit "
        "(line 4 alone is 10,000,015 bytes)"
    )
    _assert_refused_fast(_validate(spec), expected)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_endless_spec__size_scan_stops(project: Path) -> None:
    spec = project / "endless.yaml"
    spec.symlink_to("/dev/zero")
    expected = (
        "endless.yaml:1:1: spec is more than 67,108,864 bytes, over the 1,048,576-byte limit "
        "(line 1 alone is more than 67,108,864 bytes)"
    )
    _assert_refused_fast(_validate(spec), expected)


def test_a_megabyte_of_tiny_values__refused_at_the_node_limit(project: Path) -> None:
    """The worst case under the size limit: 520,000 one-letter values took 15 s and 550 MB."""
    spec = project / "many.yaml"
    spec.write_text(
        "version: 1\nproject: {name: pets}\nexclude: [" + ",".join("a" * 520_000) + "]\n"
    )
    assert spec.stat().st_size < 1024 * 1024
    expected = (
        "many.yaml:3:99993: invalid YAML: more than 50,000 values; "
        "list many images in a manifest instead"
    )
    _assert_refused_fast(_validate(spec), expected, max_cpu=3.0)


def test_long_description_under_the_size_limit__refused_with_its_length(project: Path) -> None:
    spec = project / "long.yaml"
    spec.write_text("version: 1\nproject:\n  name: pets\n  description: " + "x" * 900_000 + "\n")
    expected = "long.yaml:4:16: project.description: too long: 900,000 characters, at most 1,024"
    _assert_refused_fast(_validate(spec), expected)


def test_a_long_value_quoted_by_a_validator__message_cut_short(project: Path) -> None:
    spec = project / "email.yaml"
    spec.write_text(
        "version: 1\nproject: {name: pets}\ntraining: {notification_email: " + "x" * 500_000 + "}\n"
    )
    expected = (
        "email.yaml:3:32: training.notification_email: not an email address: '"
        + "x" * 437
        + "... (cut short: 500,024 characters)"
    )
    _assert_refused_fast(_validate(spec), expected)


def test_not_utf8__names_line_column_and_byte_offset(project: Path) -> None:
    spec = project / "latin1.yaml"
    spec.write_bytes("version: 1\nproject:\n  name: caf\xe9s\n".encode("latin-1"))
    expected = (
        "latin1.yaml:3:12: spec is not UTF-8 text: byte 0xe9 at offset 31 "
        "(invalid continuation byte); save the file as UTF-8"
    )
    _assert_refused_fast(_validate(spec), expected)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "publish: {name: pets, keep: yes}",
            "publish.keep: should be a number, got yes "
            "(YAML 1.1 reads an unquoted yes as a boolean)",
        ),
        (
            "tags: [{name: no}, {name: cat}]",
            "tags[0].name: should be text, got no, which YAML reads as a boolean; "
            'quote it if you mean the text: "no"',
        ),
    ],
    ids=["keep-yes", "tag-no"],
)
def test_yaml11_boolean__refused_not_read_as_one(project: Path, line: str, expected: str) -> None:
    spec = project / "bools.yaml"
    spec.write_text(f"version: 1\nproject: {{name: pets}}\n{line}\n")
    run = _validate(spec)
    assert run.code == 1
    assert run.stderr.splitlines()[0].split(": ", 1)[1] == expected
