"""The summary counts everything, and text, JSON and Markdown agree on every count.

Table-driven plans built from operations (every operation type), then the same agreement
through the CLI on the built-in emulator, for situations the diff produces (uploads,
retags, deletions, a new tag, retraining that moves the publish name).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from PIL import Image

from cvspec import ops
from cvspec.cli import main
from cvspec.emulator.server import EmulatorServer
from cvspec.live import LiveSummary
from cvspec.markdown import render_markdown
from cvspec.plan import Plan, order
from cvspec.render import RESOURCES, plan_document, render_text, summarize
from tests.helpers import copy_example, emulator_env, run_cli

R = ops.Reason
RID = "/subscriptions/0/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/p"
GENERAL = "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31"
GENERAL_A2 = "2e37d7fb-3a54-486a-b4d6-cfc369af0018"
DOMAINS = {GENERAL: "General", GENERAL_A2: "General [A2]"}


def plan_of(*operations: ops.Op, destroy: bool = False) -> Plan:
    """A plan of exactly these operations (in execution order), as the diff would make it."""
    published = ("prod=it1",)
    return Plan(
        project_name="p",
        operations=order(list(operations)),
        drift=(),
        live_fingerprint="f" * 64,
        live_summary=LiveSummary("pid", 3, 24, 21, 4, published),
        target="emulator",
        destroy=destroy,
        domains=DOMAINS,
    )


# --- one builder per operation type -----------------------------------------------------


def create_project(code: R = R.MISSING) -> ops.CreateProject:
    return ops.CreateProject(
        reason="the project does not exist",
        reason_code=code,
        name="p",
        description="",
        domain_id=GENERAL_A2,
        classification_type="Multilabel",
    )


def delete_project(code: R = R.REPLACE_BECAUSE_CANNOT_UPDATE) -> ops.DeleteProject:
    return ops.DeleteProject(
        reason="classification type changes from Multiclass to Multilabel",
        reason_code=code,
        project_id="pid",
        name="p",
        settings={"description": "", "domain_id": GENERAL, "classification_type": "Multiclass"},
        losses=(
            "24 images, 3 of them not uploaded by cvspec",
            "4 iterations",
            "publish name 'prod' (clients calling it will fail)",
        ),
    )


def update_project() -> ops.UpdateProject:
    return ops.UpdateProject(
        reason="description, domain differs from the spec",
        reason_code=R.SETTINGS_DIFFER,
        project_id="pid",
        name="p",
        before={"description": "", "domain_id": GENERAL},
        after={"description": "new", "domain_id": GENERAL_A2},
    )


def create_tag(name: str) -> ops.CreateTag:
    return ops.CreateTag(
        reason="the tag is not in the project",
        reason_code=R.MISSING,
        name=name,
        description="",
        type="Regular",
    )


def update_tag() -> ops.UpdateTag:
    return ops.UpdateTag(
        reason="description differs from the spec",
        reason_code=R.SETTINGS_DIFFER,
        tag_id="ta",
        name="a",
        before={"description": ""},
        after={"description": "apples"},
    )


def delete_tag() -> ops.DeleteTag:
    return ops.DeleteTag(
        reason="the spec does not list it (prune.tags)",
        reason_code=R.NOT_IN_SPEC,
        tag_id="tc",
        name="c",
    )


def _sha(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


def upload(*images: tuple[int, tuple[str, ...]]) -> ops.UploadImages:
    return ops.UploadImages(
        reason="the images are not in the project",
        reason_code=R.MISSING,
        images=tuple(ops.ImageUpload(_sha(n), f"img/{n}.png", tags) for n, tags in images),
    )


def add_tags(*images: tuple[int, tuple[str, ...]]) -> ops.AddImageTags:
    return ops.AddImageTags(
        reason="the images' tags differ from the spec",
        reason_code=R.TAGS_DIFFER,
        images=tuple(ops.ImageRetag(f"i{n}", f"img/{n}.png", tags) for n, tags in images),
    )


def remove_tags(*images: tuple[int, tuple[str, ...]]) -> ops.RemoveImageTags:
    return ops.RemoveImageTags(
        reason="the images' tags differ from the spec",
        reason_code=R.TAGS_DIFFER,
        images=tuple(ops.ImageRetag(f"i{n}", f"img/{n}.png", tags) for n, tags in images),
    )


def delete_images(*numbers: int) -> ops.DeleteImages:
    return ops.DeleteImages(
        reason="the spec no longer lists the images (prune.images)",
        reason_code=R.NOT_IN_SPEC,
        image_ids=tuple(f"i{n}" for n in numbers),
        tags=tuple(("a",) for _ in numbers),
    )


def adopt(*numbers: int) -> ops.AdoptPendingImages:
    return ops.AdoptPendingImages(
        reason="an apply was interrupted before it recorded the images' identity",
        reason_code=R.PENDING_IMAGES,
        image_ids=tuple(f"i{n}" for n in numbers),
    )


def rename_iteration() -> ops.RenameIteration:
    return ops.RenameIteration(
        reason="an interrupted apply started it for this dataset",
        reason_code=R.INTERRUPTED_TRAINING,
        iteration_id="it9",
        iteration_name="Iteration 9",
        new_name="cvspec-new",
    )


def train(wait_only: bool = False) -> ops.Train:
    return ops.Train(
        reason="the images, tags or training settings changed since iteration 'cvspec-old'",
        reason_code=R.TRAINING_IN_PROGRESS if wait_only else R.DATASET_CHANGED,
        iteration_name="cvspec-new",
        training_type="Regular",
        budget_hours=0,
        notification_email=None,
        force=False,
        wait_only=wait_only,
        previous_iteration="cvspec-old",
        selected_tags=("a", "b"),
    )


def publish(name: str = "prod", from_iteration: str | None = None) -> ops.Publish:
    return ops.Publish(
        reason=f"{name!r} is published from {from_iteration!r}"
        if from_iteration
        else f"nothing is published as {name!r}",
        reason_code=R.PUBLISH_MOVES if from_iteration else R.NOT_PUBLISHED,
        iteration_name="cvspec-new",
        publish_name=name,
        prediction_resource_id=RID,
        from_iteration=from_iteration,
    )


def unpublish(name: str = "old") -> ops.Unpublish:
    return ops.Unpublish(
        reason=f"cvspec published {name!r} and the spec now publishes under another name",
        reason_code=R.PUBLISH_NAME_DROPPED,
        iteration_id="it1",
        iteration_name="cvspec-old",
        publish_name=name,
    )


def delete_iteration(name: str = "cvspec-older", after_publish: bool = True) -> ops.DeleteIteration:
    return ops.DeleteIteration(
        reason="more iterations than publish.keep (3)" if after_publish else "the limit",
        reason_code=R.RETENTION if after_publish else R.ITERATION_LIMIT,
        iteration_id=f"id-{name}",
        iteration_name=name,
        after_publish=after_publish,
    )


ACCOUNTS = "/subscriptions/s/resourceGroups/g/providers/Microsoft.CognitiveServices/accounts"


def create_account(name: str = "cvtrain", kind: str = "CustomVision.Training") -> ops.CreateAccount:
    return ops.CreateAccount(
        reason="the account does not exist",
        reason_code=R.ACCOUNT_MISSING,
        name=name,
        arm_id=f"{ACCOUNTS}/{name}",
        role="training",
        kind=kind,
        sku="S0",
        location="westeurope",
    )


def update_sku(name: str = "cvtrain") -> ops.UpdateAccountSku:
    return ops.UpdateAccountSku(
        reason="the account's SKU is F0, the spec says S0",
        reason_code=R.SKU_DIFFERS,
        name=name,
        arm_id=f"{ACCOUNTS}/{name}",
        kind="CustomVision.Training",
        before="F0",
        after="S0",
    )


def delete_account(name: str = "cvtrain") -> ops.DeleteAccount:
    return ops.DeleteAccount(
        reason="resources.destroy_with_project is true",
        reason_code=R.DESTROY_ACCOUNT,
        name=name,
        arm_id=f"{ACCOUNTS}/{name}",
        kind="CustomVision.Training",
    )


# --- the table: (name, operations, destroy plan?, {kind: (add, change, destroy)}) ------------

Counts = dict[str, tuple[int, int, int]]
CASES: list[tuple[str, tuple[ops.Op, ...], bool, Counts]] = [
    (
        "a new project: everything is added",
        (
            create_project(),
            create_tag("a"),
            create_tag("b"),
            upload((1, ("a",)), (2, ("b",)), (3, ("a", "b"))),
            train(),
            publish(),
        ),
        False,
        {"project": (1, 0, 0), "tag": (2, 0, 0), "image": (3, 0, 0)}
        | {"iteration": (1, 0, 0), "publish": (1, 0, 0)},
    ),
    (
        "a replacement is one add and one destroy",
        (delete_project(), create_project(R.REPLACE_BECAUSE_CANNOT_UPDATE), create_tag("a")),
        False,
        {"project": (1, 0, 1), "tag": (1, 0, 0)},
    ),
    (
        "project and tag settings, a pruned tag",
        (update_project(), update_tag(), delete_tag()),
        False,
        {"project": (0, 1, 0), "tag": (0, 1, 1)},
    ),
    (
        "an image untagged then tagged again is one change",
        (remove_tags((1, ("a",))), add_tags((1, ("b",)), (2, ("b",)))),
        False,
        {"image": (0, 2, 0)},
    ),
    (
        "images deleted and uploaded",
        (delete_images(1, 2, 3), upload((4, ("a",)))),
        False,
        {"image": (1, 0, 3)},
    ),
    (
        "pending images adopted are changes",
        (adopt(1, 2, 3), add_tags((4, ("a",)))),
        False,
        {"image": (0, 4, 0)},
    ),
    (
        "retraining moves the publish name in place; retention deletes after",
        (train(), publish(from_iteration="cvspec-old"), delete_iteration()),
        False,
        {"iteration": (1, 0, 1), "publish": (0, 1, 0)},
    ),
    (
        "waiting for a training adds nothing",
        (train(wait_only=True), publish()),
        False,
        {"publish": (1, 0, 0)},
    ),
    (
        "an interrupted training is adopted (renamed); the limit frees room first",
        (rename_iteration(), delete_iteration("cvspec-oldest", after_publish=False), train()),
        False,
        {"iteration": (1, 1, 1)},
    ),
    (
        "a changed publish name: the new one is added, the old one destroyed",
        (publish("v2"), unpublish("v1")),
        False,
        {"publish": (1, 0, 1)},
    ),
    (
        "cvspec destroy",
        (delete_project(R.DESTROY),),
        True,
        {"project": (0, 0, 1)},
    ),
    (
        "accounts created before the project; a changed SKU is a change",
        (create_account(), create_account("cvpredict", "CognitiveServices"), update_sku("other")),
        False,
        {"account": (2, 1, 0)},
    ),
    (
        "accounts the spec manages go with the project (destroy_with_project)",
        (create_project(), delete_account()),
        False,
        {"project": (1, 0, 0), "account": (0, 0, 1)},
    ),
]


def _expected(counts: Counts) -> dict[str, dict[str, int]]:
    return {
        kind: dict(zip(("add", "change", "destroy"), counts.get(kind, (0, 0, 0)), strict=True))
        for kind in RESOURCES
    }


def _total(counts: Counts) -> tuple[int, int, int]:
    a, c, d = zip(*counts.values(), strict=True)
    return sum(a), sum(c), sum(d)


def test_every_operation_type_is_in_the_table() -> None:
    used = {type(op) for _, operations, _, _ in CASES for op in operations}
    assert used == set(ops.op_types().values())


@pytest.mark.parametrize(
    ("operations", "destroy", "counts"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_text_json_and_markdown_agree_on_every_count(
    operations: tuple[ops.Op, ...], destroy: bool, counts: Counts
) -> None:
    plan = plan_of(*operations, destroy=destroy)
    add, change, gone = _total(counts)
    line = f"Plan: {add} to add, {change} to change, {gone} to destroy."

    assert {k: vars(v) for k, v in summarize(plan).by_resource.items()} == _expected(counts)

    text = render_text(plan)
    tail = text.split("\n\n")[-1].splitlines()
    assert tail[0] == line  # the counts head the summary lines
    if not destroy:
        assert _breakdown(tail[1:]) == _expected(counts)

    doc = plan_document(plan)
    summary = doc["summary"]
    assert (summary["add"], summary["change"], summary["destroy"]) == (add, change, gone)
    assert summary["by_resource"] == _expected(counts)
    images = summary["images"]
    assert images["upload"] == summary["by_resource"]["image"]["add"]
    assert images["retag"] + images["adopt"] == summary["by_resource"]["image"]["change"]
    assert images["delete"] == summary["by_resource"]["image"]["destroy"]

    markdown = render_markdown(plan).splitlines()
    assert markdown[0].startswith("<!-- cvspec-plan ")
    assert markdown[1] == f"### {line}"  # the first thing a reviewer reads
    shown = "\n".join(markdown).split("<pre><code>")[1].split("</code></pre>")[0]
    assert shown.splitlines() == tail[1:]


def _breakdown(lines: list[str]) -> dict[str, dict[str, int]]:
    """Read the per-kind lines back into counts (what a reviewer adds up)."""
    found = {kind: {"add": 0, "change": 0, "destroy": 0} for kind in RESOURCES}
    if lines[0].startswith("Accounts: "):
        accounts, *lines = lines
        for kind, count in (("add", "create "), ("change", " SKU "), ("destroy", "delete ")):
            found["account"][kind] = sum(count in part for part in accounts.split("; "))
    project, images, training, publishing = lines
    what = re.match(
        r"Project: ([a-z ]+); tags: (\d+) to create, (\d+) to update, (\d+) to delete\.$", project
    )
    assert what, project
    found["project"] = {
        "create": {"add": 1, "change": 0, "destroy": 0},
        "replace": {"add": 1, "change": 0, "destroy": 1},
        "update": {"add": 0, "change": 1, "destroy": 0},
        "destroy": {"add": 0, "change": 0, "destroy": 1},
        "no change": {"add": 0, "change": 0, "destroy": 0},
    }[what[1]]
    found["tag"] = dict(zip(("add", "change", "destroy"), map(int, what.groups()[1:]), strict=True))
    numbers = {k: int(n) for n, k in re.findall(r"(\d+) to (\w+)", images)}
    found["image"] = {
        "add": numbers["upload"],
        "change": numbers["retag"] + numbers.get("adopt", 0),
        "destroy": numbers["delete"],
    }
    renamed = re.search(r"(\d+) iteration\(s\) to rename", training)
    deleted = re.search(r"(\d+) old iteration\(s\) to delete", training)
    found["iteration"] = {
        "add": int(training.startswith("Training: new iteration")),
        "change": int(renamed[1]) if renamed else 0,
        "destroy": int(deleted[1]) if deleted else 0,
    }
    parts = [] if publishing == "Publishing: none." else publishing[12:-1].split("; ")
    found["publish"] = {
        "add": sum(1 for p in parts if p.startswith("'")),
        "change": sum(1 for p in parts if p.startswith("move ")),
        "destroy": sum(1 for p in parts if p.startswith("unpublish ")),
    }
    return found


def test_a_destroy_plan_says_what_goes_with_the_project_in_every_format() -> None:
    plan = plan_of(delete_project(R.DESTROY), destroy=True)
    assert render_text(plan).splitlines()[-3:] == [
        "Images: 24 to delete with the project.",
        "Training: 4 iteration(s) to delete with the project.",
        "Publishing: unpublish 'prod'.",
    ]
    gone = plan_document(plan)["summary"]["with_project"]
    assert gone == {"images": 24, "iterations": 4, "published": ["prod"]}


# --- through the CLI, on the emulator --------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with EmulatorServer(data_dir=tmp_path_factory.mktemp("summary-emulator")) as running:
        yield running


@pytest.fixture(scope="module")
def env(server: EmulatorServer) -> dict[str, str]:
    return emulator_env(server)


def cli(env: dict[str, str], *args: str | Path) -> Result:
    return CliRunner(env={**env, "COLUMNS": "100"}).invoke(main, [str(a) for a in args])


def formats(env: dict[str, str], spec: Path) -> tuple[str, dict[str, object], str]:
    """The plan of `spec` as text, JSON and Markdown, through the CLI."""
    text = cli(env, "plan", spec)
    doc = cli(env, "plan", spec, "--format", "json")
    markdown = cli(env, "plan", spec, "--format", "markdown")
    for result in (text, doc, markdown):
        assert result.exit_code == 0, result.output
    return text.output, json.loads(doc.output), markdown.output


def assert_agree(text: str, doc: dict[str, object], markdown: str) -> str:
    summary = doc["summary"]
    assert isinstance(summary, dict)
    line = (
        f"Plan: {summary['add']} to add, {summary['change']} to change, "
        f"{summary['destroy']} to destroy."
    )
    assert line in text.splitlines()
    assert markdown.splitlines()[1] == f"### {line}"
    by_resource = summary["by_resource"]
    for key in ("add", "change", "destroy"):
        assert summary[key] == sum(kind[key] for kind in by_resource.values())
    tail = text.rstrip("\n").split("\n\n")[-1].splitlines()
    assert _breakdown(tail[1:]) == by_resource
    return line


def test_the_three_formats_agree_through_the_cli(tmp_path: Path, env: dict[str, str]) -> None:
    spec = copy_example(tmp_path)
    spec.write_text(
        spec.read_text()
        .replace("name: digits-example", "name: summary-cli")
        .replace("publish:", "prune:\n  images: true\npublish:")
    )
    first = assert_agree(*formats(env, spec))
    # 1 project, 3 tags, 24 images, 1 iteration, 1 publish name
    assert first == "Plan: 30 to add, 0 to change, 0 to destroy."
    applied = cli(env, "apply", spec, "--auto-approve")
    assert applied.exit_code == 0, applied.output

    # A retag (a file moved to another tag's folder), a deletion, a new tag with new images.
    digits = spec.parent / "digits"
    moved = sorted((digits / "seven").glob("*.png"))[0]
    moved.rename(digits / "one" / moved.name)
    sorted((digits / "zero").glob("*.png"))[0].unlink()
    (digits / "two").mkdir()
    for n in range(5):
        Image.new("RGB", (16, 16), (40 * n, 200, 90)).save(digits / "two" / f"{n}.png")
    spec.write_text(
        spec.read_text().replace(
            "  - name: seven\n", "  - name: two\n    description: The digit 2\n  - name: seven\n"
        )
    )
    text, doc, markdown = formats(env, spec)
    second = assert_agree(text, doc, markdown)
    by_resource = doc["summary"]["by_resource"]  # type: ignore[index]
    assert by_resource["tag"] == {"add": 1, "change": 0, "destroy": 0}
    assert by_resource["image"] == {"add": 5, "change": 1, "destroy": 1}
    assert by_resource["iteration"]["add"] == 1
    assert by_resource["publish"] == {"add": 0, "change": 1, "destroy": 0}
    assert second == "Plan: 7 to add, 2 to change, 1 to destroy."
    assert "Images: 5 to upload, 1 to retag, 1 to delete." in text
    assert "~ publish.digits-latest" in text and "-/+" not in text
    assert "> **This plan deletes or replaces:** `images` (1 image(s))" in markdown
    assert "publish.digits-latest`" not in markdown.split("[!WARNING]")[1].split("\n\n")[0]


# --- the target, and colour in apply -----------------------------------------------------------


def test_plan_names_the_built_in_emulator_and_where_its_state_is(tmp_path: Path) -> None:
    copy_example(tmp_path)
    planned = run_cli("plan", "digits.yaml", cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    assert planned.stdout.startswith(
        "Target: built-in emulator (state in .cvspec/emulator), project 'digits-example'"
        "\n\nResource actions"
    )


def in_terminal(env: dict[str, str], cwd: Path, *args: str) -> str:
    """Run `cvspec ARGS` with its output on a pseudo-terminal (as a user at a terminal)."""
    import os
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "cvspec", *args],
        cwd=cwd,
        env={**env, "TERM": "xterm"},
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=300) == 0, b"".join(chunks).decode()
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_apply_names_its_target_and_colours_only_without_no_color(
    tmp_path: Path, env: dict[str, str], server: EmulatorServer
) -> None:
    spec = copy_example(tmp_path)
    spec.write_text(spec.read_text().replace("name: digits-example", "name: summary-colour"))
    env = {k: v for k, v in env.items() if k != "NO_COLOR"}
    plain = in_terminal(env, tmp_path, "apply", spec.name, "--auto-approve", "--no-color")
    target = f"Target: 127.0.0.1:{server.port}, project 'summary-colour'"
    assert plain.startswith(f"{target}\n\nResource actions")
    shown_plan = plain.split("Publishing: ")[0]  # the plan, before apply's progress
    assert "Plan: 30 to add, 0 to change, 0 to destroy." in shown_plan
    assert "\x1b[" not in shown_plan
    coloured = in_terminal(env, tmp_path, "apply", spec.name, "--auto-approve")
    assert coloured.startswith(f"{target}\n\n")
    assert "\x1b[1mNo changes. Your project matches the spec.\x1b[0m" in coloured
    for key in (server.training_key, server.prediction_key):
        assert key not in plain and key not in coloured


def test_destroy_shows_the_same_summary_as_plan_destroy(
    tmp_path: Path, env: dict[str, str]
) -> None:
    spec = copy_example(tmp_path)
    spec.write_text(spec.read_text().replace("name: digits-example", "name: summary-destroy"))
    assert cli(env, "apply", spec, "--auto-approve").exit_code == 0
    planned = cli(env, "plan", spec, "--destroy")
    summary = planned.output.rstrip("\n").split("\n\n")[-1]
    assert summary.splitlines() == [
        "Plan: 0 to add, 0 to change, 1 to destroy.",
        "Images: 24 to delete with the project.",
        "Training: 1 iteration(s) to delete with the project.",
        "Publishing: unpublish 'digits-latest'.",
    ]
    declined = CliRunner(env={**env, "COLUMNS": "100"}).invoke(
        main, ["destroy", str(spec)], input="no\n"
    )
    assert declined.exit_code == 1 and "destroy cancelled" in declined.output
    assert declined.output.startswith("Target: 127.0.0.1:")
    assert summary in declined.output
