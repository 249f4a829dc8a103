"""The guardrail stage end to end: real BedrockClient and boto3 against the emulator process."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.model import Shape

from gateway.bedrock.client import BedrockClient, BedrockSettings
from gateway.bedrock.translate import ConverseCall
from gateway.policy.guardrail import (
    ContentFilterError,
    GuardrailGate,
    GuardrailUnavailableError,
    apply_inline,
)
from gateway.policy.guardrail_stream import OutputGuard
from gateway.policy.guardrail_summary import Finding, summarise_trace
from gateway.policy.model import GuardrailSettings, GuardrailTrace, GuardScope, OnError
from tests.fixtures.emulator import EmulatorHandle

pytestmark = pytest.mark.integration

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
GUARDRAIL = GuardrailSettings(identifier="gr1abc", version="3")
WORD = Finding("wordPolicy", "BLOCKED")
PII_MASKED = Finding("sensitiveInformationPolicy", "ANONYMIZED")
PII_BLOCKED = Finding("sensitiveInformationPolicy", "BLOCKED")
_SERVICE = botocore.session.get_session().get_service_model("bedrock-runtime")

Client = Any  # botocore builds the client class at run time


# --- the service model as the oracle for response shapes -------------------------------------


def shape_problems(value: Any, shape: Shape, path: str = "$") -> list[str]:
    """Where ``value`` (decoded JSON) departs from ``shape``: unknown or missing members,
    wrong types, values outside an enum, unions with other than one member."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: expected an object for {shape.name}"]
        members = shape.members
        out = [f"{path}.{k}: not a member of {shape.name}" for k in value if k not in members]
        out += [
            f"{path}.{k}: required by {shape.name}"
            for k in shape.required_members
            if k not in value
        ]
        if getattr(shape, "is_tagged_union", False) and len(value) != 1:
            out.append(f"{path}: union {shape.name} needs exactly one member")
        for key, item in value.items():
            if key in members:
                out += shape_problems(item, members[key], f"{path}.{key}")
        return out
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        return [
            p for i, v in enumerate(value) for p in shape_problems(v, shape.member, f"{path}[{i}]")
        ]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{path}: expected a map"]
        return [p for k, v in value.items() for p in shape_problems(v, shape.value, f"{path}[{k}]")]
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: expected a string"]
        enum = shape.enum
        return [f"{path}: {value!r} not in {shape.name}"] if enum and value not in enum else []
    if kind in ("integer", "long"):
        return [] if isinstance(value, int) and not isinstance(value, bool) else [f"{path}: int"]
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: expected a boolean"]
    if kind in ("double", "float"):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [f"{path}: expected a number"]
    return []  # document, blob: free-form here


def assert_shape(value: Any, shape_name: str) -> None:
    problems = shape_problems(value, _SERVICE.shape_for(shape_name))
    assert not problems, problems


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
async def bedrock(emu: EmulatorHandle) -> AsyncIterator[BedrockClient]:
    settings = BedrockSettings(
        region="us-east-1",
        endpoint_url=emu.url,
        static_credentials=("AKIDTEST", "secret"),
        max_attempts=1,
    )
    client = BedrockClient.from_settings(settings, environ={})
    await client.start()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture(scope="module")
def boto(emulator: EmulatorHandle) -> Iterator[Client]:
    saved = os.environ.pop("AWS_BEARER_TOKEN_BEDROCK", None)  # bearer auth refuses http://
    yield boto3.client(
        "bedrock-runtime",
        endpoint_url=emulator.url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=Config(retries={"total_max_attempts": 1}),
    )
    if saved is not None:
        os.environ["AWS_BEARER_TOKEN_BEDROCK"] = saved


def user(text: str, **directive: Any) -> dict[str, Any]:
    if directive:
        text = f"{text} [[emu {json.dumps(directive)}]]"
    return {"role": "user", "content": [{"text": text}]}


def make_call(*messages: dict[str, Any], stream: bool = False) -> ConverseCall:
    body = {"messages": list(messages), "inferenceConfig": {"maxTokens": 300}}
    return ConverseCall(MODEL, body, stream, include_usage=False, max_tokens=300)


def conversation(last: str, **directive: Any) -> ConverseCall:
    return make_call(
        user("earlier question from joe@example.com"),
        {"role": "assistant", "content": [{"text": "earlier answer"}]},
        user(last, **directive),
    )


async def stream_texts(
    bedrock: BedrockClient, call: ConverseCall
) -> tuple[list[str], dict[str, Any], str]:
    """(text deltas, metadata payload, stop reason) of a ConverseStream call."""
    deltas: list[str] = []
    metadata: dict[str, Any] = {}
    stop = ""
    stream = await bedrock.converse_stream(call.model_id, call.body)
    async with stream:
        async for event_type, payload in stream:
            body = json.loads(payload)
            if event_type == "contentBlockDelta":
                deltas.append(body["delta"]["text"])
            elif event_type == "metadata":
                metadata = body
                assert_shape(body, "ConverseStreamMetadataEvent")
            elif event_type == "messageStop":
                stop = body["stopReason"]
    return deltas, metadata, stop


# --- apply mode: check_input / check_output ---------------------------------------------------


async def test_check_input_block_is_a_content_filter_error(
    bedrock: BedrockClient, emu: EmulatorHandle
) -> None:
    emu.config(
        guardrail={"blocked_words": ["forbidden"], "blocked_input_message": "Input says no."}
    )
    gate = GuardrailGate(bedrock)
    with pytest.raises(ContentFilterError) as caught:
        await gate.check_input(GUARDRAIL, conversation("is this FORBIDDEN?"))
    assert (caught.value.status, caught.value.code) == (400, "content_filter")
    assert caught.value.message == "Input says no."
    assert caught.value.assessment.findings == (WORD,)
    (logged,) = emu.requests()
    assert logged["operation"] == "ApplyGuardrail"
    assert logged["path"] == "/guardrail/gr1abc/version/3/apply"
    # latest_user: only the last turn was sent.
    assert logged["body"] == {
        "source": "INPUT",
        "content": [{"text": {"text": "is this FORBIDDEN?"}}],
    }
    # The same words in an earlier turn pass with latest_user and block with all.
    earlier = make_call(
        user("forbidden"), {"role": "assistant", "content": [{"text": "ok"}]}, user("hi")
    )
    passed = await gate.check_input(GUARDRAIL, earlier)
    assert passed.call is earlier and passed.assessment.action == "none"
    with pytest.raises(ContentFilterError):
        await gate.check_input(GuardrailSettings("gr1abc", "3", guard=GuardScope.ALL), earlier)


async def test_anonymised_input_reaches_the_model_masked(
    bedrock: BedrockClient, emu: EmulatorHandle
) -> None:
    emu.config(guardrail={"pii": {"EMAIL": "ANONYMIZE", "PHONE": "ANONYMIZE"}})
    settings = GuardrailSettings("gr1abc", "3", guard=GuardScope.ALL)
    guarded = await GuardrailGate(bedrock).check_input(settings, conversation("call 555-123-4567"))
    assert guarded.assessment.action == "anonymized"
    assert guarded.assessment.findings == (PII_MASKED,)
    await bedrock.converse(guarded.call.model_id, guarded.call.body)
    sent = emu.requests()[-1]
    assert sent["operation"] == "Converse"
    texts = [m["content"][0]["text"] for m in sent["body"]["messages"]]
    assert texts == ["earlier question from {EMAIL}", "earlier answer", "call {PHONE}"]


async def test_check_output_blocks_masks_and_passes(
    bedrock: BedrockClient, emu: EmulatorHandle
) -> None:
    emu.config(
        guardrail={
            "blocked_words": ["zebras"],
            "blocked_output_message": "Output says no.",
            "pii": {"US_SOCIAL_SECURITY_NUMBER": "ANONYMIZE", "CREDIT_DEBIT_CARD_NUMBER": "BLOCK"},
        }
    )
    gate = GuardrailGate(bedrock)
    blocked = await gate.check_output(GUARDRAIL, "seven bright zebras")
    assert (blocked.blocked, blocked.text, blocked.assessment.findings) == (
        True,
        "Output says no.",
        (WORD,),
    )
    masked = await gate.check_output(GUARDRAIL, "your ssn is 123-45-6789")
    assert (masked.blocked, masked.text) == (False, "your ssn is {US_SOCIAL_SECURITY_NUMBER}")
    card = await gate.check_output(GUARDRAIL, "card 4111 1111 1111 1111")
    assert (card.blocked, card.text, card.assessment.findings) == (
        True,
        "Output says no.",
        (PII_BLOCKED,),
    )
    clean = await gate.check_output(GUARDRAIL, "nothing to see")
    assert (clean.blocked, clean.text, clean.assessment.action) == (False, "nothing to see", "none")
    assert {r["body"]["source"] for r in emu.requests()} == {"OUTPUT"}


async def test_a_failing_guardrail_fails_closed_or_open(
    bedrock: BedrockClient, emu: EmulatorHandle
) -> None:
    emu.config(guardrail={"blocked_words": ["forbidden"]})
    failing = conversation("hello", error="AccessDeniedException")
    with pytest.raises(GuardrailUnavailableError) as caught:
        await GuardrailGate(bedrock).check_input(GUARDRAIL, failing)
    assert caught.value.status == 503
    assert caught.value.code == "guardrail_unavailable"
    open_policy = GuardrailSettings("gr1abc", "3", on_error=OnError.FAIL_OPEN)
    guarded = await GuardrailGate(bedrock).check_input(open_policy, failing)
    assert guarded.call is failing and not guarded.assessment.checked


# --- apply mode over a real stream --------------------------------------------------------


REPLY = (
    "Here is a long answer that goes on for a while so that several windows are checked. "
    "You can write to the team at help@example.com or call 555-123-4567 during the day. "
    "After that the answer keeps going with more ordinary words until it finally stops. "
) * 2


async def test_output_guard_masks_a_streamed_reply(
    bedrock: BedrockClient, emu: EmulatorHandle
) -> None:
    emu.config(guardrail={"pii": {"EMAIL": "ANONYMIZE", "PHONE": "ANONYMIZE"}})
    deltas, _, stop = await stream_texts(bedrock, make_call(user("hi", reply=REPLY), stream=True))
    assert "".join(deltas) == REPLY
    guard = OutputGuard(GuardrailGate(bedrock), GUARDRAIL, check_every=64, holdback=32)
    released = [await guard.feed(d) for d in deltas]
    out = "".join(released) + await guard.finish()
    assert out == REPLY.replace("help@example.com", "{EMAIL}").replace("555-123-4567", "{PHONE}")
    assert guard.blocked_text is None and stop == "end_turn"
    assert guard.assessment.action == "anonymized"
    checks = [r for r in emu.requests() if r["operation"] == "ApplyGuardrail"]
    assert len(checks) == guard.checks >= len(REPLY) // 64 - 1


async def test_output_guard_ends_a_streamed_reply_on_a_block(
    bedrock: BedrockClient, emu: EmulatorHandle
) -> None:
    emu.config(guardrail={"blocked_words": ["finally"], "blocked_output_message": "Stopped."})
    deltas, _, _ = await stream_texts(bedrock, make_call(user("hi", reply=REPLY), stream=True))
    guard = OutputGuard(GuardrailGate(bedrock), GUARDRAIL, check_every=64, holdback=32)
    released = [await guard.feed(d) for d in deltas]
    out = "".join(released) + await guard.finish()
    assert guard.blocked_text == "Stopped."
    assert "final" not in out
    assert REPLY.startswith(out) and len(out) > 64  # earlier windows did reach the client


# --- inline mode ------------------------------------------------------------------------------


async def test_inline_input_block_with_trace(bedrock: BedrockClient, emu: EmulatorHandle) -> None:
    emu.config(guardrail={"blocked_words": ["forbidden"], "blocked_input_message": "Inline no."})
    call = apply_inline(GUARDRAIL, conversation("forbidden question"))
    result = await bedrock.converse(call.model_id, call.body)
    response = result.response
    assert_shape(response, "ConverseResponse")
    assert response["stopReason"] == "guardrail_intervened"
    assert response["output"]["message"]["content"] == [{"text": "Inline no."}]
    inbound, outbound = summarise_trace(response["trace"])
    assert (inbound.findings, outbound.action) == ((WORD,), "none")
    sent = emu.requests()[-1]["body"]
    assert sent["guardrailConfig"] == {
        "guardrailIdentifier": "gr1abc",
        "guardrailVersion": "3",
        "trace": "enabled",
    }
    assert sent["messages"][2]["content"] == [
        {"guardContent": {"text": {"text": "forbidden question"}}}
    ]
    # Only the guardContent turn is evaluated: the word in an earlier turn passes.
    earlier = apply_inline(
        GUARDRAIL,
        make_call(
            user("forbidden"), {"role": "assistant", "content": [{"text": "ok"}]}, user("hi")
        ),
    )
    assert (await bedrock.converse(earlier.model_id, earlier.body)).response[
        "stopReason"
    ] == "end_turn"


@pytest.mark.parametrize(
    ("setting", "expected", "stop", "finding"),
    [
        ("ANONYMIZE", REPLY.replace("help@example.com", "{EMAIL}"), "end_turn", PII_MASKED),
        ("BLOCK", "Inline output no.", "guardrail_intervened", PII_BLOCKED),
    ],
)
async def test_inline_output_pii_plain_and_streamed(
    bedrock: BedrockClient,
    emu: EmulatorHandle,
    setting: str,
    expected: str,
    stop: str,
    finding: Finding,
) -> None:
    emu.config(guardrail={"pii": {"EMAIL": setting}, "blocked_output_message": "Inline output no."})
    plain = apply_inline(GUARDRAIL, make_call(user("hi", reply=REPLY)))
    response = (await bedrock.converse(plain.model_id, plain.body)).response
    assert_shape(response, "ConverseResponse")
    assert response["output"]["message"]["content"][0]["text"] == expected
    assert response["stopReason"] == stop
    assert summarise_trace(response["trace"]).output.findings == (finding,)

    streamed = apply_inline(
        GuardrailSettings("gr1abc", "3", trace=GuardrailTrace.ENABLED_FULL),
        make_call(user("hi", reply=REPLY), stream=True),
    )
    deltas, metadata, stream_stop = await stream_texts(bedrock, streamed)
    assert ("".join(deltas), stream_stop) == (expected, stop)
    assert summarise_trace(metadata["trace"]).output.findings == (finding,)
    assert emu.requests()[-1]["body"]["guardrailConfig"]["streamProcessingMode"] == "sync"


async def test_inline_trace_disabled_sends_no_trace(
    bedrock: BedrockClient, emu: EmulatorHandle
) -> None:
    emu.config(guardrail={"pii": {"EMAIL": "ANONYMIZE"}})
    call = apply_inline(
        GuardrailSettings("gr1abc", "3", trace=GuardrailTrace.DISABLED),
        make_call(user("hi", reply=REPLY)),
    )
    response = (await bedrock.converse(call.model_id, call.body)).response
    assert "{EMAIL}" in response["output"]["message"]["content"][0]["text"]
    assert "trace" not in response
    assert summarise_trace(response.get("trace")).output.action == "none"


# --- boto3: the PII shapes as botocore parses them ----------------------------------------


def test_boto3_apply_guardrail_anonymise_and_block(boto: Client, emu: EmulatorHandle) -> None:
    emu.config(guardrail={"pii": {"EMAIL": "ANONYMIZE", "US_SOCIAL_SECURITY_NUMBER": "BLOCK"}})
    masked = boto.apply_guardrail(
        guardrailIdentifier="gr1abc",
        guardrailVersion="DRAFT",
        source="INPUT",
        content=[
            {"text": {"text": "mail bob@example.com"}},
            {"text": {"text": "and amy@example.org"}},
        ],
    )
    assert masked["action"] == "GUARDRAIL_INTERVENED"
    assert masked["outputs"] == [{"text": "mail {EMAIL}"}, {"text": "and {EMAIL}"}]
    (assessment,) = masked["assessments"]
    assert assessment["sensitiveInformationPolicy"] == {
        "piiEntities": [
            {"match": "bob@example.com", "type": "EMAIL", "action": "ANONYMIZED", "detected": True},
            {"match": "amy@example.org", "type": "EMAIL", "action": "ANONYMIZED", "detected": True},
        ],
        "regexes": [],
    }
    assert masked["usage"]["sensitiveInformationPolicyUnits"] == 1
    blocked = boto.apply_guardrail(
        guardrailIdentifier="gr1abc",
        guardrailVersion="1",
        source="OUTPUT",
        content=[{"text": {"text": "ssn 123-45-6789, mail bob@example.com"}}],
    )
    assert blocked["outputs"] == [{"text": "Sorry, the guardrail blocked the model's response."}]
    entities = blocked["assessments"][0]["sensitiveInformationPolicy"]["piiEntities"]
    assert [(e["type"], e["action"]) for e in entities] == [
        ("US_SOCIAL_SECURITY_NUMBER", "BLOCKED"),
        ("EMAIL", "ANONYMIZED"),
    ]


async def test_raw_apply_guardrail_bodies_match_the_service_model(
    bedrock: BedrockClient, emu: EmulatorHandle
) -> None:
    emu.config(
        guardrail={"blocked_words": ["nope"], "pii": {"EMAIL": "ANONYMIZE", "PHONE": "BLOCK"}}
    )
    for source, text in [
        ("INPUT", "mail bob@example.com"),
        ("OUTPUT", "call 555-123-4567"),
        ("INPUT", "nope"),
        ("OUTPUT", "clean"),
    ]:
        raw = await bedrock.apply_guardrail(
            "gr1abc", "DRAFT", {"source": source, "content": [{"text": {"text": text}}]}
        )
        assert_shape(raw, "ApplyGuardrailResponse")
    # The checker itself notices a departure.
    assert shape_problems(
        {"action": "MAYBE", "extra": 1}, _SERVICE.shape_for("ApplyGuardrailResponse")
    )


def test_boto3_inline_converse_and_stream_with_pii(boto: Client, emu: EmulatorHandle) -> None:
    emu.config(guardrail={"pii": {"PHONE": "ANONYMIZE"}})
    config = {"guardrailIdentifier": "gr1abc", "guardrailVersion": "DRAFT", "trace": "enabled"}
    messages = [user("hi", reply="call me on 555-123-4567 tonight")]
    response = boto.converse(modelId=MODEL, messages=messages, guardrailConfig=config)
    assert response["output"]["message"]["content"] == [{"text": "call me on {PHONE} tonight"}]
    assert response["stopReason"] == "end_turn"
    trace = response["trace"]["guardrail"]
    assert trace["modelOutput"] == ["call me on 555-123-4567 tonight"]
    (entity,) = trace["outputAssessments"]["gr1abc"][0]["sensitiveInformationPolicy"]["piiEntities"]
    assert (entity["type"], entity["action"]) == ("PHONE", "ANONYMIZED")
    events = [
        next(iter(e.items()))
        for e in boto.converse_stream(
            modelId=MODEL,
            messages=messages,
            guardrailConfig={**config, "streamProcessingMode": "async"},
        )["stream"]
    ]
    text = "".join(b["delta"]["text"] for kind, b in events if kind == "contentBlockDelta")
    assert text == "call me on {PHONE} tonight"
    metadata = dict(events)["metadata"]
    assert (
        "sensitiveInformationPolicy"
        in metadata["trace"]["guardrail"]["outputAssessments"]["gr1abc"][0]
    )
