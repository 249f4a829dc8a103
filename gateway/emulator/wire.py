"""Encoding a planned reply: the Converse JSON body and the ConverseStream event chunks."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import msgspec

from gateway.emulator import responses
from gateway.emulator.behaviour import Plan
from gateway.emulator.directives import Directives
from gateway.emulator.eventstream import (
    encode_error,
    encode_event,
    encode_exception,
    encode_exception_payload,
)
from gateway.emulator.shapes import STREAM_EXCEPTIONS

_encode = msgspec.json.encode

# Tool input is streamed in at least this many fragments (the wire allows any split).
TOOL_FRAGMENTS = 3


def usage(plan: Plan, knobs: Directives) -> dict[str, int]:
    body = {
        "inputTokens": plan.input_tokens,
        "outputTokens": plan.output_tokens,
        "totalTokens": plan.input_tokens + plan.output_tokens,
    }
    # Cache counts are only reported when asked for, as Bedrock omits them without caching.
    # totalTokens includes them: the full prompt is input + cache read + cache write.
    if knobs.cache_read is not None:
        body["cacheReadInputTokens"] = knobs.cache_read
        body["totalTokens"] += knobs.cache_read
    if knobs.cache_write is not None:
        body["cacheWriteInputTokens"] = knobs.cache_write
        body["totalTokens"] += knobs.cache_write
    return body


def _message(block: dict[str, Any]) -> bytes:
    return _encode({"message": {"role": "assistant", "content": [block]}})


@lru_cache(maxsize=256)
def _text_message(parts: tuple[str, ...]) -> bytes:
    # Most replies are one of a few word-cycle prefixes: encode each once.
    return _message({"text": "".join(parts)})


def converse_body(
    plan: Plan, knobs: Directives, latency_ms: int, trace: dict[str, Any] | None
) -> bytes:
    """The JSON of a ``ConverseResponse``."""
    if plan.tool is not None:
        tool = plan.tool
        output = _message(
            {"toolUse": {"toolUseId": tool.tool_use_id, "name": tool.name, "input": tool.input}}
        )
    elif len(plan.pieces) <= 256:
        output = _text_message(plan.pieces)
    else:
        output = _message({"text": "".join(plan.pieces)})
    rest: dict[str, Any] = {
        "stopReason": plan.stop_reason,
        "usage": usage(plan, knobs),
        "metrics": {"latencyMs": latency_ms},
    }
    if trace is not None:
        rest["trace"] = trace
    # Splice the cached output into the object: '{"output":' + output + ',' + '"stopReason"...}'
    return b'{"output":' + output + b"," + _encode(rest)[1:]


def event(event_type: str, body: object) -> bytes:
    """One event-stream event, framed as one HTTP chunk."""
    return responses.chunk(encode_event(event_type, _encode(body)))


@lru_cache(maxsize=4096)
def text_delta(piece: str) -> bytes:
    # Replies reuse a small vocabulary, so most deltas come from this cache.
    return event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}})


@lru_cache(maxsize=64)
def message_stop(reason: str) -> bytes:
    return event("messageStop", {"stopReason": reason})


@lru_cache(maxsize=1)
def message_start() -> bytes:
    return event("messageStart", {"role": "assistant"})


@lru_cache(maxsize=1)
def block_stop() -> bytes:
    return event("contentBlockStop", {"contentBlockIndex": 0})


def content_events(plan: Plan) -> tuple[bytes | None, list[bytes]]:
    """The block's optional ``contentBlockStart`` and its deltas (one per emitted token)."""
    if plan.tool is None:
        return None, [text_delta(p) for p in plan.pieces]
    tool = plan.tool
    start = event(
        "contentBlockStart",
        {
            "contentBlockIndex": 0,
            "start": {"toolUse": {"toolUseId": tool.tool_use_id, "name": tool.name}},
        },
    )
    text = tool.input_json
    step = max(1, -(-len(text) // TOOL_FRAGMENTS))
    deltas = [
        event(
            "contentBlockDelta",
            {"contentBlockIndex": 0, "delta": {"toolUse": {"input": text[i : i + step]}}},
        )
        for i in range(0, len(text), step)
    ]
    return start, deltas


def metadata(plan: Plan, knobs: Directives, latency_ms: int, trace: dict[str, Any] | None) -> bytes:
    body: dict[str, Any] = {"usage": usage(plan, knobs), "metrics": {"latencyMs": latency_ms}}
    if trace is not None:
        body["trace"] = trace
    return event("metadata", body)


def stream_exception(member: str) -> bytes:
    """A modeled exception event; ``modelStreamErrorException`` carries its extra members."""
    message = f"Emulated {STREAM_EXCEPTIONS.get(member, member)}"
    if member == "modelStreamErrorException":
        payload = _encode(
            {
                "message": message,
                "originalStatusCode": 500,
                "originalMessage": "emulated model failure",
            }
        )
        return responses.chunk(encode_exception_payload(member, payload))
    return responses.chunk(encode_exception(member, message))


def stream_generic_error(code: str) -> bytes:
    return responses.chunk(encode_error(code, "Emulated generic stream error"))
