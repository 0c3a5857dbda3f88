"""Rendering: exact text for representative plans, the JSON schema, the Markdown comment.

Plans are built from operations (tests.test_summary's builders) where the rendering of an
operation matters, and from the diff where the diff's output is settled.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from cvspec.desired import DesiredPublish
from cvspec.diff import destroy_plan, diff
from cvspec.live import LiveImage, LiveState
from cvspec.markdown import MARKDOWN_LIMIT, render_markdown
from cvspec.ops import Gates
from cvspec.plan import Plan
from cvspec.render import describe, render_json, render_text, target_line
from tests.test_diff import (
    DOMAINS,
    FOOD,
    GENERAL,
    IMAGES,
    RID2,
    desired,
    image,
    live,
)
from tests.test_summary import (
    R,
    add_tags,
    adopt,
    create_project,
    delete_iteration,
    delete_project,
    delete_tag,
    plan_of,
    publish,
    remove_tags,
    rename_iteration,
    train,
    unpublish,
    update_project,
    update_tag,
    upload,
)

UPDATE_PLAN = plan_of(
    update_project(),
    delete_tag(),
    update_tag(),
    remove_tags((3, ("b",))),
    upload((4, ("a",))),
    add_tags((3, ("a",))),
    train(),
    publish(from_iteration="cvspec-old"),
)

UPDATE_TEXT = """\
Resource actions are indicated with the following symbols:
    + create
    ~ update in-place
    - destroy

cvspec will perform the following actions:

  # project.p will be updated in-place
  # (because description, domain differs from the spec)
  ~ project.p
    ~ description = "" -> "new"
    ~ domain      = "General" -> "General [A2]"

  # tag.c will be destroyed
  # (because the spec does not list it (prune.tags))
  - tag.c

  # tag.a will be updated in-place
  # (because description differs from the spec)
  ~ tag.a
    ~ description = "" -> "apples"

  # images will be untagged
  # (because the images' tags differ from the spec)
  ~ images[b]  untag 1 image(s)

  # images will be uploaded
  # (because the images are not in the project)
  + images[a]  1 image(s)

  # images will be tagged
  # (because the images' tags differ from the spec)
  ~ images[a]  tag 1 image(s)

  # iteration.cvspec-new will be trained
  # (because the images, tags or training settings changed since iteration 'cvspec-old')
  + iteration.cvspec-new
      training_type = "Regular"
      selected_tags = ["a", "b"]

  # publish.prod will be updated in-place
  # (because 'prod' is published from 'cvspec-old')
  ~ publish.prod
    ~ iteration = "cvspec-old" -> "cvspec-new"

Plan: 2 to add, 4 to change, 1 to destroy.
Project: update; tags: 0 to create, 1 to update, 1 to delete.
Images: 1 to upload, 1 to retag, 0 to delete.
Training: new iteration cvspec-new.
Publishing: move 'prod' cvspec-old -> cvspec-new."""


def test_text_of_an_update_plan() -> None:
    assert render_text(UPDATE_PLAN) == UPDATE_TEXT


def test_a_publish_move_is_one_update_in_place_without_a_deletion_warning() -> None:
    plan = plan_of(train(), publish(from_iteration="cvspec-old"))
    text = render_text(plan)
    assert "  # publish.prod will be updated in-place\n" in text
    assert "\n  ~ publish.prod\n" in text
    assert "-/+" not in text and "replacement" not in text
    assert "WARNING" not in render_markdown(plan)
    change = json.loads(render_json(plan))["resource_changes"][-1]
    assert change["operations"] == ["Publish"]
    assert change["change"]["actions"] == ["update"]
    assert change["change"]["before"] == {"iteration": "cvspec-old"}
    assert change["change"]["after"]["iteration"] == "cvspec-new"


def test_a_dropped_publish_name_is_destroyed_with_a_warning_for_its_clients() -> None:
    plan = plan_of(train(), publish("v2"), unpublish("v1"))
    text = render_text(plan)
    assert (
        "  # publish.v1 will be destroyed\n"
        "  # (because cvspec published 'v1' and the spec now publishes under another name)\n"
        "  # warning: clients calling 'v1' will fail (\"Invalid iteration\")\n"
        "  - publish.v1\n"
    ) in text
    assert "Publishing: 'v2' -> cvspec-new; unpublish 'v1' from cvspec-old." in text
    markdown = render_markdown(plan)
    assert (
        "> **This plan deletes or replaces:** `publish.v1` (clients calling 'v1' will fail "
        '("Invalid iteration"))'
    ) in markdown
    assert "* **Delete**: `publish.v1`" in markdown
    change = json.loads(render_json(plan))["resource_changes"][-1]
    assert change["action_reason"] == "publish_name_not_in_spec"
    assert change["change"]["actions"] == ["delete"]
    assert change["notes"] == ["warning: clients calling 'v1' will fail (\"Invalid iteration\")"]


def test_a_renamed_iteration_is_an_update_of_its_old_address() -> None:
    text = render_text(plan_of(rename_iteration()))
    assert (
        "  # iteration.Iteration 9 will be renamed\n"
        "  # (because an interrupted apply started it for this dataset)\n"
        "  ~ iteration.Iteration 9\n"
        '    ~ name = "Iteration 9" -> "cvspec-new"\n'
    ) in text
    assert describe(rename_iteration()) == [
        "  ~ iteration.Iteration 9  # an interrupted apply started it for this dataset"
    ]


def test_adopted_images_are_an_images_update() -> None:
    plan = plan_of(adopt(2, 1))
    lines = render_text(plan, verbose=True).splitlines()
    start = lines.index("  # images will be adopted")
    assert lines[start + 2 : start + 5] == [
        "  ~ images  adopt 2 image(s)",
        "        i1",
        "        i2",
    ]
    change = json.loads(render_json(plan))["resource_changes"][0]
    assert change["operations"] == ["AdoptPendingImages"]
    assert change["change"]["actions"] == ["update"]
    assert describe(adopt(2, 1))[0].startswith("  ~ images  # adopt 2 image(s): ")


def test_waiting_for_a_training_is_a_read_not_a_create() -> None:
    plan = plan_of(train(wait_only=True))
    text = render_text(plan)
    assert "  # iteration.cvspec-new is training; apply waits for it\n" in text
    assert "\n <= iteration.cvspec-new\n" in text
    assert "Plan: 0 to add, 0 to change, 0 to destroy." in text
    assert "Training: wait for iteration cvspec-new." in text
    assert json.loads(render_json(plan))["resource_changes"][0]["change"]["actions"] == ["read"]
    assert "* **Wait for**: `iteration.cvspec-new`" in render_markdown(plan)


@pytest.mark.parametrize(
    ("previous", "lines", "paths"),
    [
        (
            {"training_type": "Regular", "budget_hours": 0},
            ['      training_type = "Regular" -> "Advanced"', "      budget_hours  = 0 -> 2"],
            ["training_type", "budget_hours"],
        ),
        (
            {"training_type": "Advanced", "budget_hours": 1},
            ['      training_type = "Advanced"', "      budget_hours  = 1 -> 2"],
            ["budget_hours"],
        ),
        (
            {"training_type": "Advanced", "budget_hours": 2},
            ['      training_type = "Advanced"', "      budget_hours  = 2"],
            [],
        ),
        ({}, ['      training_type = "Advanced"', "      budget_hours  = 2"], []),
    ],
    ids=["type-and-budget", "budget-only", "same-settings", "unknown"],
)
def test_a_new_iteration_shows_the_training_settings_that_change(
    previous: dict, lines: list[str], paths: list[str]
) -> None:
    op = replace(train(), training_type="Advanced", budget_hours=2, previous_settings=previous)
    plan = plan_of(op)
    text = render_text(plan)
    block = text[text.index("+ iteration.cvspec-new") :].splitlines()[1:3]
    assert block == lines
    (change,) = json.loads(render_json(plan))["resource_changes"]
    assert change["change"]["changed_paths"] == paths
    assert change["change"]["before"] == {"name": "cvspec-old", **previous}
    markdown = render_markdown(plan)
    assert all(line in markdown for line in lines)


def test_what_a_replacement_destroys_is_spelled_out() -> None:
    plan = plan_of(delete_project(), create_project(R.REPLACE_BECAUSE_CANNOT_UPDATE))
    text = render_text(plan)
    assert (
        "  # project.p must be replaced\n"
        "  # (because classification type changes from Multiclass to Multilabel)\n"
        "  # this destroys: 24 images, 3 of them not uploaded by cvspec\n"
        "  # this destroys: 4 iterations\n"
        "  # this destroys: publish name 'prod' (clients calling it will fail)\n"
        "-/+ project.p\n"
    ) in text
    assert '    ~ classification_type = "Multiclass" -> "Multilabel"  # forces replacement' in text
    assert '    ~ domain              = "General" -> "General [A2]"\n' in text  # not forcing
    markdown = render_markdown(plan)
    assert (
        "`project.p` (with 24 images, 3 of them not uploaded by cvspec; 4 iterations; "
        "publish name 'prod' (clients calling it will fail))"
    ) in markdown
    before = json.loads(render_json(plan))["resource_changes"][0]["change"]["before"]
    assert before["losses"] == list(delete_project().losses)
    assert before["domain"] == "General" and before["domain_id"] == GENERAL.id


def test_domains_are_shown_by_name() -> None:
    created = render_text(diff(desired(), LiveState(DOMAINS, None)))
    assert '      domain              = "General"\n' in created
    assert GENERAL.id not in created
    updated = diff(desired(domain="Food"), live())
    text = render_text(updated)
    assert "  # (because domain differs from the spec)\n" in text
    assert '    ~ domain = "General" -> "Food"' in text
    assert GENERAL.id not in text and FOOD.id not in text
    after = json.loads(render_json(updated))["resource_changes"][0]["change"]["after"]
    assert after == {"domain": "Food", "domain_id": FOOD.id}


def test_the_target_line_names_the_emulator_or_the_host_and_never_a_key() -> None:
    assert target_line("emulator", "http://127.0.0.1:5000", ".cvspec/emulator") == (
        "Target: built-in emulator (state in .cvspec/emulator)"
    )
    endpoint = "https://user:secret@my-vision.cognitiveservices.azure.com/?key=secret"
    assert target_line("azure", endpoint) == "Target: my-vision.cognitiveservices.azure.com"


def test_text_of_a_replacement_flags_what_forces_it() -> None:
    text = render_text(diff(desired(classification_type="Multilabel"), live()))
    assert "  # project.p must be replaced\n" in text
    assert "-/+ project.p\n" in text
    assert '    ~ classification_type = "Multiclass" -> "Multilabel"  # forces replacement' in text
    assert "Plan: 7 to add, 0 to change, 1 to destroy." in text  # replace = 1 add + 1 destroy
    assert "Project: replace; tags: 2 to create, 0 to update, 0 to delete." in text


def test_leaving_an_object_detection_domain_forces_the_replacement() -> None:
    from tests.test_diff import DETECTION, PROJECT

    text = render_text(diff(desired(), live(project=replace(PROJECT, domain_id=DETECTION.id))))
    assert '    ~ domain = "General (ObjectDetection)" -> "General"  # forces replacement' in text


def test_no_changes_wording() -> None:
    assert render_text(diff(desired(), live())) == (
        "No changes. Your project matches the spec.\n\n"
        "cvspec has compared the project in the service with the spec and found no "
        "differences, so no changes are needed."
    )
    nothing = destroy_plan("p", LiveState(DOMAINS, None), protect=False)
    assert render_text(nothing) == "No changes. No objects need to be destroyed."


def test_drift_comes_first_and_verbose_lists_images() -> None:
    plan = diff(desired(), live(images=(*IMAGES, LiveImage("u1", None, ("c",)))))
    text = render_text(plan, verbose=True)
    assert text.startswith(
        "Note: Objects have changed outside of cvspec\n\n"
        "  ! images: 1 image(s) in the project were not uploaded by cvspec; their tags are "
        "not in the spec, so they are not trained; kept\n"
        "      c: 1\n"
        "        u1\n\n"
        "This plan leaves them as they are.\n\n"
        "No changes."
    )
    assert "        u1" not in render_text(plan)


def test_verbose_lists_the_files_under_the_per_tag_counts() -> None:
    plan = diff(desired(), LiveState(DOMAINS, None))
    lines = render_text(plan, verbose=True).splitlines()
    start = lines.index("  + images[a]  1 image(s)")
    assert lines[start : start + 4] == [
        "  + images[a]  1 image(s)",
        "        img/1.png",
        "  + images[b]  1 image(s)",
        "        img/2.png",
    ]


def test_verbose_groups_files_under_their_tag_sorted() -> None:
    plan = plan_of(upload((3, ("b",)), (2, ("a", "b")), (1, ("a",)), (10, ("a",)), (4, ())))
    lines = render_text(plan, verbose=True).splitlines()
    start = lines.index("  # images will be uploaded") + 2
    assert lines[start : start + 10] == [
        "  + images[(untagged)]  1 image(s)",
        "        img/4.png",
        "  + images[a]           3 image(s)",
        "        img/1.png",
        "        img/10.png",
        "        img/2.png  [also b]",
        "  + images[b]           2 image(s)",
        "        img/2.png  [also a]",
        "        img/3.png",
        "",
    ]
    assert describe(plan.operations[0], verbose=True)[:2] == [
        "  + images[(untagged)]  # 1 image(s): the images are not in the project",
        "      img/4.png",
    ]


def test_colour_only_when_asked() -> None:
    assert "\x1b[" not in render_text(UPDATE_PLAN)
    coloured = render_text(UPDATE_PLAN, color=True)
    assert "\x1b[31m  -\x1b[0m tag.c" in coloured
    assert "\x1b[1mPlan: 2 to add, 4 to change, 1 to destroy.\x1b[0m" in coloured


def test_describe_is_one_line_per_operation_for_progress() -> None:
    first = UPDATE_PLAN.operations[0]
    assert describe(first) == ["  ~ project.p  # description, domain differs from the spec"]


def test_json_schema() -> None:
    doc = json.loads(render_json(diff(desired(classification_type="Multilabel"), live())))
    assert doc["format_version"] == "2.3"
    assert doc["summary"]["add"] == 7 and doc["summary"]["destroy"] == 1
    assert doc["summary"]["by_resource"]["project"] == {"add": 1, "change": 0, "destroy": 1}
    project = doc["resource_changes"][0]
    assert project["address"] == "project.p"
    assert project["operations"] == ["DeleteProject", "CreateProject"]
    assert project["action_reason"] == "replace_because_cannot_update"
    assert project["change"]["actions"] == ["delete", "create"]
    assert project["change"]["before"]["classification_type"] == "Multiclass"
    assert project["change"]["after"]["classification_type"] == "Multilabel"
    assert project["change"]["replace_paths"] == ["classification_type"]
    upload = next(c for c in doc["resource_changes"] if c["type"] == "images")
    assert upload["change"]["after"]["images"][0]["path"] == "img/1.png"


def test_json_lists_every_deletion_with_delete_in_its_actions() -> None:
    doc = json.loads(render_json(UPDATE_PLAN))
    deletes = [c["address"] for c in doc["resource_changes"] if "delete" in c["change"]["actions"]]
    assert deletes == ["tag.c"]
    moved = plan_of(delete_tag(), publish("v2"), unpublish("v1"), delete_iteration())
    doc = json.loads(render_json(moved))
    deletes = [c["address"] for c in doc["resource_changes"] if "delete" in c["change"]["actions"]]
    assert deletes == ["tag.c", "publish.v1", "iteration.cvspec-older"]
    assert doc["summary"]["destroy"] == 3


def test_markdown_puts_the_summary_first_and_warns_on_deletion() -> None:
    text = render_markdown(UPDATE_PLAN)
    head = text.split("<details>")[0]
    assert head.splitlines()[:3] == [
        "<!-- cvspec-plan project=p -->",
        "### Plan: 2 to add, 4 to change, 1 to destroy.",
        "cvspec plan for `p` on the built-in emulator",
    ]
    assert head.index("Plan: 2 to add") < head.index("[!WARNING]")
    assert "> **This plan deletes or replaces:** `tag.c`\n" in head
    assert "* **Create**: `iteration.cvspec-new`, 1 image(s)" in head
    assert "* **Update**: `project.p`, `tag.a`, `publish.prod`, 1 image(s)" in head
    assert "* **Delete**: `tag.c`" in head
    assert "```diff\n" in text and text.rstrip().endswith("</details>")
    assert "\n- tag.c\n" in text and "\n! ~ publish.prod\n" in text


def test_markdown_without_changes_says_so_in_its_title() -> None:
    text = render_markdown(diff(desired(), live()))
    assert text.splitlines()[1] == "### No changes. Your project matches the spec."


def test_markdown_without_deletion_has_no_warning() -> None:
    text = render_markdown(diff(desired(), LiveState(DOMAINS, None)))
    assert "WARNING" not in text


def test_markdown_is_truncated_below_the_comment_limit() -> None:
    many = tuple(image(n, "ab"[n % 2]) for n in range(5000))
    plan = diff(desired(images=many), LiveState(DOMAINS, None))
    text = render_markdown(plan)
    assert len(text) < MARKDOWN_LIMIT
    assert "*Truncated: " in text and "Run `cvspec show PLANFILE` for the full plan.*" in text
    assert text.count("```") % 2 == 0  # the fence is closed
    assert text.rstrip().endswith("</details>")
    assert render_markdown(plan, limit=10**7).count("img/") == 5000


def test_every_deletion_kind_shows_in_the_warning() -> None:
    plan = diff(
        desired(images=(image(1, "a"),), prune_images=True),
        replace(live(), images=IMAGES),
    )
    assert "`images` (1 image(s))" in render_markdown(plan)


def test_the_json_document_is_documented() -> None:
    from cvspec import ops
    from cvspec.plan import DriftKind
    from cvspec.render import FORMAT_VERSION
    from tests.helpers import REPO

    doc = (REPO / "docs" / "plan-json.md").read_text()
    assert f'now `"{FORMAT_VERSION}"`' in doc
    undocumented = [c.value for c in (*ops.Reason, *DriftKind) if f"| `{c.value}` |" not in doc]
    assert undocumented == []
    for key in plan_document_keys():
        assert f"`{key}`" in doc, key


def plan_document_keys() -> list[str]:
    from cvspec.render import plan_document

    document = plan_document(UPDATE_PLAN)
    change = document["resource_changes"][0]
    return [*document, *document["summary"], *document["summary"]["by_resource"], *change]


# --- settings by dotted path: the same in text, JSON and Markdown -------------------------

NESTED_CASES = [
    (
        "a per-tag gate",
        {"gates": {"threshold": 0.5, "per_tag": {"cat": {"min_recall": 0.8}}}},
        {"gates": {"threshold": 0.5, "per_tag": {"cat": {"min_recall": 0.9}}}},
        ["    ~ gates.per_tag.cat.min_recall = 0.8 -> 0.9"],
    ),
    (
        "a gate added beside a flat setting",
        {"iteration": "old", "gates": {"min_ap": None}},
        {"iteration": "new", "gates": {"min_ap": 0.75}},
        ['    ~ iteration    = "old" -> "new"', "    ~ gates.min_ap = null -> 0.75"],
    ),
    (
        "a per-tag gate removed, its tag quoted",
        {"gates": {"per_tag": {"big cat": {"min_ap": 0.5}}}},
        {"gates": {"per_tag": {}}},
        ['    ~ gates.per_tag["big cat"] = {"min_ap": 0.5} -> null'],
    ),
    (
        "a setting on one side only is not a change",
        {"iteration": "old"},
        {"iteration": "old", "gates": {"min_ap": 0.5}},
        [],
    ),
]


@pytest.mark.parametrize(
    ("before", "after", "lines"),
    [case[1:] for case in NESTED_CASES],
    ids=[case[0] for case in NESTED_CASES],
)
def test_nested_settings_are_dotted_paths_in_text_and_json(
    before: dict, after: dict, lines: list[str]
) -> None:
    from cvspec.render import Change, change_json, change_lines

    change = Change(
        address="publish.prod",
        resource="publish",
        actions=("update",),
        reason="r",
        reason_code="publish_moves",
        operations=("Publish",),
        before=before,
        after=after,
    )
    text = change_lines(change, verbose=False)
    assert text[text.index("  ~ publish.prod") + 1 :] == lines
    paths = [line.split("~ ", 1)[1].split(" = ")[0].strip() for line in lines]
    assert change_json(change)["change"]["changed_paths"] == paths


PLAN_CASES = [
    (
        "project and tag updates",
        UPDATE_PLAN,
        {"project.p": ["description", "domain"], "tag.a": ["description"]},
    ),
    (
        "a tag renamed by case, its type changed",
        diff(
            desired(
                tags=(
                    replace(desired().tags[0], name="A", type="Negative"),
                    desired().tags[1],
                ),
                images=(image(1, "A"), image(2, "b")),
            ),
            live(),
        ),
        {"tag.a": ["name", "type"]},
    ),
    (
        "a publish name moving to another prediction resource",
        diff(desired(publish=DesiredPublish("prod", RID2, 3, Gates())), live()),
        {"publish.prod": ["prediction_resource_id"]},
    ),
]


@pytest.mark.parametrize(
    ("plan", "expected"), [case[1:] for case in PLAN_CASES], ids=[case[0] for case in PLAN_CASES]
)
def test_changed_paths_are_the_same_in_text_json_and_markdown(
    plan: Plan, expected: dict[str, list[str]]
) -> None:
    doc = json.loads(render_json(plan))
    found = {c["address"]: c["change"]["changed_paths"] for c in doc["resource_changes"]}
    assert {a: p for a, p in found.items() if a in expected} == expected
    text, markdown = render_text(plan), render_markdown(plan)
    for address, paths in expected.items():
        change = next(c for c in doc["resource_changes"] if c["address"] == address)
        before, after = change["change"]["before"], change["change"]["after"]
        for path in paths:
            line = f"~ {path} = {json.dumps(before[path])} -> {json.dumps(after[path])}"
            assert line in " ".join(text.split()), line
            assert f"! {line}" in " ".join(markdown.replace("\n!", "\n! ").split()), line
