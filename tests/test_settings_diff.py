"""cvspec.settings_diff on its own: changes inside nested dicts key by key (never the whole
dict), in the desired side's key order, then keys only the live side has; lists as one."""

from __future__ import annotations

from cvspec.settings_diff import SettingChange, dotted, setting_changes, values


def _paths(before: dict, after: dict) -> list[str]:
    return [c.path for c in setting_changes(before, after)]


def test_a_nested_dict_whose_keys_all_changed_is_still_reported_key_by_key() -> None:
    assert setting_changes({"g": {"x": 1}}, {"g": {"y": 2}}) == (
        SettingChange("g.y", None, 2),
        SettingChange("g.x", 1, None),
    )


def test_changes_come_in_the_desired_key_order_then_the_live_only_keys() -> None:
    before = {"z": 1, "b": 1, "m": 1, "a": 1}
    after = {"b": 2, "a": 2}
    assert _paths(before, after) == ["b", "a", "z", "m"]
    assert _paths({"c": 1}, {"c": 2, "n": 1}) == ["c", "n"]  # changed, then added: as listed
    nested_before = {"gates": {"b": 1, "a": 1}, "z": 1}
    nested_after = {"gates": {"b": 2, "a": 2}, "z": 2}
    assert _paths(nested_before, nested_after) == ["gates.b", "gates.a", "z"]


def test_numbers_compare_by_value_and_lists_as_one_setting() -> None:
    assert setting_changes({"a": 1, "b": [1, 2]}, {"a": 1.0, "b": [1, 2]}) == ()
    assert setting_changes({"a": 1, "b": [1, 2]}, {"a": 1.0, "b": [2, 1]}) == (
        SettingChange("b", [1, 2], [2, 1]),
    )


def test_paths_quote_keys_that_are_not_plain_words_and_values_split_sides() -> None:
    assert dotted(("gates", "per_tag", "big cat", "min_recall")) == (
        'gates.per_tag["big cat"].min_recall'
    )
    changes = setting_changes({"d": "x"}, {"d": "y", "e": 1})
    assert values(changes) == ({"d": "x", "e": None}, {"d": "y", "e": 1})
