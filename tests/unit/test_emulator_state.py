"""Emulator state: settings updates, retry counters, request log redaction, request checks."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from gateway.emulator import validation
from gateway.emulator.shapes import ConverseRequest
from gateway.emulator.state import LOG_SIZE, ConfigUpdate, Recorded, Settings, State


def test_settings_update_is_partial() -> None:
    settings = Settings().updated(ConfigUpdate(tokens=5, guardrail=None))
    assert (settings.tokens, settings.ttfb_ms, settings.record) == (5, 0.0, True)
    guarded = settings.updated(
        msgspec.convert({"guardrail": {"blocked_words": ["x"]}}, ConfigUpdate)
    )
    assert guarded.tokens == 5
    assert guarded.guardrail.blocked_words == ("x",)
    assert guarded.guardrail.blocked_input_message == settings.guardrail.blocked_input_message
    renamed = guarded.updated(
        msgspec.convert({"guardrail": {"blocked_output_message": "no"}}, ConfigUpdate)
    )
    assert renamed.guardrail.blocked_words == ("x",)
    assert renamed.guardrail.blocked_output_message == "no"
    assert renamed.as_json()["guardrail"]["blocked_output_message"] == "no"


@pytest.mark.parametrize(
    "body", [{"tokens": -1}, {"unknown": 1}, {"guardrail": {"words": []}}, {"record": "yes"}]
)
def test_config_update_rejects_bad_bodies(body: dict[str, Any]) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(body, ConfigUpdate)


def test_error_counters_are_per_key_and_reset() -> None:
    state = State()
    assert [state.should_fail("a", 2) for _ in range(4)] == [True, True, False, False]
    assert state.should_fail("b", 1) is True
    state.reset()
    assert state.should_fail("a", 1) is True


def test_reset_keeps_the_live_stream_gauge() -> None:
    state = State()
    state.stats.active_streams = 2
    state.stats.streams_completed = 7
    state.settings = Settings(tokens=3)
    state.reset()
    assert state.stats.active_streams == 2
    assert state.stats.streams_completed == 0
    assert state.settings == Settings()


def test_request_ids_are_unique_and_uuid_shaped() -> None:
    state = State()
    ids = {state.request_id() for _ in range(100)}
    assert len(ids) == 100
    sample = next(iter(ids)).decode()
    assert [len(part) for part in sample.split("-")] == [8, 4, 4, 4, 12]


def test_request_log_is_bounded_and_redacted() -> None:
    state = State()
    headers = [
        (
            b"Authorization",
            b"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/bedrock/aws4_request, "
            b"SignedHeaders=host;x-amz-date, Signature=abcdef",
        ),
        (b"X-Amz-Security-Token", b"very-secret"),
        (b"Content-Type", b"application/json"),
    ]
    for i in range(LOG_SIZE + 5):
        state.log.append(Recorded("Converse", f"m{i}", b"/model/m/converse", headers, b'{"a":1}'))
    log = state.log_json()
    assert len(log) == LOG_SIZE
    assert log[0]["model_id"] == "m5"
    entry = log[-1]
    assert entry["headers"]["authorization"] == "20250101/us-east-1/bedrock/aws4_request"
    assert entry["headers"]["x-amz-security-token"] == "<redacted>"
    assert entry["headers"]["content-type"] == "application/json"
    assert entry["body"] == {"a": 1}
    assert entry["path"] == "/model/m/converse"


def test_bearer_tokens_never_reach_the_log() -> None:
    state = State()
    state.log.append(
        Recorded("Converse", "m", b"/p", [(b"authorization", b"Bearer abc123")], b"not json")
    )
    (entry,) = state.log_json()
    assert entry["headers"]["authorization"] == "Bearer"
    assert entry["body"] == "not json"


def _user(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "content": list(blocks)}


def _assistant(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"role": "assistant", "content": list(blocks)}


TOOL_USE = {"toolUse": {"toolUseId": "t1", "name": "f", "input": {}}}
TOOLS = {"tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {}}}}]}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"messages": [_user({"text": "hi"})]}, None),
        ({"messages": [_user({"text": "hi"}), _assistant({"text": "pre"})]}, None),
        ({"messages": []}, "must start with a user message"),
        ({"messages": [_assistant({"text": "hi"})]}, "must start with a user message"),
        ({"messages": [_user({"text": "a"}), _user({"text": "b"})]}, "must alternate"),
        ({"messages": [_user({"text": "a"}), {"role": "bot", "content": [{"text": "b"}]}]},
         "enum value set"),
        ({"messages": [_user()]}, "content field in the Message object at messages.0 is empty"),
        ({"messages": [_user({"text": "  "})]}, "messages.0.content.0 is blank"),
        ({"messages": [_user({"text": "a"}), _assistant(TOOL_USE), _user({"text": "b"})]},
         "toolConfig field must be defined"),
        ({"messages": [_user({"text": "a"}), _assistant(TOOL_USE), _user({"text": "b"})],
          "toolConfig": TOOLS}, None),
        ({"messages": [_user({"text": "a"})], "inferenceConfig": {"maxTokens": 0}},
         "greater than or equal to 1"),
        ({"messages": [_user({"text": "a"})], "toolConfig": {"tools": []}}, "at least one tool"),
    ],
)  # fmt: skip
def test_validation(body: dict[str, Any], fragment: str | None) -> None:
    problem = validation.problem(msgspec.convert(body, ConverseRequest))
    if fragment is None:
        assert problem is None
    else:
        assert problem is not None and fragment in problem
