"""`cvspec test` on the built-in emulator, through the CLI: the confusion matrix and figures
against the official prediction SDK's own answers, the gates' exit status, and bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.emulator.support import PALETTE, make_image
from tests.helpers import copy_example
from tests.reports_support import (
    COLOURS,
    applied_colours,
    applied_digits,
    applied_multilabel,
    colour_testset,
    digits_testset,
    expected_matrix,
    invoke,
    run_json,
    sdk_probabilities,
    sdk_top1,
)


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("digits")
    spec = applied_digits(root)
    return spec, digits_testset(root / "heldout")


@pytest.fixture(scope="module")
def colours(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[Path]]:
    root = tmp_path_factory.mktemp("colours")
    spec = applied_colours(root)
    folder, wrong = colour_testset(root / "testset")
    return spec, folder, wrong


def test_digits_confusion_matrix_is_the_sdks(digits: tuple[Path, Path]) -> None:
    spec, heldout = digits
    status, doc, stderr = run_json("test", spec.name, "heldout", cwd=spec.parent)
    assert status in (0, 3), stderr
    tags = ["one", "seven", "zero"]
    answers = sdk_top1(spec, "digits-example", "digits-latest", heldout)
    assert doc["confusion_matrix"] == {"labels": tags, "rows": expected_matrix(answers, tags)}
    right = sum(1 for path, top in answers.items() if Path(path).parent.name == top)
    assert (doc["images"], doc["correct"]) == (len(answers), right)
    assert doc["accuracy"] == pytest.approx(right / len(answers))
    wrong = {Path(m["path"]).name for m in doc["misclassified"]}
    assert wrong == {Path(p).name for p, top in answers.items() if Path(p).parent.name != top}


def test_digits_training_images_are_all_right(digits: tuple[Path, Path]) -> None:
    """The example's own images, which the emulator's model learnt, through a manifest."""
    spec, _ = digits
    rows = ["path,tags"] + [
        f"digits/{tag}/{tag}-{n:02d}.png,{tag}" for tag in ("zero", "one", "seven") for n in (0, 5)
    ]
    (spec.parent / "known.csv").write_text("\n".join(rows) + "\n")
    status, doc, stderr = run_json("test", spec.name, "known.csv", cwd=spec.parent)
    assert status == 0, stderr
    assert doc["confusion_matrix"]["rows"] == [[2, 0, 0], [0, 2, 0], [0, 0, 2]]
    assert doc["accuracy"] == 1.0 and doc["misclassified"] == [] and doc["passed"]


def test_colours_mislabelled_images_land_off_the_diagonal(
    colours: tuple[Path, Path, list[Path]],
) -> None:
    spec, folder, wrong = colours
    status, doc, stderr = run_json("test", spec.name, "testset", cwd=spec.parent)
    assert status == 0, stderr  # the spec has no gates
    tags = sorted(COLOURS)
    answers = sdk_top1(spec, "colours", "colours-latest", folder)
    assert doc["confusion_matrix"]["rows"] == expected_matrix(answers, tags)
    rows = dict(zip(tags, doc["confusion_matrix"]["rows"], strict=True))
    assert rows["blue"][tags.index("red")] >= len(wrong)  # red images labelled blue
    missed = {Path(m["path"]).name: m for m in doc["misclassified"]}
    for path in wrong:
        assert missed[path.name]["labels"] == ["blue"]
        assert missed[path.name]["predictions"][0]["tag"] == "red"
    blue = next(t for t in doc["per_tag"] if t["tag"] == "blue")
    assert blue["images"] == 4 + len(wrong)
    assert blue["recall"] == pytest.approx(blue["true_positives"] / blue["images"])


def test_min_accuracy_gates_the_exit_status(colours: tuple[Path, Path, list[Path]]) -> None:
    spec, _, wrong = colours
    failed = invoke("test", spec.name, "testset", "--min-accuracy", "0.99", cwd=spec.parent)
    assert failed.returncode == 3, failed.stdout + failed.stderr
    assert "accuracy: " in failed.stdout and "< 0.990" in failed.stdout
    assert f"{wrong[0].name}: labelled blue; predicted red" in failed.stdout
    passed = invoke("test", spec.name, "testset", "--min-accuracy", "0.5", cwd=spec.parent)
    assert passed.returncode == 0, passed.stdout + passed.stderr


def test_the_specs_gates_apply(colours: tuple[Path, Path, list[Path]]) -> None:
    spec, _, _ = colours
    strict = spec.parent / "strict.yaml"
    strict.write_text(spec.read_text() + "gates:\n  per_tag:\n    blue:\n      min_recall: 0.99\n")
    result = invoke("test", strict.name, "testset", cwd=spec.parent)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "per_tag.blue.min_recall" in result.stdout
    ignored = invoke("test", strict.name, "testset", "--no-gates", cwd=spec.parent)
    assert ignored.returncode == 0, ignored.stdout + ignored.stderr


def test_unknown_tags_are_one_line(colours: tuple[Path, Path, list[Path]]) -> None:
    spec, folder, _ = colours
    odd = folder.parent / "odd"
    (odd / "purple").mkdir(parents=True)
    (odd / "purple" / "a.png").write_bytes((folder / "red" / "red-t0.png").read_bytes())
    result = invoke("test", spec.name, "odd", cwd=spec.parent)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: the test set has tag(s) the project 'colours' does not have: purple "
        "(its tags: blue, green, red)"
    ]


def test_refused_images_are_reported_and_exit_1(colours: tuple[Path, Path, list[Path]]) -> None:
    spec, folder, _ = colours
    broken = folder.parent / "broken"
    (broken / "red").mkdir(parents=True)
    (broken / "red" / "good.png").write_bytes((folder / "red" / "red-t0.png").read_bytes())
    (broken / "red" / "bad.png").write_bytes(b"not an image at all" * 10)
    status, doc, _ = run_json("test", spec.name, "broken", cwd=spec.parent)
    assert status == 1
    assert [Path(r["path"]).name for r in doc["refused"]] == ["bad.png"]
    assert doc["refused"][0]["message"]
    assert doc["images"] == 1 and not doc["complete"] and not doc["passed"]
    text = invoke("test", spec.name, "broken", cwd=spec.parent)
    assert text.returncode == 1 and "! broken/red/bad.png: " in text.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--iteration", "nope"), "has no iteration 'nope'"),
        ((), "nothing is published as 'elsewhere'"),
    ],
)
def test_nothing_published_is_one_line(
    colours: tuple[Path, Path, list[Path]], extra: tuple[str, ...], message: str
) -> None:
    spec, _, _ = colours
    other = spec.parent / "other.yaml"
    other.write_text(spec.read_text().replace("colours-latest", "elsewhere"))
    result = invoke("test", other.name, "testset", *extra, cwd=spec.parent)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_json_document(colours: tuple[Path, Path, list[Path]]) -> None:
    spec, _, _ = colours
    status, doc, _ = run_json("test", spec.name, "testset", "--threshold", "0.9", cwd=spec.parent)
    assert status == 0
    assert doc["format_version"] == "1.0" and doc["threshold"] == 0.9
    assert doc["classification"] == "multiclass" and doc["publish_name"] == "colours-latest"
    keys = {"precision", "recall", "average_precision", "true_positives", "false_positives"}
    assert all(keys <= set(t) for t in doc["per_tag"])
    counts: dict[str, Any] = {t["tag"]: t for t in doc["per_tag"]}
    total = sum(t["true_positives"] + t["false_negatives"] for t in counts.values())
    assert total == doc["images"]
    json.dumps(doc)


def test_multilabel_counts_per_tag_are_the_sdks(tmp_path: Path) -> None:
    spec = applied_multilabel(tmp_path)
    images = {
        "red.png": (PALETTE["red"], ["red"]),
        "blue.png": (PALETTE["blue"], ["blue"]),
        "red-as-blue.png": (PALETTE["red"], ["blue"]),  # mislabelled
        "green.png": (PALETTE["green"], []),  # neither tag
    }
    lines = []
    for n, (name, (colour, tags)) in enumerate(images.items()):
        (tmp_path / name).write_bytes(make_image(colour, seed=95_000 + n))
        lines.append(json.dumps({"path": name, "tags": tags}))
    (tmp_path / "set.jsonl").write_text("\n".join(lines) + "\n")
    status, doc, stderr = run_json("test", spec.name, "set.jsonl", cwd=tmp_path)
    assert status == 0, stderr
    assert doc["classification"] == "multilabel" and doc["confusion_matrix"] is None
    probabilities = sdk_probabilities(
        spec, "colours-multi", "colours-latest", [tmp_path / name for name in images]
    )
    for tag in ("blue", "red"):
        said = [p.get(tag, 0.0) >= 0.5 for p in probabilities]
        truth = [tag in tags for _, tags in images.values()]
        pairs = list(zip(truth, said, strict=True))
        row = next(t for t in doc["per_tag"] if t["tag"] == tag)
        assert row["true_positives"] == pairs.count((True, True))
        assert row["false_positives"] == pairs.count((False, True))
        assert row["false_negatives"] == pairs.count((True, False))
        assert row["true_negatives"] == pairs.count((False, False))
    exact = sum(
        {t for t in ("blue", "red") if p.get(t, 0.0) >= 0.5} == set(tags)
        for p, (_, tags) in zip(probabilities, images.values(), strict=True)
    )
    assert doc["correct"] == exact < len(images)  # the mislabelled image cannot match
    assert "red-as-blue.png" in {m["path"] for m in doc["misclassified"]}
    html = invoke("test", spec.name, "set.jsonl", "--format", "html", cwd=tmp_path)
    assert html.returncode == 0 and 'data-chart="per-tag"' in html.stdout
    assert 'data-chart="confusion"' not in html.stdout  # no confusion matrix in multilabel


@pytest.mark.parametrize(
    ("files", "testset", "message"),
    [
        ({"set/zero/notes.txt": "x"}, "set", "test set set: no images found"),
        ({"set/x.png": "x"}, "set", "test set set: no images in tag folders (set/TAG/IMAGE)"),
        (
            {"m.csv": "path,tags\nmissing.png,zero\n"},
            "m.csv",
            "m.csv:2: missing.png: file not found",
        ),
        (
            {"m.jsonl": '{"path": "digits/zero/zero-00.png", "tags": ["zero", "one"]}\n'},
            "m.jsonl",
            "zero-00.png: has 2 labels; a multiclass test image has exactly one",
        ),
        ({}, "nowhere", "not a folder, a .csv/.jsonl manifest or a glob with {tag}"),
    ],
)
def test_bad_test_sets_are_one_line(
    tmp_path: Path, files: dict[str, str], testset: str, message: str
) -> None:
    spec = copy_example(tmp_path)  # not applied: the test set is read first
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    result = invoke("test", spec.name, testset, cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_iteration_by_name(colours: tuple[Path, Path, list[Path]]) -> None:
    spec, _, _ = colours
    _, published, _ = run_json("test", spec.name, "testset", cwd=spec.parent)
    other = spec.parent / "nopublish.yaml"  # a spec that publishes nothing needs --iteration
    other.write_text(spec.read_text().split("publish:")[0])
    refused = invoke("test", other.name, "testset", cwd=spec.parent)
    assert refused.returncode == 1 and "give --iteration" in refused.stderr
    status, named, stderr = run_json(
        "test", other.name, "testset", "--iteration", published["iteration"], cwd=spec.parent
    )
    assert status == 0, stderr
    assert named["confusion_matrix"] == published["confusion_matrix"]
    assert named["publish_name"] == "colours-latest"
