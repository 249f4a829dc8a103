"""Unmodified boto3 against the emulator process: every operation, event, error and knob."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError

from tests.fixtures.emulator import EmulatorHandle

pytestmark = pytest.mark.integration

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
PROFILE_ARN = (
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
    "us.anthropic.claude-3-5-sonnet-20240620-v1:0"
)
TOOLS = {
    "tools": [
        {
            "toolSpec": {
                "name": "get_weather",
                "description": "Weather for a city",
                "inputSchema": {
                    "json": {
                        "type": "object",
                        "properties": {
                            "city": {"type": "string"},
                            "days": {"type": "integer"},
                            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                            "where": {
                                "type": "object",
                                "properties": {
                                    "lat": {"type": "number"},
                                    "exact": {"type": "boolean"},
                                },
                            },
                        },
                        "required": ["city"],
                    }
                },
            }
        },
        {"toolSpec": {"name": "get_time", "inputSchema": {"json": {"type": "object"}}}},
    ]
}
# The oracle for errors is botocore's service model, not the emulator's own tables.
_SERVICE = botocore.session.get_session().get_service_model("bedrock-runtime")
MODEL_ERRORS = {s.name: s.metadata["error"]["httpStatusCode"] for s in _SERVICE.error_shapes}
_STREAM = _SERVICE.operation_model("ConverseStream").output_shape.members["stream"]
STREAM_MEMBERS = sorted(m for m, s in _STREAM.members.items() if s.metadata.get("exception"))
GUARDRAIL = {"guardrailIdentifier": "gr-1", "guardrailVersion": "DRAFT", "trace": "enabled"}

Client = Any  # botocore builds the client class at run time


@pytest.fixture(scope="module")
def make_client(emulator: EmulatorHandle) -> Iterator[Callable[..., Client]]:
    saved = os.environ.pop("AWS_BEARER_TOKEN_BEDROCK", None)  # bearer auth refuses http://

    def make(attempts: int = 1) -> Client:
        return boto3.client(
            "bedrock-runtime",
            endpoint_url=emulator.url,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="y",
            config=Config(retries={"total_max_attempts": attempts}),
        )

    yield make
    if saved is not None:
        os.environ["AWS_BEARER_TOKEN_BEDROCK"] = saved


@pytest.fixture
def client(make_client: Callable[..., Client], emu: EmulatorHandle) -> Client:
    return make_client()


def say(text: str = "Hello there", **directive: Any) -> list[dict[str, Any]]:
    if directive:
        text = f"{text} [[emu {json.dumps(directive)}]]"
    return [{"role": "user", "content": [{"text": text}]}]


def stream_events(response: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [next(iter(event.items())) for event in response["stream"]]


def text_of(events: list[tuple[str, dict[str, Any]]]) -> str:
    return "".join(
        body["delta"].get("text", "") for kind, body in events if kind == "contentBlockDelta"
    )


def reply_text(response: dict[str, Any]) -> str:
    return str(response["output"]["message"]["content"][0]["text"])


def wait_for(emu: EmulatorHandle, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Poll the emulator's stats: they change when the server notices, not when we return."""
    deadline = time.monotonic() + 10
    while True:
        stats = emu.stats()
        if check(stats) or time.monotonic() > deadline:
            return stats
        time.sleep(0.02)


# --- Converse -------------------------------------------------------------------------------


def test_converse_text_usage_and_metadata(client: Client) -> None:
    response = client.converse(modelId=MODEL, messages=say("x" * 40), system=[{"text": "y" * 8}])
    words = reply_text(response).split(" ")
    assert len(words) == 32
    assert len(set(words)) >= 16
    assert response["output"]["message"]["role"] == "assistant"
    assert response["stopReason"] == "end_turn"
    assert response["usage"] == {"inputTokens": 12, "outputTokens": 32, "totalTokens": 44}
    assert response["metrics"]["latencyMs"] >= 0
    assert response["ResponseMetadata"]["RequestId"]


def test_replies_are_deterministic(client: Client) -> None:
    first = client.converse(modelId=MODEL, messages=say(tokens=7))
    second = client.converse(modelId=MODEL, messages=say(tokens=7))
    assert reply_text(first) == reply_text(second)
    assert first["ResponseMetadata"]["RequestId"] != second["ResponseMetadata"]["RequestId"]


@pytest.mark.parametrize(
    ("inference", "directive", "reason", "text"),
    [
        ({"maxTokens": 3}, {}, "max_tokens", "The quick brown"),
        ({"stopSequences": ["fox"]}, {"tokens": 8}, "stop_sequence", "The quick brown "),
        ({}, {"reply": "Exactly these words"}, "end_turn", "Exactly these words"),
        ({}, {"tokens": 2, "stop_reason": "malformed_model_output"}, "malformed_model_output",
         "The quick"),
        ({}, {"tokens": 2, "stop_reason": "content_filtered"}, "content_filtered", "The quick"),
    ],
)  # fmt: skip
def test_converse_stop_reasons(
    client: Client, inference: dict[str, Any], directive: dict[str, Any], reason: str, text: str
) -> None:
    response = client.converse(modelId=MODEL, messages=say(**directive), inferenceConfig=inference)
    assert response["stopReason"] == reason
    assert reply_text(response) == text


def test_defaults_come_from_the_config_api(client: Client, emu: EmulatorHandle) -> None:
    emu.config(tokens=4)
    assert len(reply_text(client.converse(modelId=MODEL, messages=say())).split()) == 4
    emu.reset()
    assert len(reply_text(client.converse(modelId=MODEL, messages=say())).split()) == 32


def test_cache_token_counts(client: Client) -> None:
    usage = client.converse(modelId=MODEL, messages=say(tokens=2, cache_read=100, cache_write=5))[
        "usage"
    ]
    assert usage["cacheReadInputTokens"] == 100
    assert usage["cacheWriteInputTokens"] == 5
    assert usage["totalTokens"] == usage["inputTokens"] + 2 + 105


@pytest.mark.parametrize(
    "model_id",
    [
        MODEL,
        "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
        PROFILE_ARN,
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3",
        "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0",
    ],
)
def test_model_ids_are_one_decoded_path_segment(
    client: Client, emu: EmulatorHandle, model_id: str
) -> None:
    client.converse(modelId=model_id, messages=say(tokens=1))
    (seen,) = emu.requests()
    assert seen["model_id"] == model_id
    assert seen["operation"] == "Converse"
    segment = seen["path"].split("/")[2]
    assert ":" not in segment and "/" not in segment
    assert seen["path"].endswith("/converse")


def test_the_request_log(client: Client, emu: EmulatorHandle) -> None:
    client.converse(modelId=PROFILE_ARN, messages=say("logged", tokens=1))
    client.converse_stream(modelId=MODEL, messages=say("streamed", tokens=1))["stream"].close()
    first, second = emu.requests()
    assert first["path"] == "/model/" + PROFILE_ARN.replace(":", "%3A").replace("/", "%2F") + (
        "/converse"
    )
    assert re.fullmatch(r"\d{8}/us-east-1/bedrock/aws4_request", first["headers"]["authorization"])
    assert first["headers"]["content-type"] == "application/json"
    assert "x-amz-date" in first["headers"]
    assert first["body"]["messages"][0]["content"][0]["text"].startswith("logged")
    assert second["operation"] == "ConverseStream"
    emu.clear_requests()
    assert emu.requests() == []


# --- Tools ----------------------------------------------------------------------------------


def test_tool_use(client: Client) -> None:
    response = client.converse(modelId=MODEL, messages=say("weather?"), toolConfig=TOOLS)
    assert response["stopReason"] == "tool_use"
    (block,) = response["output"]["message"]["content"]
    use = block["toolUse"]
    assert use["name"] == "get_weather"
    assert re.fullmatch(r"tooluse_[a-zA-Z0-9_.:-]{1,56}", use["toolUseId"])
    assert use["input"] == {
        "city": "emulated",
        "days": 1,
        "unit": "celsius",
        "where": {"lat": 1, "exact": True},
    }


def test_tool_choice_and_no_tool(client: Client) -> None:
    chosen = {**TOOLS, "toolChoice": {"tool": {"name": "get_time"}}}
    response = client.converse(modelId=MODEL, messages=say(), toolConfig=chosen)
    assert response["output"]["message"]["content"][0]["toolUse"]["name"] == "get_time"
    plain = client.converse(modelId=MODEL, messages=say(no_tool=True, tokens=2), toolConfig=TOOLS)
    assert plain["stopReason"] == "end_turn"
    assert reply_text(plain) == "The quick"


def test_tool_result_gets_a_text_reply(client: Client) -> None:
    first = client.converse(modelId=MODEL, messages=say("weather?"), toolConfig=TOOLS)
    use = first["output"]["message"]["content"][0]["toolUse"]
    result = "Sunny and 21 degrees in Paris, with a light breeze from the west"
    messages = [
        *say("weather?"),
        first["output"]["message"],
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": use["toolUseId"], "content": [{"text": result}]}}
            ],
        },
    ]
    response = client.converse(modelId=MODEL, messages=messages, toolConfig=TOOLS)
    assert response["stopReason"] == "end_turn"
    assert reply_text(response).startswith("Tool result received: " + result[:40])


def test_streamed_tool_use_deltas_concatenate_to_the_input(client: Client) -> None:
    plain = client.converse(modelId=MODEL, messages=say("weather?"), toolConfig=TOOLS)
    events = stream_events(
        client.converse_stream(modelId=MODEL, messages=say("weather?"), toolConfig=TOOLS)
    )
    kinds = [kind for kind, _ in events]
    assert kinds[:2] == ["messageStart", "contentBlockStart"]
    assert kinds[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    start = events[1][1]["start"]["toolUse"]
    expected = plain["output"]["message"]["content"][0]["toolUse"]
    assert (start["toolUseId"], start["name"]) == (expected["toolUseId"], expected["name"])
    fragments = [b["delta"]["toolUse"]["input"] for k, b in events if k == "contentBlockDelta"]
    assert len(fragments) >= 2
    assert json.loads("".join(fragments)) == expected["input"]
    assert events[-2][1]["stopReason"] == "tool_use"


# --- ConverseStream -------------------------------------------------------------------------


def test_stream_events_in_order_and_matching_converse(client: Client) -> None:
    plain = client.converse(modelId=MODEL, messages=say(tokens=9))
    events = stream_events(client.converse_stream(modelId=MODEL, messages=say(tokens=9)))
    kinds = [kind for kind, _ in events]
    assert kinds == ["messageStart", *["contentBlockDelta"] * 9, "contentBlockStop", "messageStop",
                     "metadata"]  # fmt: skip
    assert events[0][1] == {"role": "assistant"}
    deltas = [body["delta"]["text"] for kind, body in events if kind == "contentBlockDelta"]
    assert deltas[0] == "The" and all(d.startswith(" ") for d in deltas[1:])
    assert text_of(events) == reply_text(plain)
    assert events[-2][1] == {"stopReason": "end_turn"}
    metadata = events[-1][1]
    assert metadata["usage"] == plain["usage"]
    assert metadata["metrics"]["latencyMs"] >= 0


def test_stream_honours_max_tokens_and_stop_sequences(client: Client) -> None:
    capped = stream_events(
        client.converse_stream(modelId=MODEL, messages=say(), inferenceConfig={"maxTokens": 2})
    )
    assert text_of(capped) == "The quick"
    assert capped[-2][1]["stopReason"] == "max_tokens"
    stopped = stream_events(
        client.converse_stream(
            modelId=MODEL, messages=say(), inferenceConfig={"stopSequences": ["own"]}
        )
    )
    assert text_of(stopped) == "The quick br"
    assert stopped[-2][1]["stopReason"] == "stop_sequence"
    assert stopped[-1][1]["usage"]["outputTokens"] == 3


def test_closing_a_stream_early_is_seen_as_a_cancellation(
    client: Client, emu: EmulatorHandle
) -> None:
    response = client.converse_stream(modelId=MODEL, messages=say(tokens=100, token_delay_ms=50))
    stream = iter(response["stream"])
    assert "messageStart" in next(stream)
    assert "contentBlockDelta" in next(stream)
    assert emu.stats()["active_streams"] == 1
    response["stream"].close()
    stats = wait_for(emu, lambda s: s["streams_cancelled"] == 1 and s["active_streams"] == 0)
    assert stats["streams_cancelled"] == 1
    assert stats["active_streams"] == 0
    assert stats["streams_completed"] == 0


# --- Errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", sorted(MODEL_ERRORS))
@pytest.mark.parametrize("operation", ["converse", "converse_stream"])
def test_every_error_shape_raises_its_modeled_class(
    client: Client, shape: str, operation: str
) -> None:
    with pytest.raises(ClientError) as caught:
        getattr(client, operation)(modelId=MODEL, messages=say(error=shape))
    assert type(caught.value) is getattr(client.exceptions, shape)
    error = caught.value.response
    assert error["Error"]["Code"] == shape
    assert error["Error"]["Message"] == f"Emulated {shape}"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == MODEL_ERRORS[shape]
    assert error["ResponseMetadata"]["RequestId"]


@pytest.mark.parametrize("member", STREAM_MEMBERS)
def test_every_stream_exception_member(client: Client, member: str) -> None:
    response = client.converse_stream(
        modelId=MODEL, messages=say(tokens=5, stream_error=member, stream_error_after=2)
    )
    seen: list[str] = []
    with pytest.raises(EventStreamError) as caught:
        for event in response["stream"]:
            seen.extend(event)
    assert seen == ["messageStart", "contentBlockDelta", "contentBlockDelta"]
    assert caught.value.response["Error"]["Code"] == member
    assert caught.value.response["Error"]["Message"]


def test_stream_exception_on_plain_converse_is_its_http_twin(client: Client) -> None:
    with pytest.raises(client.exceptions.ModelStreamErrorException):
        client.converse(modelId=MODEL, messages=say(stream_error="modelStreamErrorException"))


def test_generic_stream_error(client: Client) -> None:
    response = client.converse_stream(
        modelId=MODEL, messages=say(tokens=3, stream_error_generic="InternalFailure")
    )
    with pytest.raises(EventStreamError) as caught:
        list(response["stream"])
    assert caught.value.response["Error"]["Code"] == "InternalFailure"
    assert caught.value.response["Error"]["Message"] == "Emulated generic stream error"


def test_validation_errors_from_the_service(client: Client) -> None:
    with pytest.raises(client.exceptions.ValidationException, match="alternate"):
        client.converse(modelId=MODEL, messages=say() + say())
    with pytest.raises(client.exceptions.ValidationException, match="directive"):
        client.converse(modelId=MODEL, messages=say(not_a_knob=1))


def test_error_times_fails_then_succeeds_per_key(
    make_client: Callable[..., Client], emu: EmulatorHandle
) -> None:
    retrying = make_client(attempts=3)
    response = retrying.converse(
        modelId=MODEL, messages=say(tokens=1, error_times=2, error_key="retry-a")
    )
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert emu.stats()["requests"] == 3
    once = make_client()
    # Another key has its own counter; the exhausted one now always succeeds.
    with pytest.raises(once.exceptions.ServiceUnavailableException):
        once.converse(
            modelId=MODEL,
            messages=say(error="ServiceUnavailableException", error_times=1, error_key="retry-b"),
        )
    once.converse(modelId=MODEL, messages=say(tokens=1, error_times=2, error_key="retry-a"))


# --- Guardrails -----------------------------------------------------------------------------


def test_apply_guardrail_both_actions(client: Client, emu: EmulatorHandle) -> None:
    emu.config(
        guardrail={"blocked_words": ["forbidden"], "blocked_input_message": "Input says no."}
    )
    blocked = client.apply_guardrail(
        guardrailIdentifier="gr-1",
        guardrailVersion="DRAFT",
        source="INPUT",
        content=[{"text": {"text": "This is FORBIDDEN."}}],
    )
    assert blocked["action"] == "GUARDRAIL_INTERVENED"
    assert blocked["actionReason"]
    assert blocked["outputs"] == [{"text": "Input says no."}]
    (assessment,) = blocked["assessments"]
    assert assessment["wordPolicy"]["customWords"] == [
        {"match": "forbidden", "action": "BLOCKED", "detected": True}
    ]
    assert blocked["usage"]["wordPolicyUnits"] == 1
    allowed = client.apply_guardrail(
        guardrailIdentifier="gr-1",
        guardrailVersion="1",
        source="OUTPUT",
        content=[{"text": {"text": "forbiddenness is not a whole-word match"}}],
    )
    assert allowed["action"] == "NONE"
    assert allowed["outputs"] == []
    assert emu.requests()[0]["operation"] == "ApplyGuardrail"


def test_inline_guardrail_on_input_and_output(client: Client, emu: EmulatorHandle) -> None:
    emu.config(
        guardrail={
            "blocked_words": ["secret", "zebras"],
            "blocked_input_message": "Blocked input.",
            "blocked_output_message": "Blocked output.",
        }
    )
    inbound = client.converse(
        modelId=MODEL, messages=say("tell me the secret"), guardrailConfig=GUARDRAIL
    )
    assert inbound["stopReason"] == "guardrail_intervened"
    assert reply_text(inbound) == "Blocked input."
    assert "gr-1" in inbound["trace"]["guardrail"]["inputAssessment"]
    # The default 32-word reply contains "zebras": the output check intervenes.
    outbound = client.converse(modelId=MODEL, messages=say(), guardrailConfig=GUARDRAIL)
    assert outbound["stopReason"] == "guardrail_intervened"
    assert reply_text(outbound) == "Blocked output."
    events = stream_events(
        client.converse_stream(modelId=MODEL, messages=say(), guardrailConfig=GUARDRAIL)
    )
    assert text_of(events) == "Blocked output."
    assert events[-2][1]["stopReason"] == "guardrail_intervened"
    # Without guardrailConfig the same request is untouched.
    assert client.converse(modelId=MODEL, messages=say())["stopReason"] == "end_turn"
