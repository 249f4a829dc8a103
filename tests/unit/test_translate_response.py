"""from_converse and encode_completion: every row of protocols §6.2 and §6.3, read by the SDK."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai.types.chat import ChatCompletion as SDKChatCompletion

from gateway.bedrock.translate import encode_completion, from_converse
from gateway.errors import UpstreamError
from gateway.openai.types import ChatCompletion

MODEL = "claude-haiku"
COMPLETION_ID = "chatcmpl-abc123"
CREATED = 1735689600
USAGE = {"inputTokens": 31, "outputTokens": 40, "totalTokens": 71}


def converse(
    *blocks: dict[str, Any], stop: str = "end_turn", usage: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": list(blocks)}},
        "stopReason": stop,
        "usage": usage if usage is not None else USAGE,
        "metrics": {"latencyMs": 812},
    }


def translate(resp: dict[str, Any]) -> ChatCompletion:
    return from_converse(resp, model=MODEL, completion_id=COMPLETION_ID, created=CREATED)


def wire(resp: dict[str, Any]) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(encode_completion(translate(resp)))
    return decoded


def tool_use(tool_id: str, name: str, value: Any) -> dict[str, Any]:
    return {"toolUse": {"toolUseId": tool_id, "name": name, "input": value}}


# --- §6.2 stopReason -> finish_reason ------------------------------------------------------


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
        ("a_future_reason", "stop"),
    ],
)
def test_stop_reason_maps_to_finish_reason(stop: str, finish: str) -> None:
    assert translate(converse({"text": "x"}, stop=stop)).choices[0].finish_reason == finish


@pytest.mark.parametrize("stop", ["malformed_model_output", "malformed_tool_use"])
def test_malformed_output_is_an_upstream_error(stop: str) -> None:
    with pytest.raises(UpstreamError) as info:
        translate(converse({"text": "x"}, stop=stop))
    assert (info.value.status, info.value.code) == (502, "malformed_model_output")


# --- §6.3 body -----------------------------------------------------------------------------


def test_text_blocks_are_concatenated_in_order() -> None:
    message = wire(converse({"text": "Hello, "}, {"text": "world"}))["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "Hello, world", "refusal": None}


def test_tool_use_becomes_tool_calls_with_compact_json_and_null_content() -> None:
    body = wire(
        converse(
            tool_use("tooluse_1", "get_weather", {"city": "Paris", "days": [1, 2]}),
            tool_use("tooluse_2", "get_time", {}),
            stop="tool_use",
        )
    )
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "tool_calls": [
            {
                "type": "function",
                "id": "tooluse_1",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris","days":[1,2]}'},
            },
            {
                "type": "function",
                "id": "tooluse_2",
                "function": {"name": "get_time", "arguments": "{}"},
            },
        ],
    }


def test_text_and_tool_use_together_keep_both() -> None:
    message = (
        translate(converse({"text": "Checking."}, tool_use("t", "f", {"a": "é"})))
        .choices[0]
        .message
    )
    assert message.content == "Checking."
    assert message.tool_calls is not None
    assert json.loads(message.tool_calls[0].function.arguments) == {"a": "é"}


def test_reasoning_content_is_dropped() -> None:
    resp = converse(
        {"reasoningContent": {"reasoningText": {"text": "thinking...", "signature": "sig"}}},
        {"text": "Answer"},
    )
    message = wire(resp)["choices"][0]["message"]
    assert message["content"] == "Answer"
    assert "thinking" not in json.dumps(message)


@pytest.mark.parametrize(
    "resp",
    [
        converse(),
        converse({"reasoningContent": {"reasoningText": {"text": "hmm"}}}),
        {"output": {"message": {"role": "assistant"}}, "stopReason": "end_turn", "usage": USAGE},
    ],
)
def test_no_text_blocks_means_null_content(resp: dict[str, Any]) -> None:
    message = wire(resp)["choices"][0]["message"]
    assert message["content"] is None
    assert "tool_calls" not in message


def test_envelope_fields_and_explicit_nulls() -> None:
    body = wire(converse({"text": "hi"}))
    assert body["object"] == "chat.completion"
    assert (body["id"], body["created"], body["model"]) == (COMPLETION_ID, CREATED, MODEL)
    assert body["system_fingerprint"] is None
    assert body["choices"][0]["index"] == 0
    assert body["choices"][0]["logprobs"] is None
    assert "logprobs" in body["choices"][0]
    assert "refusal" in body["choices"][0]["message"]


# --- §6.3 usage ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (
            USAGE,
            {
                "prompt_tokens": 31,
                "completion_tokens": 40,
                "total_tokens": 71,
                "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            },
        ),
        (
            {**USAGE, "cacheReadInputTokens": 100, "cacheWriteInputTokens": 20},
            {
                "prompt_tokens": 151,
                "completion_tokens": 40,
                "total_tokens": 191,
                "prompt_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 20},
            },
        ),
    ],
)
def test_usage_counts_cache_reads_and_writes_in_prompt_tokens(
    usage: dict[str, Any], expected: dict[str, Any]
) -> None:
    body = wire(converse({"text": "x"}, usage=usage))
    assert body["usage"] == expected
    assert "completion_tokens_details" not in body["usage"]


# --- the SDK reads what we write -----------------------------------------------------------


@pytest.mark.parametrize(
    "resp",
    [
        converse({"text": "Hello"}),
        converse(tool_use("t1", "f", {"x": 1}), stop="tool_use"),
        converse(stop="max_tokens"),
    ],
)
def test_openai_sdk_parses_the_encoded_completion(resp: dict[str, Any]) -> None:
    raw = encode_completion(translate(resp))
    parsed = SDKChatCompletion.model_validate_json(raw)
    ours = translate(resp)
    assert parsed.id == COMPLETION_ID
    assert parsed.choices[0].finish_reason == ours.choices[0].finish_reason
    assert parsed.choices[0].message.content == ours.choices[0].message.content
    assert parsed.usage is not None
    assert parsed.usage.total_tokens == 71
    calls = parsed.choices[0].message.tool_calls or []
    assert [c.id for c in calls] == [c.id for c in ours.choices[0].message.tool_calls or []]
