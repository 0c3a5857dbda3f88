"""Rendering: exact text for representative plans, the JSON schema, the Markdown comment."""

from __future__ import annotations

import json
from dataclasses import replace

from cvspec.desired import DesiredTag
from cvspec.diff import destroy_plan, diff
from cvspec.live import LiveImage, LiveState, LiveTag
from cvspec.markdown import MARKDOWN_LIMIT, render_markdown
from cvspec.render import describe, render_json, render_text
from tests.test_diff import (
    DOMAINS,
    FP1,
    IMAGES,
    NEW_TRAINING,
    TAGS,
    desired,
    image,
    live,
)

UPDATE_PLAN = diff(
    desired(
        description="new",
        tags=(DesiredTag("a", "apples", "Regular"), DesiredTag("b", "", "Regular")),
        images=(image(1, "b"), image(2, "b"), image(3, "a")),
        training=NEW_TRAINING,
        prune_tags=True,
    ),
    live(tags=(*TAGS, LiveTag("tc", "c", "", "Regular", 0))),
)

UPDATE_TEXT = """\
Resource actions are indicated with the following symbols:
    + create
    ~ update in-place
    - destroy
  -/+ destroy and then create replacement

cvspec will perform the following actions:

  # project.p will be updated in-place
  # (because description differs from the spec)
  ~ project.p
    ~ description = "" -> "new"

  # tag.c will be destroyed
  # (because the spec does not list it (prune.tags))
  - tag.c

  # tag.a will be updated in-place
  # (because description differs from the spec)
  ~ tag.a
    ~ description = "" -> "apples"

  # images will be untagged
  # (because the images' tags differ from the spec)
  ~ images[a]  untag 1 image(s)

  # images will be uploaded
  # (because the images are not in the project)
  + images[a]  1 image(s)

  # images will be tagged
  # (because the images' tags differ from the spec)
  ~ images[b]  tag 1 image(s)

  # iteration.cvspec-fp2 will be trained
  # (because the images, tags or training settings changed since iteration 'cvspec-fp1')
  + iteration.cvspec-fp2
      training_type = "Regular"

  # publish.prod must be replaced
  # (because 'prod' is published from 'cvspec-fp1')
-/+ publish.prod
    ~ iteration = "cvspec-fp1" -> "cvspec-fp2"

Plan: 0 to add, 2 to change, 1 to destroy.
Images: 1 to upload, 1 to retag, 0 to delete.
Training: new iteration cvspec-fp2.
Publishing: 'prod' -> cvspec-fp2."""


def test_text_of_an_update_plan() -> None:
    assert render_text(UPDATE_PLAN) == UPDATE_TEXT.replace("cvspec-fp1", FP1)


def test_text_of_a_replacement_flags_what_forces_it() -> None:
    text = render_text(diff(desired(classification_type="Multilabel"), live()))
    assert "  # project.p must be replaced\n" in text
    assert "-/+ project.p\n" in text
    assert '    ~ classification_type = "Multiclass" -> "Multilabel"  # forces replacement' in text
    assert "Plan: 3 to add, 0 to change, 1 to destroy." in text  # replace = 1 add + 1 destroy


def test_no_changes_wording() -> None:
    assert render_text(diff(desired(), live())) == (
        "No changes. Your project matches the spec.\n\n"
        "cvspec has compared the project in the service with the spec and found no "
        "differences, so no changes are needed."
    )
    nothing = destroy_plan("p", LiveState(DOMAINS, None), protect=False)
    assert render_text(nothing) == "No changes. No objects need to be destroyed."


def test_drift_comes_first_and_verbose_lists_images() -> None:
    plan = diff(desired(), live(images=(*IMAGES, LiveImage("u1", None, ("a",)))))
    text = render_text(plan, verbose=True)
    assert text.startswith(
        "Note: Objects have changed outside of cvspec\n\n"
        "  ! images: 1 image(s) in the project were not uploaded by cvspec; cvspec never "
        "deletes them (the service trains on them too)\n"
        "      a: 1\n"
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
        "  + images[b]  1 image(s)",
        "        img/1.png  [a]",
        "        img/2.png  [b]",
    ]


def test_colour_only_when_asked() -> None:
    assert "\x1b[" not in render_text(UPDATE_PLAN)
    coloured = render_text(UPDATE_PLAN, color=True)
    assert "\x1b[31m  -\x1b[0m tag.c" in coloured
    assert "\x1b[1mPlan: 0 to add, 2 to change, 1 to destroy.\x1b[0m" in coloured


def test_describe_is_one_line_per_operation_for_progress() -> None:
    first = UPDATE_PLAN.operations[0]
    assert describe(first) == ["  ~ project.p  # description differs from the spec"]


def test_json_schema() -> None:
    doc = json.loads(render_json(diff(desired(classification_type="Multilabel"), live())))
    assert doc["format_version"] == "1.0"
    assert doc["summary"]["add"] == 3 and doc["summary"]["destroy"] == 1
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
    assert deletes == ["tag.c", "publish.prod"]


def test_markdown_puts_the_summary_first_and_warns_on_deletion() -> None:
    text = render_markdown(UPDATE_PLAN)
    head = text.split("<details>")[0]
    assert head.index("Plan: 0 to add, 2 to change, 1 to destroy.") < head.index("[!WARNING]")
    assert "> **This plan deletes or replaces:** `tag.c`, `publish.prod`" in head
    assert "* **Delete**: `tag.c`" in head
    assert "```diff\n" in text and text.rstrip().endswith("</details>")
    assert "\n- tag.c\n" in text and "\n! -/+ publish.prod\n" in text


def test_markdown_without_deletion_has_no_warning() -> None:
    text = render_markdown(diff(desired(), LiveState(DOMAINS, None)))
    assert "WARNING" not in text


def test_markdown_is_truncated_below_the_comment_limit() -> None:
    many = tuple(image(n, "a") for n in range(5000))
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
