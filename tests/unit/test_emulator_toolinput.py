"""Tool input synthesised from JSON Schema: deterministic, and shaped like the schema."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.emulator.toolinput import synthesise


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "object"}, {}),
        ({}, {}),
        (None, {}),
        ("not a schema", {}),
        ({"type": "object", "properties": {"s": {"type": "string"}}}, {"s": "emulated"}),
        (
            {
                "type": "object",
                "properties": {
                    "i": {"type": "integer"},
                    "n": {"type": "number"},
                    "b": {"type": "boolean"},
                    "z": {"type": "null"},
                },
                "required": ["i"],
            },
            {"i": 1, "n": 1, "b": True, "z": None},
        ),
        (
            {"type": "object", "properties": {"unit": {"type": "string", "enum": ["c", "f"]}}},
            {"unit": "c"},
        ),
        ({"properties": {"k": {"const": 7}}}, {"k": 7}),
        (
            {
                "type": "object",
                "properties": {
                    "where": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}, "zip": {"type": "integer"}},
                    }
                },
            },
            {"where": {"city": "emulated", "zip": 1}},
        ),
        (
            {"type": "object",
             "properties": {"tags": {"type": "array", "items": {"type": "string"}}}},
            {"tags": ["emulated"]},
        ),
        ({"type": "object", "properties": {"any": {"type": "array"}}}, {"any": []}),
        ({"type": "object", "properties": {"x": {"type": ["null", "integer"]}}}, {"x": 1}),
        (
            {"type": "object",
             "properties": {"x": {"anyOf": [{"type": "boolean"}, {"type": "string"}]}}},
            {"x": True},
        ),
        (
            {
                "type": "object",
                "$defs": {"Pt": {"type": "object", "properties": {"x": {"type": "number"}}}},
                "properties": {"p": {"$ref": "#/$defs/Pt"}},
            },
            {"p": {"x": 1}},
        ),
        ({"type": "object", "properties": {"r": {"$ref": "https://elsewhere/x.json"}}},
         {"r": "emulated"}),
    ],
)  # fmt: skip
def test_synthesise(schema: Any, expected: dict[str, Any]) -> None:
    assert synthesise(schema) == expected


def test_self_referencing_schema_terminates() -> None:
    schema = {
        "type": "object",
        "properties": {"node": {"$ref": "#"}, "name": {"type": "string"}},
    }
    value = synthesise(schema)
    depth = 0
    while isinstance(value, dict) and "node" in value:
        assert value["name"] == "emulated"
        value = value["node"]
        depth += 1
    assert 1 < depth < 20


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(deadline=None)  # a loaded CI machine must not fail a pure test
@given(_json)
def test_any_json_gives_a_deterministic_object(schema: Any) -> None:
    first = synthesise(schema)
    assert isinstance(first, dict)
    assert synthesise(schema) == first


@settings(deadline=None)  # a loaded CI machine must not fail a pure test
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=8),
        st.sampled_from(["string", "integer", "number", "boolean"]),
        max_size=6,
    )
)
def test_every_property_gets_a_value_of_its_type(props: dict[str, str]) -> None:
    schema = {"type": "object", "properties": {k: {"type": t} for k, t in props.items()}}
    value = synthesise(schema)
    assert set(value) == set(props)
    python_type = {"string": str, "integer": int, "number": int, "boolean": bool}
    for key, kind in props.items():
        assert type(value[key]) is python_type[kind]
