"""``[[emu {...}]]`` directives: finding, merging, validating and stripping them."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.emulator.directives import (
    NONE,
    DirectiveError,
    Directives,
    parse,
    scan,
    strip,
    visible_length,
)


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (["no directive here"], NONE),
        ([], NONE),
        (['[[emu {"tokens": 5}]]'], Directives(tokens=5)),
        (['before [[emu {"tokens": 5}]] after'], Directives(tokens=5)),
        (['[[emu{"tokens":5}]]'], Directives(tokens=5)),
        (['[[emu {"tokens": 5}]] [[emu {"tokens": 7, "ttfb_ms": 3}]]'],
         Directives(tokens=7, ttfb_ms=3.0)),
        (['[[emu {"tokens": 5}]]', '[[emu {"reply": "hi"}]]'], Directives(reply="hi", tokens=5)),
        (['[[emu {"reply": "a ]] b"}]]'], Directives(reply="a ]] b")),
        (['[[emu {"error": "ThrottlingException", "error_times": 2, "error_key": "k"}]]'],
         Directives(error="ThrottlingException", error_times=2, error_key="k")),
        (['[[emu {"stream_error_generic": "Boom"}]]'], Directives(stream_error_generic="Boom")),
        (['[[emu {"stream_error_generic": true}]]'], Directives(stream_error_generic=True)),
        (['[[emu {"no_tool": true, "cache_read": 4, "cache_write": 2}]]'],
         Directives(no_tool=True, cache_read=4, cache_write=2)),
        (['[[emu {"stall_after": 3, "stall_ms": 250}]]'], Directives(stall_after=3, stall_ms=250)),
    ],
)  # fmt: skip
def test_parse(texts: list[str], expected: Directives) -> None:
    assert parse(texts) == expected


@pytest.mark.parametrize(
    "text",
    [
        '[[emu {"tokens": 5}',  # unterminated
        "[[emu not json]]",
        "[[emu [1, 2]]]",  # JSON, but not an object
        '[[emu {"tokens": -1}]]',
        '[[emu {"tokens": "many"}]]',
        '[[emu {"tokens": 1000000000}]]',
        '[[emu {"unknown_knob": 1}]]',
        '[[emu {"ttfb_ms": -5}]]',
    ],
)
def test_parse_rejects_bad_directives(text: str) -> None:
    with pytest.raises(DirectiveError):
        parse([text])


@pytest.mark.parametrize(
    ("text", "stripped"),
    [
        ("plain", "plain"),
        ('a [[emu {"tokens": 1}]]b', "a b"),
        ('[[emu {"tokens": 1}]]x[[emu {"reply": "[[nested]]"}]]y', "xy"),
    ],
)
def test_strip_and_visible_length(text: str, stripped: str) -> None:
    assert strip(text) == stripped
    assert visible_length(text) == len(stripped)


_SAFE_TEXT = st.text(alphabet=st.characters(exclude_characters="["), max_size=40)
_KNOBS = st.fixed_dictionaries(
    {},
    optional={
        "tokens": st.integers(0, 1000),
        "reply": st.text(max_size=20),
        "ttfb_ms": st.floats(0, 1e4, allow_nan=False),
        "no_tool": st.booleans(),
    },
)


@settings(deadline=None)  # a loaded CI machine must not fail a pure test
@given(_SAFE_TEXT, _KNOBS, _SAFE_TEXT)
def test_any_directive_round_trips_and_strips_cleanly(
    before: str, knobs: dict[str, object], after: str
) -> None:
    text = f"{before}[[emu {json.dumps(knobs)}]]{after}"
    assert parse([text]) == Directives(**knobs)  # type: ignore[arg-type]
    assert strip(text) == before + after
    found = scan(text)
    assert len(found.spans) == 1
    assert found.chars == len(text) - len(before + after)
