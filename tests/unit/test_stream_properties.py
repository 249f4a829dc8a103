"""Property tests: decode + translate is split-invariant and loses nothing of the model output."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.bedrock.eventstream import EventStreamDecoder
from gateway.bedrock.stream import ChunkTranslator
from gateway.emulator.eventstream import encode_event, encode_exception

ENDINGS = (
    "complete",
    "no_metadata",
    "exception_after_metadata",
    "exception_before_stop",
    "exception_after_stop",
    "truncated",
    "cut_inside_stop",
    "cut_inside_metadata",
)
# Endings after which the client has the whole answer and no error event.
CLEAN_ENDINGS = ("complete", "no_metadata", "exception_after_metadata")
STOP_REASONS = {
    "end_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "content_filtered": "content_filter",
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@dataclass
class Conversation:
    """A generated ConverseStream and what a client should get out of it."""

    wire: bytes
    include_usage: bool
    ending: str
    stop_reason: str
    texts: list[str] = field(default_factory=list)
    tools: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)


def _fragments(draw: st.DrawFn, value: str) -> list[str]:
    cuts = sorted(set(draw(st.lists(st.integers(0, len(value)), max_size=4))))
    edges = [0, *cuts, len(value)]
    return [value[a:b] for a, b in itertools.pairwise(edges)]


@st.composite
def conversations(draw: st.DrawFn) -> Conversation:
    events: list[tuple[str, dict[str, Any]]] = []
    if draw(st.booleans()):
        events.append(("messageStart", {"role": "assistant"}))
    convo = Conversation(
        wire=b"",
        include_usage=draw(st.booleans()),
        ending=draw(st.sampled_from(ENDINGS)),
        stop_reason=draw(st.sampled_from(sorted(STOP_REASONS))),
    )
    for block in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            for piece in draw(st.lists(st.text(), min_size=1, max_size=4)):
                convo.texts.append(piece)
                events.append(
                    ("contentBlockDelta", {"contentBlockIndex": block, "delta": {"text": piece}})
                )
        else:
            tool_id, name = f"tooluse_{block}", draw(st.sampled_from(["get_weather", "search"]))
            arguments = draw(st.dictionaries(st.text(), json_values, max_size=4))
            convo.tools.append((tool_id, name, arguments))
            start = {"toolUse": {"toolUseId": tool_id, "name": name}}
            events.append(("contentBlockStart", {"contentBlockIndex": block, "start": start}))
            for piece in _fragments(draw, json.dumps(arguments)):
                body = {"contentBlockIndex": block, "delta": {"toolUse": {"input": piece}}}
                events.append(("contentBlockDelta", body))
        events.append(("contentBlockStop", {"contentBlockIndex": block}))
    wire = b"".join(encode_event(kind, json.dumps(body).encode()) for kind, body in events)
    stop = encode_event("messageStop", json.dumps({"stopReason": convo.stop_reason}).encode())
    usage = {"inputTokens": 3, "outputTokens": 4, "totalTokens": 7, "cacheReadInputTokens": 2}
    meta = encode_event(
        "metadata", json.dumps({"usage": usage, "metrics": {"latencyMs": 1}}).encode()
    )
    boom = encode_exception("modelStreamErrorException", "model fell over")
    convo.wire = (
        wire
        + {
            "complete": stop + meta,
            "no_metadata": stop,
            "exception_after_metadata": stop + meta + boom,
            "exception_before_stop": boom,
            "exception_after_stop": stop + boom,
            "truncated": b"",
            "cut_inside_stop": stop[: len(stop) // 2],
            "cut_inside_metadata": stop + meta[: len(meta) // 2],
        }[convo.ending]
    )
    return convo


def translate(chunks: list[bytes], include_usage: bool) -> bytes:
    decoder = EventStreamDecoder()
    translator = ChunkTranslator(
        completion_id="chatcmpl-prop", created=1, model="m", include_usage=include_usage
    )
    out: list[bytes] = []
    for items in [*map(decoder.feed, chunks), decoder.end()]:
        for item in items:
            out.append(translator.feed(*item) if isinstance(item, tuple) else translator.fail(item))
    out.append(translator.finish())
    return b"".join(out)


@st.composite
def splits(draw: st.DrawFn, wire: bytes) -> list[bytes]:
    if draw(st.booleans()):
        return [wire[i : i + 1] for i in range(len(wire))]
    edges = [0, *sorted(draw(st.lists(st.integers(0, len(wire)), max_size=30))), len(wire)]
    return [wire[a:b] for a, b in itertools.pairwise(edges)]


def parse(sse: bytes) -> list[Any]:
    events: list[Any] = []
    for event in sse.split(b"\n\n")[:-1]:
        assert event.startswith(b"data: ")
        body = event[6:]
        events.append("[DONE]" if body == b"[DONE]" else json.loads(body))
    assert sse.endswith(b"\n\n")
    return events


@settings(deadline=None, max_examples=150)
@given(data=st.data(), convo=conversations())
def test_split_stream_translates_exactly_like_the_whole_stream(
    data: st.DataObject, convo: Conversation
) -> None:
    whole = translate([convo.wire], convo.include_usage)
    chunks = data.draw(splits(convo.wire))
    assert b"".join(chunks) == convo.wire
    assert translate(chunks, convo.include_usage) == whole

    events = parse(whole)
    assert events.count("[DONE]") == 1
    assert events[-1] == "[DONE]"

    choices = [e["choices"][0] for e in events if isinstance(e, dict) and e.get("choices")]
    content = "".join(c["delta"].get("content") or "" for c in choices)
    assert content == "".join(convo.texts)

    calls: dict[int, dict[str, str]] = {}
    for choice in choices:
        for call in choice["delta"].get("tool_calls", []):
            slot = calls.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
            slot["id"] += call.get("id", "")
            slot["name"] += call.get("function", {}).get("name", "")
            slot["arguments"] += call["function"]["arguments"]
    assert sorted(calls) == list(range(len(convo.tools)))
    for index, (tool_id, name, arguments) in enumerate(convo.tools):
        assert (calls[index]["id"], calls[index]["name"]) == (tool_id, name)
        assert json.loads(calls[index]["arguments"]) == arguments

    finishes = [c["finish_reason"] for c in choices if c["finish_reason"] is not None]
    errors = [e for e in events if isinstance(e, dict) and "error" in e]
    usage_chunks = [e for e in events if isinstance(e, dict) and e.get("choices") == []]
    if convo.ending in (*CLEAN_ENDINGS, "exception_after_stop", "cut_inside_metadata"):
        # Once the finish chunk is out, a later exception has nothing left to spoil
        # except [DONE]; the SDK still raises on the error event.
        assert finishes == [STOP_REASONS[convo.stop_reason]]
    else:
        assert finishes == []
    assert len(errors) == (0 if convo.ending in CLEAN_ENDINGS else 1)
    want_usage = convo.ending in ("complete", "exception_after_metadata") and convo.include_usage
    assert len(usage_chunks) == (1 if want_usage else 0)
    if errors:
        assert events[-2] is errors[0]
