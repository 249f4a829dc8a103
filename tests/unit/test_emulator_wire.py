"""Encoding planned replies: Converse JSON, event-stream chunks, HTTP heads and errors."""

from __future__ import annotations

import json
from typing import Any

import botocore.session
import pytest
from botocore.eventstream import EventStreamBuffer

from gateway.emulator import responses, wire
from gateway.emulator.behaviour import Plan, ToolCall, pieces
from gateway.emulator.directives import NONE, Directives
from gateway.emulator.shapes import ERROR_STATUS, STREAM_EXCEPTIONS

TEXT_PLAN = Plan(pieces(["Hello", "there"]), None, "end_turn", 3, 2)
TOOL_PLAN = Plan(
    (), ToolCall("tooluse_abc", "get_weather", {"city": "emulated"}, '{"city":"emulated"}'),
    "tool_use", 3, 5,
)  # fmt: skip


def unchunk(data: bytes) -> bytes:
    """The body of one or more HTTP chunks."""
    out = b""
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line, 16)
        out += rest[:size]
        assert rest[size : size + 2] == b"\r\n"
        data = rest[size + 2 :]
    return out


def messages(data: bytes) -> list[tuple[dict[str, Any], bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(unchunk(data))
    return [(dict(m.headers), m.payload) for m in buffer]


def test_converse_body_for_text() -> None:
    body = json.loads(wire.converse_body(TEXT_PLAN, NONE, 12, None))
    assert body == {
        "output": {"message": {"role": "assistant", "content": [{"text": "Hello there"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5},
        "metrics": {"latencyMs": 12},
    }


def test_converse_body_for_tool_use_with_cache_counts_and_trace() -> None:
    knobs = Directives(cache_read=10, cache_write=4)
    body = json.loads(wire.converse_body(TOOL_PLAN, knobs, 1, {"guardrail": {}}))
    assert body["output"]["message"]["content"] == [
        {
            "toolUse": {
                "toolUseId": "tooluse_abc",
                "name": "get_weather",
                "input": {"city": "emulated"},
            }
        }
    ]
    assert body["usage"] == {
        "inputTokens": 3,
        "outputTokens": 5,
        "totalTokens": 22,
        "cacheReadInputTokens": 10,
        "cacheWriteInputTokens": 4,
    }
    assert body["trace"] == {"guardrail": {}}


def test_text_deltas_are_event_stream_messages() -> None:
    ((headers, payload),) = messages(wire.text_delta(" word"))
    assert headers == {
        ":message-type": "event",
        ":event-type": "contentBlockDelta",
        ":content-type": "application/json",
    }
    assert json.loads(payload) == {"contentBlockIndex": 0, "delta": {"text": " word"}}


def test_tool_input_is_split_into_fragments_that_concatenate() -> None:
    start, deltas = wire.content_events(TOOL_PLAN)
    assert start is not None
    ((_, start_payload),) = messages(start)
    assert json.loads(start_payload)["start"] == {
        "toolUse": {"toolUseId": "tooluse_abc", "name": "get_weather"}
    }
    fragments = [json.loads(p)["delta"]["toolUse"]["input"] for d in deltas for _, p in messages(d)]
    assert len(fragments) >= 2
    assert json.loads("".join(fragments)) == {"city": "emulated"}


@pytest.mark.parametrize("member", sorted(STREAM_EXCEPTIONS))
def test_stream_exceptions(member: str) -> None:
    ((headers, payload),) = messages(wire.stream_exception(member))
    assert headers[":message-type"] == "exception"
    assert headers[":exception-type"] == member
    body = json.loads(payload)
    assert body["message"]
    if member == "modelStreamErrorException":
        assert body["originalStatusCode"] == 500


def test_generic_stream_error() -> None:
    ((headers, payload),) = messages(wire.stream_generic_error("Boom"))
    assert headers[":message-type"] == "error"
    assert headers[":error-code"] == "Boom"
    assert payload == b""


def test_error_tables_match_the_service_model() -> None:
    service = botocore.session.get_session().get_service_model("bedrock-runtime")
    modeled = {s.name: s.metadata["error"]["httpStatusCode"] for s in service.error_shapes}
    assert modeled == ERROR_STATUS
    stream = service.operation_model("ConverseStream").output_shape.members["stream"]
    members = {
        m: shape.name for m, shape in stream.members.items() if shape.metadata.get("exception")
    }
    assert members == STREAM_EXCEPTIONS


@pytest.mark.parametrize(("shape", "status"), sorted(ERROR_STATUS.items()))
def test_error_responses_carry_status_type_and_message(shape: str, status: int) -> None:
    raw = responses.error(shape, "nope", b"rid-1", keep_alive=True)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0].startswith(b"HTTP/1.1 %d " % status)
    assert b"x-amzn-ErrorType: " + shape.encode() in lines
    assert b"x-amzn-RequestId: rid-1" in lines
    assert b"Content-Length: %d" % len(body) in lines
    assert json.loads(body) == {"message": "nope"}


def test_connection_close_is_announced() -> None:
    assert b"Connection: close\r\n" in responses.response(200, b"{}", b"r", keep_alive=False)
    assert b"Connection" not in responses.response(200, b"{}", b"r", keep_alive=True)
    head = responses.stream_head(b"r", keep_alive=True)
    assert b"Transfer-Encoding: chunked" in head
    assert b"Content-Type: application/vnd.amazon.eventstream" in head
    assert head.endswith(b"\r\n\r\n")
