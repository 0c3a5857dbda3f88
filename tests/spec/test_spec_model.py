"""The spec model: valid specs round-trip; domains; JSON Schema; error wording helpers."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cvspec.errors import SpecError
from cvspec.spec import Spec, load_and_validate, load_spec, resolve_domain, spec_json_schema
from cvspec.spec.domains import CLASSIFICATION_DOMAINS
from cvspec.spec.pydantic_errors import allowed_keys

_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 _-.", min_size=1, max_size=20)
_NAME = _WORD.map(str.strip).filter(bool)
_TEXT = st.text(
    alphabet=st.characters(blacklist_characters="$=", blacklist_categories=("Cs", "Cc")),
    max_size=20,
)
_UNIT = st.floats(min_value=0, max_value=1, allow_nan=False)
_ARM = _NAME.map(
    lambda n: (
        "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.CognitiveServices/"
        f"accounts/{n.replace(' ', '-').replace('.', '-')}"
    )
)


@st.composite
def _tags(draw: st.DrawFn) -> list[dict[str, Any]]:
    names = draw(st.lists(_NAME, max_size=6, unique_by=str.casefold))
    negative = draw(st.one_of(st.none(), st.integers(0, max(len(names) - 1, 0))))
    return [
        {
            "name": name,
            "description": draw(_TEXT),
            "type": "negative" if i == negative else "regular",
        }
        for i, name in enumerate(names)
    ]


def _source(tag_names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    tags = st.lists(st.sampled_from(tag_names), max_size=2) if tag_names else st.just([])
    path = st.sampled_from(["images/{tag}/*.jpg", "more/**/*.png", "a/b?.gif", "x/[ab]*.bmp"])
    manifest = st.sampled_from(["labels.csv", "sub/labels.jsonl"])
    url = _NAME.map(lambda n: f"https://example.com/{n.replace(' ', '%20')}.jpg")
    exclude = st.lists(st.sampled_from(["**/skip/*", "images/x.jpg"]), max_size=2)
    return st.one_of(
        st.fixed_dictionaries({"path": path, "tags": tags, "exclude": exclude}),
        st.fixed_dictionaries({"manifest": manifest, "tags": tags, "exclude": exclude}),
        st.fixed_dictionaries({"urls": st.lists(url, min_size=1, max_size=3), "tags": tags}),
    )


def _training() -> st.SearchStrategy[dict[str, Any] | None]:
    email = st.sampled_from([None, "ml@example.com"])
    regular = st.fixed_dictionaries({"type": st.just("regular"), "notification_email": email})
    advanced = st.fixed_dictionaries(
        {"type": st.just("advanced"), "budget_hours": st.integers(1, 48), "force": st.booleans()}
    )
    return st.one_of(st.none(), regular, advanced)


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    """Any valid spec (structurally: image files are not created)."""
    tags = draw(_tags())
    names = [tag["name"] for tag in tags]
    training = draw(_training())
    publish = draw(
        st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {
                    "name": _NAME,
                    "keep": st.integers(1, 20),
                    "prediction_resource": st.one_of(st.none(), _ARM),
                }
            ),
        )
        if training is not None
        else st.none()  # publish and gates need training
    )
    gate = st.fixed_dictionaries({"min_precision": _UNIT, "min_ap": st.one_of(st.none(), _UNIT)})
    gates = {
        "min_recall": draw(st.one_of(st.none(), _UNIT)),
        "threshold": draw(st.floats(min_value=0.01, max_value=0.99)),
        "per_tag": draw(st.dictionaries(st.sampled_from(names), gate) if names else st.just({})),
        "no_regression": publish is not None and draw(st.booleans()),
    }
    if training is None:
        gates = {}
    data = {
        "version": 1,
        "tier": draw(st.sampled_from(["S0", "F0"])),
        "project": {
            "name": draw(_NAME),
            "description": draw(_TEXT),
            "classification": draw(st.sampled_from(["multiclass", "multilabel"])),
            "domain": draw(st.sampled_from(sorted(CLASSIFICATION_DOMAINS))),
        },
        "tags": tags,
        "images": draw(st.lists(_source(names), max_size=4)),
        "exclude": draw(st.lists(st.sampled_from(["**/*.tmp", "old/*"]), max_size=2)),
        "allow_outside": draw(st.booleans()),
        "training": training,
        "gates": gates,
        "publish": publish,
        "prune": {"tags": draw(st.booleans()), "images": draw(st.booleans())},
        "protect": draw(st.booleans()),
    }
    return Spec.model_validate(data)


@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_valid_spec__round_trips_through_yaml(spec: Spec) -> None:
    text = yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.yaml"
        path.write_text(text, encoding="utf-8")
        assert load_spec(path, environ={}) == spec


@settings(max_examples=50, deadline=None)
@given(specs())
def test_valid_spec__round_trips_through_the_model(spec: Spec) -> None:
    assert Spec.model_validate(spec.model_dump()) == spec
    assert Spec.model_validate_json(spec.model_dump_json()) == spec


def test_minimal_spec__defaults() -> None:
    spec = Spec.model_validate({"project": {"name": "p"}})
    assert spec.version == 1 and spec.tier == "S0"
    assert spec.project.classification == "multiclass"
    assert spec.project.domain_id == "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31"
    assert spec.training is not None and spec.training.type == "regular"
    assert spec.publish is None and spec.protect is False
    assert spec.gates.per_tag == {} and spec.gates.no_regression is False


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("General", "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31"),
        ("general [a2]", "2e37d7fb-3a54-486a-b4d6-cfc369af0018"),
        ("Food", "c151d5b5-dd07-472a-acc8-15d29dea8518"),
        (" General (compact) ", "0732100f-1a38-4e49-a514-c9b44c697ab5"),
        ("B30A91AE-E3C1-4F73-A81E-C270BFF27C39", "b30a91ae-e3c1-4f73-a81e-c270bff27c39"),
    ],
)
def test_resolve_domain(given: str, expected: str) -> None:
    assert resolve_domain(given) == expected


@pytest.mark.parametrize(
    ("given", "start"),
    [
        ("Logo", "unknown domain 'Logo'; known domains: \"General\", "),
        ("00000000-0000-0000-0000-000000000000", "unknown domain id 00000000-"),
        ("da2e3a8a-40a5-4171-82f4-58522f70fbc1", "domain da2e3a8a-40a5-4171-82f4-58522f70fbc1 is "),
    ],
)
def test_resolve_domain__refuses(given: str, start: str) -> None:
    with pytest.raises(ValueError, match="known domains") as raised:
        resolve_domain(given)
    assert str(raised.value).startswith(start)


def test_json_schema__describes_every_field() -> None:
    schema = spec_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["project"]
    assert "allow_outside" in schema["properties"]
    assert schema["$defs"]["ImageSourceSpec"]["oneOf"] == [
        {"required": ["path"]},
        {"required": ["manifest"]},
        {"required": ["urls"]},
    ]
    for name, definition in schema["$defs"].items():
        assert definition["additionalProperties"] is False, name
        for field, body in definition["properties"].items():
            assert body.get("description"), f"{name}.{field} has no description"
    for field, body in schema["properties"].items():
        assert body.get("description"), f"{field} has no description"


@pytest.mark.parametrize(
    ("loc", "keys"),
    [
        ((), list(Spec.model_fields)),
        (("gates", "per_tag", "cat"), ["min_precision", "min_recall", "min_ap"]),
        (("images", 3), ["path", "manifest", "urls", "tags", "exclude"]),
        (("training",), ["type", "budget_hours", "notification_email", "force"]),
        (("tags", 0, "name"), []),
    ],
)
def test_allowed_keys(loc: tuple[str | int, ...], keys: list[str]) -> None:
    assert allowed_keys(loc) == keys


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["project", "name", "tags", "images", "path", "urls", "gates", "x"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.text(max_size=80), _JSONISH.map(lambda v: yaml.safe_dump(v))))
def test_any_text__is_a_spec_or_a_spec_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            load_spec(path, environ={})
        except SpecError as exc:
            assert exc.problems
            assert all("\n" not in line for line in exc.problems)


_LEAF = (
    st.none()
    | st.booleans()
    | st.integers(-3, 30)
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from(["images/{tag}/*.png", "../x", "[", "${X}", "https://a/b.jpg", "a.csv"])
)
_VALUE = st.recursive(
    _LEAF,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=2),
    max_leaves=6,
)


def _section(*keys: str) -> st.SearchStrategy[Any]:
    return st.dictionaries(st.sampled_from(keys), _VALUE, max_size=len(keys)) | _LEAF


_SPEC_SHAPED = st.fixed_dictionaries(
    {},
    optional={
        "version": _LEAF,
        "tier": _LEAF,
        "project": _section("name", "description", "classification", "domain"),
        "tags": st.lists(_section("name", "description", "type"), max_size=3),
        "images": st.lists(_section("path", "manifest", "urls", "tags", "exclude"), max_size=3),
        "exclude": _VALUE,
        "training": _section("type", "budget_hours", "notification_email", "force"),
        "gates": _section("min_precision", "threshold", "per_tag", "no_regression"),
        "publish": _section("name", "prediction_resource", "keep"),
        "prune": _section("tags", "images"),
        "protect": _LEAF,
    },
)


@settings(max_examples=100, deadline=None)
@given(_SPEC_SHAPED)
def test_spec_shaped_data__is_valid_or_one_line_problems(data: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.yaml"
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        try:
            load_and_validate(path, environ={}, use_cache=False)
        except SpecError as exc:
            assert exc.problems
            assert all("\n" not in line for line in exc.problems)


def test_committed_schema_file__matches_the_model() -> None:
    committed = Path(__file__).resolve().parents[2] / "docs" / "spec.schema.json"
    if not committed.exists():
        pytest.skip("docs/spec.schema.json is not committed")
    assert json.loads(committed.read_text(encoding="utf-8")) == spec_json_schema(), (
        "regenerate it: cvspec schema > docs/spec.schema.json"
    )
