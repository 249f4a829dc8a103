"""Streamed tool arguments: JSON escapes cannot hide PII from the output filter."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.bedrock.json_escapes import JsonEscapes, JsonTextFilter
from gateway.bedrock.stream import ChunkTranslator
from gateway.policy import PseudonymState, RedactionConfig, Redactor

# Escapes the rewrite must leave: '"', '\\', controls and non-ASCII.
_HIDING = re.compile(r"\\u00(?:2[013-9a-fA-F]|[3-6][0-9a-fA-F]|7[0-9a-eA-E])|\\/")


def spelled(text: str, choices: list[int]) -> str:
    """``text`` as the body of a JSON string, each character written literally, as \\uXXXX
    or (for '/') as \\/ by ``choices`` — every form a JSON encoder may emit."""
    out = []
    for i, ch in enumerate(text):
        pick = choices[i % len(choices)] if choices else 0
        literal = json.dumps(ch)[1:-1]
        if pick == 1 or (len(literal) > 1 and literal.startswith("\\u")):
            out.append("".join(f"\\u{u:04x}" for u in _utf16(ch)))
        elif pick == 2 and ch == "/":
            out.append("\\/")
        else:
            out.append(literal)
    return "".join(out)


def _utf16(ch: str) -> list[int]:
    data = ch.encode("utf-16-be")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def chunked(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


def run(text: str, cuts: list[int]) -> str:
    escapes = JsonEscapes()
    return "".join(escapes.feed(piece) for piece in chunked(text, cuts)) + escapes.flush()


@given(
    st.text(max_size=40),
    st.lists(st.integers(0, 2), max_size=8),
    st.lists(st.integers(0, 200), max_size=10),
)
def test_rewrite_keeps_the_json_value_and_leaves_no_hiding_escape(
    value: str, choices: list[int], cuts: list[int]
) -> None:
    document = '{"k": "' + spelled(value, choices) + '"}'
    assert json.loads(document) == {"k": value}
    out = run(document, cuts)
    assert json.loads(out) == {"k": value}
    assert _HIDING.search(out) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (r'"bob\u0040example.com"', '"bob@example.com"'),
        (r'"http:\/\/x.example\/a"', '"http://x.example/a"'),
        (r'"\u0022q\u0022 \u005c"', r'"\u0022q\u0022 \u005c"'),  # quote and backslash stay
        (r'"\\u0040"', r'"\\u0040"'),  # an escaped backslash, then the letters u0040
        (r'"\u00e9\n\t\u001f"', r'"\u00e9\n\t\u001f"'),  # non-ASCII and controls stay
        (r'"\u00zz"', r'"\u00zz"'),  # not an escape: left for the client to reject
    ],
)
def test_rewrite_table(raw: str, expected: str) -> None:
    for size in (1, 2, 5, 100):
        assert run(raw, list(range(size, len(raw), size))) == expected


def test_an_unfinished_escape_is_held_then_released_at_the_end() -> None:
    escapes = JsonEscapes()
    assert escapes.feed('"a\\u00') == '"a'
    assert escapes.feed("4") == ""
    assert escapes.feed('0b"') == '@b"'
    assert escapes.feed('"x\\u0') == '"x'
    assert escapes.flush() == "\\u0"


class Upper:
    """A stand-in inner filter that shows what it was fed."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def feed(self, chunk: str) -> str:
        self.seen.append(chunk)
        return chunk.upper()

    def flush(self) -> str:
        return "|END"


def test_text_filter_feeds_the_inner_filter_the_rewritten_text() -> None:
    inner = Upper()
    text_filter = JsonTextFilter(inner)
    assert text_filter.feed('"a\\u00') == '"A'
    assert text_filter.feed("40\\u0") == "@"
    assert text_filter.flush() == "\\U0|END"
    assert inner.seen == ['"a', "@", "\\u0"]


def _arguments(out: bytes) -> str:
    chunks = [json.loads(line[6:]) for line in out.split(b"\n") if line.startswith(b"data: {")]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    return "".join(
        call["function"]["arguments"] for d in deltas for call in d.get("tool_calls") or ()
    )


@pytest.mark.parametrize("size", [1, 3, 7, 1000])
def test_streamed_tool_arguments_with_escaped_pii_are_masked(size: int) -> None:
    """The default policy masks an e-mail and a URL however the model escapes them."""
    redactor = Redactor(RedactionConfig())
    translator = ChunkTranslator(
        completion_id="c",
        created=0,
        model="m",
        include_usage=False,
        filters=lambda: redactor.output_filter(PseudonymState()),
    )
    args = r'{"to": "bob\u0040model-made.org", "site": "https:\/\/evil.example\/x"}'
    tool = {"toolUse": {"toolUseId": "t", "name": "send"}}
    events: list[tuple[str, dict[str, Any]]] = [
        ("messageStart", {"role": "assistant"}),
        ("contentBlockStart", {"contentBlockIndex": 0, "start": tool}),
    ]
    for i in range(0, len(args), size):
        delta = {"toolUse": {"input": args[i : i + size]}}
        events.append(("contentBlockDelta", {"contentBlockIndex": 0, "delta": delta}))
    events.append(("messageStop", {"stopReason": "tool_use"}))
    out = b"".join(translator.feed(kind, json.dumps(body).encode()) for kind, body in events)
    out += translator.finish()
    decoded = json.loads(_arguments(out))
    assert decoded == {"to": "[EMAIL]", "site": "[URL]"}
