"""apply_inline: guardrailConfig and guardContent on a Converse call, checked against botocore."""

from __future__ import annotations

import copy
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from gateway.bedrock.translate import ConverseCall
from gateway.policy.guardrail import apply_inline
from gateway.policy.model import (
    GuardrailSettings,
    GuardrailTrace,
    GuardScope,
    StreamProcessing,
)

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
_SERVICE = botocore.session.get_session().get_service_model("bedrock-runtime")
PNG = b"\x89PNG\r\n\x1a\n"


def call(messages: list[dict[str, Any]], *, stream: bool = False, **extra: Any) -> ConverseCall:
    body: dict[str, Any] = {"messages": messages, "inferenceConfig": {"maxTokens": 64}, **extra}
    return ConverseCall(MODEL, body, stream, include_usage=False, max_tokens=64)


def settings(**overrides: Any) -> GuardrailSettings:
    return GuardrailSettings(identifier="gr1abc", version="DRAFT", **overrides)


def validate(result: ConverseCall) -> None:
    operation = _SERVICE.operation_model("ConverseStream" if result.stream else "Converse")
    report = ParamValidator().validate(
        {"modelId": result.model_id, **result.body}, operation.input_shape
    )
    assert not report.has_errors(), report.generate_report()


CONVERSATION: list[dict[str, Any]] = [
    {"role": "user", "content": [{"text": "first question"}]},
    {"role": "assistant", "content": [{"text": "first answer"}]},
    {
        "role": "user",
        "content": [
            {"text": "look at this"},
            {"image": {"format": "png", "source": {"bytes": PNG}}},
            {"text": "and tell me"},
            {"cachePoint": {"type": "default"}},
        ],
    },
]


@pytest.mark.parametrize(
    ("stream", "trace", "mode", "expected"),
    [
        (
            False,
            GuardrailTrace.ENABLED,
            StreamProcessing.SYNC,
            {"guardrailIdentifier": "gr1abc", "guardrailVersion": "DRAFT", "trace": "enabled"},
        ),
        (
            False,
            GuardrailTrace.DISABLED,
            StreamProcessing.ASYNC,  # Converse has no streamProcessingMode: left out
            {"guardrailIdentifier": "gr1abc", "guardrailVersion": "DRAFT", "trace": "disabled"},
        ),
        (
            True,
            GuardrailTrace.ENABLED_FULL,
            StreamProcessing.ASYNC,
            {
                "guardrailIdentifier": "gr1abc",
                "guardrailVersion": "DRAFT",
                "trace": "enabled_full",
                "streamProcessingMode": "async",
            },
        ),
        (
            True,
            GuardrailTrace.ENABLED,
            StreamProcessing.SYNC,
            {
                "guardrailIdentifier": "gr1abc",
                "guardrailVersion": "DRAFT",
                "trace": "enabled",
                "streamProcessingMode": "sync",
            },
        ),
    ],
)
def test_guardrail_config_by_stream_and_settings(
    stream: bool, trace: GuardrailTrace, mode: StreamProcessing, expected: dict[str, str]
) -> None:
    result = apply_inline(
        settings(trace=trace, stream_processing=mode), call(CONVERSATION, stream=stream)
    )
    assert result.body["guardrailConfig"] == expected
    assert result.stream is stream
    validate(result)


def test_latest_user_wraps_only_that_turns_text_blocks() -> None:
    original = call(CONVERSATION, system=[{"text": "be brief"}])
    snapshot = copy.deepcopy(original.body)
    result = apply_inline(settings(guard=GuardScope.LATEST_USER), original)
    messages = result.body["messages"]
    assert messages[:2] == CONVERSATION[:2]  # earlier turns untouched
    assert messages[2]["content"] == [
        {"guardContent": {"text": {"text": "look at this"}}},
        {"image": {"format": "png", "source": {"bytes": PNG}}},
        {"guardContent": {"text": {"text": "and tell me"}}},
        {"cachePoint": {"type": "default"}},
    ]
    assert result.body["system"] == [{"text": "be brief"}]
    assert original.body == snapshot  # pure: the input call is not changed
    validate(result)


def test_all_leaves_messages_as_they_are() -> None:
    original = call(CONVERSATION)
    result = apply_inline(settings(guard=GuardScope.ALL), original)
    assert result.body["messages"] == CONVERSATION
    assert "guardContent" not in repr(result.body)
    assert (result.model_id, result.max_tokens) == (original.model_id, original.max_tokens)
    validate(result)


@pytest.mark.parametrize(
    "last",
    [
        # A tool-result turn has no text block to mark: Bedrock then evaluates everything.
        {
            "role": "user",
            "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "42"}]}}],
        },
        # A document needs a plain text block beside it.
        {
            "role": "user",
            "content": [
                {"document": {"name": "report", "format": "txt", "source": {"bytes": b"hi"}}},
                {"text": "summarise"},
            ],
        },
    ],
    ids=["tool-result-turn", "document-turn"],
)
def test_latest_user_without_wrappable_text_is_left_alone(last: dict[str, Any]) -> None:
    messages = [
        {"role": "user", "content": [{"text": "q"}]},
        {
            "role": "assistant",
            "content": [{"toolUse": {"toolUseId": "t1", "name": "calc", "input": {}}}],
        },
        last,
    ]
    tools = {"tools": [{"toolSpec": {"name": "calc", "inputSchema": {"json": {"type": "object"}}}}]}
    result = apply_inline(settings(), call(messages, toolConfig=tools))
    assert result.body["messages"] == messages
    assert "guardrailConfig" in result.body
    validate(result)


def test_latest_user_is_found_behind_a_trailing_assistant_prefill() -> None:
    messages = [
        {"role": "user", "content": [{"text": "write json"}]},
        {"role": "assistant", "content": [{"text": "{"}]},
    ]
    result = apply_inline(settings(), call(messages))
    assert result.body["messages"][0]["content"] == [
        {"guardContent": {"text": {"text": "write json"}}}
    ]
    assert result.body["messages"][1] == messages[1]
    validate(result)


def test_the_validator_used_here_rejects_a_misplaced_member() -> None:
    # Guards the guard: Converse (not ConverseStream) has no streamProcessingMode.
    wrong = apply_inline(settings(), call(CONVERSATION, stream=True))
    misplaced = ConverseCall(MODEL, wrong.body, False, include_usage=False, max_tokens=64)
    with pytest.raises(AssertionError, match="streamProcessingMode"):
        validate(misplaced)
