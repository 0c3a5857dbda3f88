"""`cvspec apply --report-out`: what a failed apply reports (the report of a successful one,
with the evaluation against the SDK's figures, is checked in tests/test_workflows.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import copy_example
from tests.inprocess import run_here


def test_an_apply_that_stops_reports_what_was_done_and_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    copy_example(tmp_path)
    assert run_here("plan", "digits.yaml", "-out", "p.json", cwd=tmp_path).returncode == 0
    missing = sorted((tmp_path / "digits" / "one").glob("*.png"))[0]
    missing.unlink()  # after the plan: its upload fails, so training is skipped

    applied = run_here("apply", "p.json", "--report-out", "r.md", cwd=tmp_path)
    assert applied.returncode == 1
    report = (tmp_path / "r.md").read_text()
    assert report.startswith(
        "<!-- cvspec-apply-report project=digits-example -->\n"
        "### cvspec apply failed for `digits-example`\n"
    )
    assert "Operations: 5 done, 0 failed, 2 skipped (of 7 planned)." in report
    skipped = report.split("**Skipped**", 1)[1].split("**Failures**", 1)[0]
    assert "`+ iteration.cvspec-" in skipped and "`+ publish.digits-latest" in skipped
    assert f"* digits/one/{missing.name}: cannot read the file" in report
    assert "has no evaluation (it was not trained)." in report


def test_nothing_to_apply_still_writes_a_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.yaml").write_text(
        "version: 1\nproject:\n  name: report-empty\n  classification: multiclass\ntraining: null\n"
    )
    first = run_here("apply", "empty.yaml", "--auto-approve", "--detailed-exitcode", cwd=tmp_path)
    assert first.returncode == 2, first.stderr
    again = run_here(
        "apply",
        "empty.yaml",
        "--auto-approve",
        "--detailed-exitcode",
        "--report-out",
        "r.md",
        cwd=tmp_path,
    )
    assert again.returncode == 0, again.stderr
    report = (tmp_path / "r.md").read_text()
    assert "Operations: 0 done, 0 failed, 0 skipped (of 0 planned)." in report
    assert "**Evaluation**: this apply trained no iteration." in report
