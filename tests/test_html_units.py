"""The HTML reports' pure parts: the bounded image groups and the per-tag counts."""

from __future__ import annotations

from cvspec import ops
from cvspec.html.plan_view import MIN_SAMPLE, SAMPLE, TOTAL, image_groups, tag_counts
from cvspec.html.report import render_plan_html
from cvspec.plan import Plan


def uploads_plan(tags: int, per_tag: int) -> Plan:
    images = tuple(
        ops.ImageUpload(f"{t:032x}{n:032x}", f"images/t{t}/{n}.jpg", (f"t{t}",))
        for t in range(tags)
        for n in range(per_tag)
    )
    op = ops.UploadImages(reason="", reason_code=ops.Reason.MISSING, images=images)
    return Plan("p", (op,), (), "")


def test_a_few_groups_show_the_full_sample() -> None:
    found = image_groups(uploads_plan(3, 100))
    assert [(g.label, g.count, len(g.sample)) for g in found] == [
        ("t0", 100, SAMPLE),
        ("t1", 100, SAMPLE),
        ("t2", 100, SAMPLE),
    ]


def test_many_groups_share_the_thumbnail_budget() -> None:
    found = image_groups(uploads_plan(200, 30))
    assert sum(g.count for g in found) == 6000
    assert all(len(g.sample) == MIN_SAMPLE for g in found)  # 720 // 200 < MIN_SAMPLE
    found = image_groups(uploads_plan(60, 30))
    assert sum(len(g.sample) for g in found) <= TOTAL
    assert {len(g.sample) for g in found} == {TOTAL // 60}


def test_the_page_size_does_not_grow_with_the_images() -> None:
    small = render_plan_html(uploads_plan(10, 100), None)
    large = render_plan_html(uploads_plan(10, 2000), None)
    assert large.count("<figure") == small.count("<figure") == 10 * SAMPLE
    assert len(large) < 1.2 * len(small)


def test_tag_counts_after_the_plan() -> None:
    retag = ops.ImageRetag("id1", "a.jpg", ("cat",))
    plan = Plan(
        "p",
        (
            ops.RemoveImageTags(reason="", reason_code=ops.Reason.TAGS_DIFFER, images=(retag,)),
            ops.DeleteImages(
                reason="", reason_code=ops.Reason.NOT_IN_SPEC, image_ids=("x",), tags=(("dog",),)
            ),
            ops.AddImageTags(
                reason="",
                reason_code=ops.Reason.TAGS_DIFFER,
                images=(ops.ImageRetag("id1", "a.jpg", ("dog",)),),
            ),
        ),
        (),
        "",
    )
    rows = {t.tag: (t.before, t.after) for t in tag_counts(plan, {"cat": 5, "dog": 3})}
    assert rows == {"cat": (5, 4), "dog": (3, 3)}
    assert [g.label for g in image_groups(plan)] == ["dog", "cat → dog"]
    assert all(t.after is None for t in tag_counts(plan, None))
