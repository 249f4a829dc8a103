"""ChunkTranslator: the §5.5 chunk sequence and every §6.4 row, also read by the openai SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk

from gateway.bedrock.eventstream import PROTOCOL_ERROR_CODE
from gateway.bedrock.stream import MALFORMED_OUTPUT_CODE, ChunkTranslator
from gateway.errors import RateLimitError, UpstreamError
from gateway.openai.sse import DONE

CHUNK_ID = "chatcmpl-test123"
CREATED = 1735689600
MODEL = "claude-haiku"

Event = tuple[str, dict[str, Any]]


def start() -> Event:
    return ("messageStart", {"role": "assistant"})


def delta(body: dict[str, Any], block: int = 0) -> Event:
    return ("contentBlockDelta", {"contentBlockIndex": block, "delta": body})


def text(value: str, block: int = 0) -> Event:
    return delta({"text": value}, block)


def tool_start(block: int, tool_id: str, name: str) -> Event:
    body = {"toolUse": {"toolUseId": tool_id, "name": name}}
    return ("contentBlockStart", {"contentBlockIndex": block, "start": body})


def tool_input(block: int, fragment: str) -> Event:
    return (
        "contentBlockDelta",
        {"contentBlockIndex": block, "delta": {"toolUse": {"input": fragment}}},
    )


def block_stop(block: int) -> Event:
    return ("contentBlockStop", {"contentBlockIndex": block})


def stop(reason: str) -> Event:
    return ("messageStop", {"stopReason": reason})


def metadata(**usage: int) -> Event:
    counts = {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15, **usage}
    return ("metadata", {"usage": counts, "metrics": {"latencyMs": 42}})


def translator(include_usage: bool = True) -> ChunkTranslator:
    return ChunkTranslator(
        completion_id=CHUNK_ID, created=CREATED, model=MODEL, include_usage=include_usage
    )


def run(events: list[Event], *, include_usage: bool = True, finish: bool = True) -> bytes:
    tr = translator(include_usage)
    out = b"".join(tr.feed(kind, json.dumps(body).encode()) for kind, body in events)
    return out + tr.finish() if finish else out


def sse(data: bytes) -> list[Any]:
    """Strict SSE parse: every event is exactly one ``data:`` line; [DONE] kept as a string."""
    assert data.endswith(b"\n\n")
    parsed: list[Any] = []
    for event in data[:-2].split(b"\n\n"):
        assert event.startswith(b"data: ")
        assert b"\n" not in event
        body = event[len(b"data: ") :]
        parsed.append("[DONE]" if body == b"[DONE]" else json.loads(body))
    return parsed


def choice_deltas(data: bytes) -> list[dict[str, Any]]:
    return [e["choices"][0]["delta"] for e in sse(data) if isinstance(e, dict) and e.get("choices")]


TEXT_STREAM = [start(), text("Hel"), text("lo"), block_stop(0), stop("end_turn"), metadata()]
TOOL_STREAM = [
    start(),
    text("Checking."),
    block_stop(0),
    tool_start(1, "tooluse_a", "get_weather"),
    tool_input(1, '{"city":'),
    tool_input(1, '"Paris"}'),
    block_stop(1),
    tool_start(2, "tooluse_b", "get_time"),
    tool_input(2, "{}"),
    block_stop(2),
    stop("tool_use"),
    metadata(cacheReadInputTokens=100, cacheWriteInputTokens=7),
]


# --- the §5.5 sequence, event by event -----------------------------------------------------


def test_plain_text_sequence() -> None:
    events = sse(run(TEXT_STREAM))
    assert [e["choices"][0]["delta"] for e in events[:4]] == [
        {"role": "assistant", "content": ""},
        {"content": "Hel"},
        {"content": "lo"},
        {},
    ]
    assert [e["choices"][0]["finish_reason"] for e in events[:4]] == [None, None, None, "stop"]
    assert events[4]["choices"] == []
    assert events[4]["usage"]["total_tokens"] == 15
    assert events[5:] == ["[DONE]"]


def test_every_chunk_has_the_full_envelope_with_identical_id_and_created() -> None:
    chunks = [e for e in sse(run(TOOL_STREAM)) if isinstance(e, dict)]
    assert len(chunks) == 9
    for chunk in chunks:
        assert list(chunk) == [
            "id",
            "object",
            "created",
            "model",
            "system_fingerprint",
            "choices",
            "usage",
        ]
        assert (chunk["id"], chunk["created"], chunk["model"]) == (CHUNK_ID, CREATED, MODEL)
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["system_fingerprint"] is None
        for choice in chunk["choices"]:
            assert list(choice) == ["index", "delta", "logprobs", "finish_reason"]
            assert choice["index"] == 0
            assert choice["logprobs"] is None
    # "usage": null on every choice chunk, the real usage only on the last chunk.
    assert [c["usage"] is None for c in chunks] == [True] * 8 + [False]


def test_tool_calls_index_counts_tool_blocks_not_content_blocks() -> None:
    deltas = choice_deltas(run(TOOL_STREAM))
    assert deltas[1] == {"content": "Checking."}
    assert [d["tool_calls"] for d in deltas[2:7]] == [
        [
            {
                "index": 0,
                "id": "tooluse_a",
                "type": "function",
                "function": {"name": "get_weather", "arguments": ""},
            }
        ],
        [{"index": 0, "function": {"arguments": '{"city":'}}],
        [{"index": 0, "function": {"arguments": '"Paris"}'}}],
        [
            {
                "index": 1,
                "id": "tooluse_b",
                "type": "function",
                "function": {"name": "get_time", "arguments": ""},
            }
        ],
        [{"index": 1, "function": {"arguments": "{}"}}],
    ]
    assert deltas[7] == {}


# --- §6.4 rows, one at a time ----------------------------------------------------------------

ROWS: list[tuple[str, list[Event], Event, list[Any]]] = [
    ("messageStart", [], start(), [{"role": "assistant", "content": ""}]),
    ("repeated messageStart", [start()], start(), []),
    ("text delta", [start()], text("hi"), [{"content": "hi"}]),
    ("empty text delta", [start()], text(""), []),
    ("reasoning is dropped", [start()], delta({"reasoningContent": {"text": "hmm"}}), []),
    ("signature is dropped", [start()], delta({"reasoningContent": {"signature": "s"}}), []),
    ("citation is dropped", [start()], delta({"citation": {"title": "x"}}), []),
    ("contentBlockStop", [start(), text("a")], block_stop(0), []),
    (
        "toolResult start is ignored",
        [start()],
        (
            "contentBlockStart",
            {"contentBlockIndex": 0, "start": {"toolResult": {"toolUseId": "x"}}},
        ),
        [],
    ),
    ("unknown event type", [start()], ("somethingNew", {"x": 1}), []),
    ("empty tool input fragment", [start(), tool_start(0, "t", "f")], tool_input(0, ""), []),
    (
        "tool start",
        [start()],
        tool_start(4, "tooluse_x", "lookup"),
        [
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "tooluse_x",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": ""},
                    }
                ]
            }
        ],
    ),
    (
        "tool input",
        [start(), tool_start(4, "t", "f")],
        tool_input(4, '{"q":1}'),
        [{"tool_calls": [{"index": 0, "function": {"arguments": '{"q":1}'}}]}],
    ),
    ("repeated tool start", [start(), tool_start(1, "t", "f")], tool_start(1, "t", "f"), []),
    ("content after messageStop", [start(), stop("end_turn")], text("late"), []),
    ("repeated messageStop", [start(), stop("end_turn")], stop("end_turn"), []),
    ("tool start after messageStop", [start(), stop("tool_use")], tool_start(0, "t", "f"), []),
]


@pytest.mark.parametrize(
    ("before", "event", "expected"),
    [row[1:] for row in ROWS],
    ids=[row[0] for row in ROWS],
)
def test_single_event_translation(before: list[Event], event: Event, expected: list[Any]) -> None:
    tr = translator()
    for kind, body in before:
        tr.feed(kind, json.dumps(body).encode())
    out = tr.feed(event[0], json.dumps(event[1]).encode())
    if expected:
        assert choice_deltas(out) == expected
    else:
        assert out == b""


STOP_REASONS = [
    ("end_turn", "stop"),
    ("stop_sequence", "stop"),
    ("max_tokens", "length"),
    ("model_context_window_exceeded", "length"),
    ("tool_use", "tool_calls"),
    ("guardrail_intervened", "content_filter"),
    ("content_filtered", "content_filter"),
    ("a_future_reason", "stop"),
]


@pytest.mark.parametrize(("stop_reason", "finish_reason"), STOP_REASONS)
def test_stop_reason_maps_to_finish_reason(stop_reason: str, finish_reason: str) -> None:
    tr = translator()
    tr.feed("messageStart", b'{"role":"assistant"}')
    chunk = sse(tr.feed("messageStop", json.dumps({"stopReason": stop_reason}).encode()))
    assert len(chunk) == 1
    assert chunk[0]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": finish_reason,
    }
    assert (tr.stop_reason, tr.finish_reason, tr.done) == (stop_reason, finish_reason, False)


@pytest.mark.parametrize("stop_reason", ["malformed_model_output", "malformed_tool_use"])
def test_malformed_stop_reason_becomes_error_event_then_done(stop_reason: str) -> None:
    out = run([start(), text("x"), stop(stop_reason), metadata()])
    events = sse(out)
    assert events[-2] == {
        "error": {
            "message": f"The model produced malformed output (stopReason {stop_reason})",
            "type": "server_error",
            "param": None,
            "code": MALFORMED_OUTPUT_CODE,
        }
    }
    assert events[-1] == "[DONE]"
    # No finish chunk: the client must not take the partial answer as complete.
    assert all(e["choices"][0]["finish_reason"] is None for e in events[:-2])


def test_usage_chunk_includes_cache_tokens_in_prompt_tokens() -> None:
    tr = translator()
    events = sse(
        b"".join(
            tr.feed(kind, json.dumps(body).encode())
            for kind, body in [
                stop("end_turn"),
                metadata(cacheReadInputTokens=100, cacheWriteInputTokens=7),
            ]
        )
    )
    assert events[-2]["usage"] == {
        "prompt_tokens": 117,
        "completion_tokens": 5,
        "total_tokens": 122,
        "prompt_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 7},
    }
    assert tr.usage == {
        "inputTokens": 10,
        "outputTokens": 5,
        "totalTokens": 15,
        "cacheReadInputTokens": 100,
        "cacheWriteInputTokens": 7,
    }


def test_without_include_usage_there_is_no_usage_key_and_no_usage_chunk() -> None:
    out = run(TOOL_STREAM, include_usage=False)
    assert b'"usage"' not in out
    events = sse(out)
    assert events[-1] == "[DONE]"
    assert events[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_nothing_trails_the_finish_chunk_but_usage_and_done() -> None:
    events = sse(run([*TEXT_STREAM, text("late"), stop("end_turn"), metadata()]))
    finish_at = next(i for i, e in enumerate(events) if e["choices"][0]["finish_reason"])
    assert events[finish_at + 1]["choices"] == []
    assert events[finish_at + 2 :] == ["[DONE]"]


def test_role_chunk_is_synthesised_when_message_start_is_missing() -> None:
    deltas = choice_deltas(run([text("a"), stop("end_turn"), metadata()]))
    assert deltas == [{"role": "assistant", "content": ""}, {"content": "a"}, {}]


def test_role_chunk_precedes_a_finish_with_no_content() -> None:
    deltas = choice_deltas(run([stop("end_turn"), metadata()]))
    assert deltas == [{"role": "assistant", "content": ""}, {}]


def test_tool_input_without_content_block_start_still_gets_a_valid_call() -> None:
    deltas = choice_deltas(
        run([start(), tool_input(3, '{"a":'), tool_input(3, "1}"), stop("tool_use")])
    )
    assert deltas[1] == {
        "tool_calls": [
            {
                "index": 0,
                "id": f"call_{CHUNK_ID}_0",
                "type": "function",
                "function": {"name": "", "arguments": ""},
            }
        ]
    }
    assert deltas[2:4] == [
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]},
    ]


def test_metadata_before_message_stop_is_held_until_the_finish_chunk() -> None:
    tr = translator()
    assert tr.feed(*_raw(metadata())) == b""
    assert not tr.done
    events = sse(tr.feed(*_raw(stop("max_tokens"))))
    assert len(events) == 4  # role chunk, finish chunk, usage chunk, [DONE]
    assert events[-3]["choices"][0]["finish_reason"] == "length"
    assert events[-2]["choices"] == []
    assert events[-1] == "[DONE]"
    assert tr.done


def _raw(event: Event) -> tuple[str, bytes]:
    return event[0], json.dumps(event[1]).encode()


# --- errors and early ends -------------------------------------------------------------------


def test_mid_stream_exception_writes_error_and_done_exactly_once() -> None:
    tr = translator()
    body = b"".join(tr.feed(*_raw(e)) for e in [start(), text("par")])
    error = RateLimitError("Too many tokens", code="rate_limit_exceeded")
    body += tr.fail(error)
    body += tr.fail(UpstreamError("second"))
    body += tr.feed(*_raw(text("more")))
    body += tr.finish()
    events = sse(body)
    assert events[-2:] == [error.to_dict(), "[DONE]"]
    assert body.count(DONE) == 1
    assert tr.done
    assert tr.error is error


def test_stream_that_ends_before_message_stop_is_an_error() -> None:
    events = sse(run([start(), text("trunc")]))
    assert events[-2]["error"]["code"] == PROTOCOL_ERROR_CODE
    assert events[-1] == "[DONE]"


def test_stream_that_ends_without_metadata_closes_without_usage_chunk() -> None:
    tr = translator()
    body = b"".join(tr.feed(*_raw(e)) for e in [start(), text("ok"), stop("end_turn")])
    assert not tr.done
    tail = tr.finish()
    assert tail == DONE
    assert sse(body)[-1]["choices"][0]["finish_reason"] == "stop"
    assert tr.usage is None
    assert tr.finish() == b""


def test_metadata_after_an_error_is_still_recorded_for_budgets() -> None:
    tr = translator()
    tr.feed(*_raw(start()))
    tr.fail(UpstreamError("boom"))
    assert tr.feed(*_raw(metadata(outputTokens=9))) == b""
    assert tr.usage is not None
    assert tr.usage["outputTokens"] == 9


BAD_PAYLOADS = [
    ("contentBlockDelta", b"not json"),
    ("contentBlockDelta", b'{"contentBlockIndex":"zero","delta":{"text":"a"}}'),
    ("contentBlockStart", b"[]"),
    ("messageStop", b'{"stopReason":7}'),
    ("metadata", b'{"usage":{"inputTokens":"many"}}'),
]


@pytest.mark.parametrize(("kind", "payload"), BAD_PAYLOADS)
def test_malformed_payload_is_an_in_band_protocol_error(kind: str, payload: bytes) -> None:
    tr = translator()
    tr.feed(*_raw(start()))
    tr.feed(*_raw(stop("end_turn")))  # so that a good metadata event would close the stream
    events = sse(tr.feed(kind, payload))
    assert events[0]["error"]["code"] == PROTOCOL_ERROR_CODE
    assert events[1:] == ["[DONE]"]


def test_state_counters() -> None:
    tr = translator()
    for event in TOOL_STREAM:
        tr.feed(*_raw(event))
    assert tr.output_chars == len("Checking.") + len('{"city":"Paris"}') + len("{}")
    assert tr.content_deltas == 4
    assert tr.first_token
    assert tr.finish_reason == "tool_calls"
    assert tr.done
    assert tr.error is None


def test_json_special_characters_survive() -> None:
    value = 'quote " backslash \\ newline \n tab \t emoji 🦆 nul \x00 sep \u2028'
    deltas = choice_deltas(run([start(), text(value), stop("end_turn")]))
    assert deltas[1] == {"content": value}


# --- the real openai SDK reads what we write -------------------------------------------------


def sdk_chunks(body: bytes) -> Iterator[ChatCompletionChunk]:
    """Run ``client.chat.completions.create(stream=True)`` against a transport serving ``body``."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            200, headers={"content-type": "text/event-stream"}, content=body, request=request
        )

    client = openai.OpenAI(
        api_key="test",
        base_url="http://gateway.invalid/v1",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    with client:
        stream = client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        yield from stream


def test_sdk_accumulates_text_tools_finish_reason_and_usage() -> None:
    body = run(TOOL_STREAM)
    for event in sse(body)[:-1]:
        ChatCompletionChunk.model_validate(event)
    state: ChatCompletionStreamState[None] = ChatCompletionStreamState()
    for chunk in sdk_chunks(body):
        state.handle_chunk(chunk)
    final = state.get_final_completion()
    assert final.id == CHUNK_ID
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Checking."
    calls = choice.message.tool_calls or []
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("tooluse_a", "get_weather", {"city": "Paris"}),
        ("tooluse_b", "get_time", {}),
    ]
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (117, 5)
    assert final.usage.prompt_tokens_details is not None
    assert final.usage.prompt_tokens_details.cached_tokens == 100


def test_sdk_reads_plain_text_without_usage() -> None:
    chunks = list(sdk_chunks(run(TEXT_STREAM, include_usage=False)))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


def test_sdk_raises_api_error_for_the_in_band_error_event() -> None:
    tr = translator()
    body = b"".join(tr.feed(*_raw(e)) for e in [start(), text("partial")])
    body += tr.fail(RateLimitError("Bedrock is throttling", code="rate_limit_exceeded"))
    chunks = sdk_chunks(body)
    assert next(chunks).choices[0].delta.role == "assistant"
    assert next(chunks).choices[0].delta.content == "partial"
    with pytest.raises(openai.APIError) as caught:
        next(chunks)
    assert caught.value.message == "Bedrock is throttling"
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.type == "rate_limit_error"
