"""The HTML reports, opened in a real headless browser: Debian's Chromium (/usr/bin/chromium,
installed by .ci/run), driven by Playwright; nothing is downloaded. Each page must load its
thumbnails, show the counts of the plan's JSON, draw its charts, log no console error and
fetch nothing from the network; a screenshot of each is saved as a test artifact
(CVSPEC_TEST_ARTIFACTS, else pytest's temporary folder; the path is printed)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from cvspec import ops
from cvspec.html.plan_view import SAMPLE
from cvspec.html.report import render_plan_html
from cvspec.plan import Plan
from tests.emulator.support import training_client
from tests.reports_support import (
    applied_digits,
    digits_testset,
    emulator_of,
    invoke,
    run_json,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # No skip: without the browser these tests fail (CI installs it, see .ci/run).
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver (as .ci/run does)"
    )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("CVSPEC_TEST_ARTIFACTS") or tmp_path_factory.mktemp("artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Opened:
    page: Page
    errors: list[str] = field(default_factory=list)
    network: list[str] = field(default_factory=list)


@pytest.fixture
def open_report(browser: Browser, artifacts: Path) -> Iterator[Any]:
    pages: list[Page] = []

    def opener(html: str, name: str) -> Opened:
        path = artifacts / f"{name}.html"
        path.write_text(html, encoding="utf-8")
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        pages.append(page)
        opened = Opened(page)
        page.on("console", lambda m: m.type == "error" and opened.errors.append(m.text))
        page.on("pageerror", lambda e: opened.errors.append(str(e)))
        page.on("dialog", lambda d: (opened.errors.append(f"dialog: {d.message}"), d.dismiss()))
        page.on(
            "request",
            lambda r: r.url.startswith(("data:", "file:")) or opened.network.append(r.url),
        )
        page.goto(path.as_uri(), wait_until="load")
        shot = artifacts / f"{name}.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")
        return opened

    yield opener
    for page in pages:
        page.close()


def broken_images(page: Page) -> list[str]:
    """The images of the page that did not load (naturalWidth 0)."""
    return list(
        page.eval_on_selector_all(
            "img", "els => els.filter(e => !e.complete || e.naturalWidth === 0).map(e => e.alt)"
        )
    )


def shown_counts(page: Page) -> dict[str, int]:
    return {
        key: int(value)
        for key, value in page.eval_on_selector_all(
            ".card [data-count]", "els => els.map(e => [e.dataset.count, e.textContent])"
        )
    }


def groups(page: Page) -> dict[tuple[str, str], tuple[int, int]]:
    """(action, label) -> (full count shown, thumbnails shown) of every image group."""
    found = page.eval_on_selector_all(
        ".group",
        "els => els.map(e => [e.dataset.action, e.dataset.label, +e.dataset.count,"
        " e.querySelectorAll('img').length])",
    )
    return {(a, label): (count, imgs) for a, label, count, imgs in found}


def tag_table(page: Page) -> dict[str, list[str]]:
    rows = page.eval_on_selector_all(
        "table.tag-counts tbody tr",
        "els => els.map(e => [...e.querySelectorAll('td')].map(td => td.textContent))",
    )
    return {row[0]: row[1:] for row in rows}


def assert_clean(opened: Opened) -> None:
    assert opened.errors == []
    assert opened.network == []
    assert broken_images(opened.page) == []


def expected_counts(doc: dict[str, Any]) -> dict[str, int]:
    s = doc["summary"]
    return {
        "add": s["add"],
        "change": s["change"],
        "destroy": s["destroy"],
        "images.upload": s["images"]["upload"],
        "images.retag": s["images"]["retag"],
        "images.delete": s["images"]["delete"],
    }


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example, not applied: its plan uploads everything."""
    root = tmp_path_factory.mktemp("fresh")
    shutil.copytree(Path(__file__).parents[1] / "specs" / "digits", root / "digits")
    shutil.copy(Path(__file__).parents[1] / "specs" / "digits.yaml", root / "digits.yaml")
    return root / "digits.yaml"


@pytest.fixture(scope="module")
def edited(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example applied, then edited: two `one` images move to `seven` (retag), two
    `zero` images are removed with prune.images on (delete)."""
    root = tmp_path_factory.mktemp("edited")
    spec = applied_digits(root)
    for n in (0, 1):
        (root / "digits" / "one" / f"one-0{n}.png").rename(root / "digits" / "seven" / f"m{n}.png")
        (root / "digits" / "zero" / f"zero-0{n}.png").unlink()
    spec.write_text(spec.read_text() + "prune:\n  images: true\n")
    digits_testset(root / "heldout")
    return spec


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example applied; then a retag trained under gates it fails (so it is not
    published); then the gates relaxed: the plan publishes the trained iteration."""
    root = tmp_path_factory.mktemp("gated")
    spec = applied_digits(root)
    (root / "digits" / "one" / "one-00.png").rename(root / "digits" / "seven" / "m.png")
    relaxed = spec.read_text()
    strict = relaxed.replace("min_precision: 0.6", "min_precision: 0.6\n  min_recall: 1.0")
    spec.write_text(strict)
    failed = invoke("apply", spec.name, "--auto-approve", cwd=root)
    assert failed.returncode == 1 and "quality gate failed" in failed.stderr, failed.stderr
    spec.write_text(relaxed)
    return spec


def sdk_evaluations(spec: Path) -> dict[str, dict[str, list[str]]]:
    """Iteration name -> tag -> [precision, recall, AP] as the report prints them, read with
    the official training SDK (GetIterationPerformance at threshold 0.5)."""
    found: dict[str, dict[str, list[str]]] = {}
    with emulator_of(spec) as server:
        trainer = training_client(server)
        project = next(p for p in trainer.get_projects() if p.name == "digits-example")
        for iteration in trainer.get_iterations(project.id):
            perf = trainer.get_iteration_performance(project.id, iteration.id, threshold=0.5)
            found[iteration.name.split("-failed-")[0]] = {
                t.name: [f"{v:.1%}" for v in (t.precision, t.recall, t.average_precision)]
                for t in perf.per_tag_performance
            }
    return found


def test_plan_of_uploads(fresh: Path, open_report: Any) -> None:
    status, doc, stderr = run_json("plan", fresh.name, cwd=fresh.parent)
    assert status == 0, stderr
    html = invoke("plan", fresh.name, "--format", "html", cwd=fresh.parent)
    assert html.returncode == 0, html.stderr
    opened = open_report(html.stdout, "plan-uploads")
    assert_clean(opened)
    assert shown_counts(opened.page) == expected_counts(doc)
    found = groups(opened.page)
    assert found == {("upload", tag): (8, 8) for tag in ("one", "seven", "zero")}
    assert sum(count for count, _ in found.values()) == doc["summary"]["images"]["upload"]
    assert tag_table(opened.page)["one"] == ["0", "8", "0", "0", "0", "8"]
    evaluation = opened.page.locator("#evaluation").inner_text()
    assert "trained by apply" in evaluation
    assert "nothing is published as 'digits-latest'" in evaluation


def test_plan_of_retags_and_deletes(edited: Path, open_report: Any) -> None:
    status, doc, stderr = run_json("plan", edited.name, cwd=edited.parent)
    assert status == 0, stderr
    assert (doc["summary"]["images"]["retag"], doc["summary"]["images"]["delete"]) == (2, 2)
    html = invoke("plan", edited.name, "--format", "html", cwd=edited.parent)
    opened = open_report(html.stdout, "plan-retag-delete")
    assert_clean(opened)  # the deleted images' thumbnails come from the service
    assert shown_counts(opened.page) == expected_counts(doc)
    found = groups(opened.page)
    assert found[("retag", "one → seven")] == (2, 2)
    assert found[("delete", "zero")] == (2, 2)
    table = tag_table(opened.page)
    assert table["one"] == ["8", "0", "0", "0", "2", "6"]
    assert table["seven"] == ["8", "0", "0", "2", "0", "10"]
    assert table["zero"] == ["8", "0", "2", "0", "0", "6"]
    published = opened.page.locator("section.evaluation", has_text="Published")
    assert published.locator("svg[data-chart='precision-recall'] rect").count() == 6
    assert "trained by apply" in opened.page.locator("#evaluation").inner_text()


def test_new_and_published_evaluations_side_by_side(gated: Path, open_report: Any) -> None:
    status, doc, stderr = run_json("plan", gated.name, cwd=gated.parent)
    assert status == 0, stderr
    old, new = doc["summary"]["publishing"].split()[-3::2]  # move 'NAME' OLD -> NEW
    html = invoke("plan", gated.name, "--format", "html", cwd=gated.parent)
    opened = open_report(html.stdout, "plan-evaluations")
    assert_clean(opened)
    columns = opened.page.locator("section.evaluation")
    assert columns.count() == 2
    expected = sdk_evaluations(gated)
    for k, name in enumerate((new, old)):  # the new iteration first, then the published
        column = columns.nth(k)
        assert name in column.locator("h3").inner_text()
        assert column.locator("svg[data-chart='precision-recall'] rect").count() == 6
        rows = column.locator("tbody tr").evaluate_all(
            "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
        )
        assert {row[0]: row[1:] for row in rows} == expected[name]
    assert expected[old] != expected[new]  # the retag changed the figures


def test_saved_plan_shown_as_html(edited: Path, open_report: Any) -> None:
    saved = invoke("plan", edited.name, "-out", "edit.plan", cwd=edited.parent)
    assert saved.returncode == 0, saved.stderr
    status, doc, _ = run_json("show", "edit.plan", cwd=edited.parent)
    html = invoke("show", "edit.plan", "--format", "html", cwd=edited.parent)
    assert status == 0 and html.returncode == 0, html.stderr
    opened = open_report(html.stdout, "show-retag-delete")
    assert opened.errors == [] and opened.network == []
    assert broken_images(opened.page) == []
    assert shown_counts(opened.page) == expected_counts(doc)
    # no service: the retagged files are on disk, the deleted images are placeholders
    assert groups(opened.page)[("retag", "one → seven")] == (2, 2)
    assert groups(opened.page)[("delete", "zero")] == (2, 0)
    url = "https://ci.example/run 7/plan.html"
    comment = invoke(
        "show", "edit.plan", "--format", "markdown", "--html-link", url, cwd=edited.parent
    )
    lines = comment.stdout.splitlines()
    title = next(n for n, line in enumerate(lines) if line.startswith("### Plan: 1 to add"))
    assert lines[title + 2] == (
        "[Visual report (HTML): thumbnails, tag counts, evaluations]"
        "(https://ci.example/run%207/plan.html)"
    )


def test_test_report(edited: Path, open_report: Any) -> None:
    status, doc, _ = run_json("test", edited.name, "heldout", cwd=edited.parent)
    html = invoke("test", edited.name, "heldout", "--format", "html", cwd=edited.parent)
    assert html.returncode == status
    opened = open_report(html.stdout, "test-report")
    assert_clean(opened)
    page = opened.page
    assert page.locator("svg[data-chart='confusion'] rect").count() == 9
    shown = page.eval_on_selector_all(
        "table.confusion tr", "els => els.map(r => [...r.cells].map(c => +c.textContent))"
    )
    assert shown == doc["confusion_matrix"]["rows"]
    assert page.locator("svg[data-chart='per-tag'] rect").count() == 9
    assert page.locator("figure.miss img").count() == len(doc["misclassified"])
    assert page.locator("[data-figure='images']").inner_text() == str(doc["images"])


def test_names_are_escaped_and_groups_bounded(open_report: Any) -> None:
    hostile = "<img src=x onerror=alert(1)>"
    uploads = tuple(
        ops.ImageUpload(f"{n:064x}", f"{hostile}{n}.png", (f"<b>{hostile}</b>",))
        for n in range(SAMPLE + 5)
    )
    plan = Plan(
        project_name=f"<script>alert('p')</script>{hostile}",
        operations=(ops.UploadImages(reason="r", reason_code=ops.Reason.MISSING, images=uploads),),
        drift=(),
        live_fingerprint="",
    )
    opened = open_report(render_plan_html(plan, None), "escaped")
    assert opened.errors == [] and opened.network == []
    assert opened.page.locator("img[src='x']").count() == 0
    assert opened.page.locator("script").count() == 0
    assert hostile in opened.page.locator("h1").inner_text()
    group = opened.page.locator(".group")
    assert group.get_attribute("data-count") == str(SAMPLE + 5)
    assert group.locator("figure").count() == SAMPLE
    assert "… and 5 more" in group.inner_text()
