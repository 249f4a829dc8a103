"""GuardrailGate (apply mode) with a fake Bedrock at the AWS edge: input, output, failures."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest

from gateway.bedrock.client import ConverseEvents, ConverseResult
from gateway.bedrock.translate import ConverseCall
from gateway.errors import (
    GatewayError,
    InvalidRequestError,
    RateLimitError,
    ServiceUnavailableError,
    UpstreamTimeoutError,
)
from gateway.policy.guardrail import (
    FALLBACK_BLOCKED_MESSAGE,
    ContentFilterError,
    GuardrailGate,
    GuardrailUnavailableError,
)
from gateway.policy.guardrail_input import PLAIN, SYSTEM, Slot, guarded_slots, replace_texts
from gateway.policy.guardrail_summary import Finding
from gateway.policy.model import GuardrailSettings, GuardScope, OnError

Responder = Callable[[str, list[str]], dict[str, Any]]
EMAIL = re.compile(r"\S+@\S+\.[a-z]{2,}")
BLOCK_MESSAGE = "Sorry, I can't help with that."


def emulated(response_source: str, texts: list[str]) -> dict[str, Any]:
    """A tiny guardrail: the word 'forbidden' blocks, e-mail addresses are anonymised."""
    del response_source
    if any("forbidden" in t for t in texts):
        return {
            "action": "GUARDRAIL_INTERVENED",
            "outputs": [{"text": BLOCK_MESSAGE}],
            "assessments": [
                {"wordPolicy": {"customWords": [{"match": "forbidden", "action": "BLOCKED"}]}}
            ],
        }
    emails = [m for t in texts for m in EMAIL.findall(t)]
    if emails:
        entities = [{"match": m, "type": "EMAIL", "action": "ANONYMIZED"} for m in emails]
        return {
            "action": "GUARDRAIL_INTERVENED",
            "outputs": [{"text": EMAIL.sub("{EMAIL}", t)} for t in texts],
            "assessments": [
                {"sensitiveInformationPolicy": {"piiEntities": entities, "regexes": []}}
            ],
        }
    return {"action": "NONE", "outputs": [], "assessments": [{}]}


class FakeBedrock:
    """BedrockApi at the AWS edge: ApplyGuardrail answers from a function, or raises."""

    def __init__(self, respond: Responder = emulated, error: GatewayError | None = None) -> None:
        self.respond = respond
        self.error = error
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def converse(self, model_id: str, body: dict[str, Any]) -> ConverseResult:
        raise AssertionError("the guardrail stage never calls the model")

    async def converse_stream(self, model_id: str, body: dict[str, Any]) -> ConverseEvents:
        raise AssertionError("the guardrail stage never calls the model")

    async def apply_guardrail(
        self, guardrail_id: str, version: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        self.calls.append((guardrail_id, version, copy.deepcopy(body)))
        if self.error is not None:
            raise self.error
        return self.respond(body["source"], [block["text"]["text"] for block in body["content"]])

    def sent_texts(self) -> list[list[str]]:
        return [[b["text"]["text"] for b in body["content"]] for _, _, body in self.calls]


def settings(**overrides: Any) -> GuardrailSettings:
    return GuardrailSettings(identifier="gr1abc", version="3", **overrides)


def conversation() -> dict[str, Any]:
    return {
        "system": [{"text": "You are terse."}, {"cachePoint": {"type": "default"}}],
        "messages": [
            {"role": "user", "content": [{"text": "old question"}]},
            {
                "role": "assistant",
                "content": [
                    {"text": "assistant text is not input"},
                    {"toolUse": {"toolUseId": "t1", "name": "lookup", "input": {}}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "toolResult": {
                            "toolUseId": "t1",
                            "content": [{"json": {}}, {"text": "tool says hi"}],
                        }
                    },
                    {"text": "new question"},
                    {"image": {"format": "png", "source": {"bytes": b"\x89PNG"}}},
                ],
            },
        ],
        "inferenceConfig": {"maxTokens": 100},
    }


def make_call(body: dict[str, Any] | None = None) -> ConverseCall:
    return ConverseCall("m", body or conversation(), False, include_usage=False, max_tokens=100)


@pytest.mark.parametrize(
    ("scope", "slots"),
    [
        (
            GuardScope.LATEST_USER,
            [Slot(2, 0, 1, "tool says hi"), Slot(2, 1, PLAIN, "new question")],
        ),
        (
            GuardScope.ALL,
            [
                Slot(SYSTEM, 0, PLAIN, "You are terse."),
                Slot(0, 0, PLAIN, "old question"),
                Slot(2, 0, 1, "tool says hi"),
                Slot(2, 1, PLAIN, "new question"),
            ],
        ),
    ],
)
def test_guarded_slots_by_scope(scope: GuardScope, slots: list[Slot]) -> None:
    assert guarded_slots(conversation(), scope) == slots


def test_guarded_slots_skip_empty_texts_and_missing_users() -> None:
    assert guarded_slots({"messages": []}, GuardScope.LATEST_USER) == []
    body = {"messages": [{"role": "user", "content": [{"text": ""}]}]}
    assert guarded_slots(body, GuardScope.ALL) == []


def test_replace_texts_copies_only_what_changes() -> None:
    body = conversation()
    snapshot = copy.deepcopy(body)
    slots = guarded_slots(body, GuardScope.ALL)
    new = replace_texts(body, slots, ["SYS", "old question", "TOOL", "NEW"])
    assert body == snapshot
    assert new["system"][0] == {"text": "SYS"}
    assert new["messages"][0] is body["messages"][0]  # unchanged text: shared, not copied
    assert new["messages"][1] is body["messages"][1]
    last = new["messages"][2]["content"]
    assert last[0]["toolResult"]["content"] == [{"json": {}}, {"text": "TOOL"}]
    assert last[0]["toolResult"]["toolUseId"] == "t1"
    assert last[1] == {"text": "NEW"}
    assert last[2] is body["messages"][2]["content"][2]
    with pytest.raises(ValueError, match="one replacement"):
        replace_texts(body, slots, ["too few"])


async def test_check_input_clean_sends_the_guarded_texts_and_keeps_the_call() -> None:
    fake = FakeBedrock()
    call = make_call()
    guarded = await GuardrailGate(fake).check_input(settings(), call)
    assert guarded.call is call
    assert not guarded.assessment.intervened and guarded.assessment.checked
    ((gid, version, body),) = fake.calls
    assert (gid, version) == ("gr1abc", "3")
    assert body == {
        "source": "INPUT",
        "content": [{"text": {"text": "tool says hi"}}, {"text": {"text": "new question"}}],
    }


async def test_check_input_block_raises_content_filter_with_the_guardrails_message() -> None:
    body = conversation()
    body["messages"][2]["content"][1] = {"text": "something forbidden"}
    with pytest.raises(ContentFilterError) as caught:
        await GuardrailGate(FakeBedrock()).check_input(settings(), make_call(body))
    error = caught.value
    assert isinstance(error, InvalidRequestError)
    assert (error.status, error.code, error.message) == (400, "content_filter", BLOCK_MESSAGE)
    assert error.param == "messages"
    assert error.assessment.findings == (Finding("wordPolicy", "BLOCKED"),)
    assert "forbidden" not in str(error.to_dict())


async def test_check_input_anonymisation_masks_the_texts_it_sent() -> None:
    body = conversation()
    body["messages"][0]["content"][0] = {"text": "old mail a@b.com"}
    body["messages"][2]["content"][1] = {"text": "mail me at bob@example.com"}
    call = make_call(body)
    guarded = await GuardrailGate(FakeBedrock()).check_input(settings(guard=GuardScope.ALL), call)
    assert guarded.assessment.action == "anonymized"
    new = guarded.call.body
    assert new["messages"][2]["content"][1] == {"text": "mail me at {EMAIL}"}
    assert new["messages"][0]["content"][0] == {"text": "old mail {EMAIL}"}
    assert call.body["messages"][2]["content"][1] == {"text": "mail me at bob@example.com"}
    assert (guarded.call.model_id, guarded.call.max_tokens) == ("m", 100)


async def test_check_input_with_nothing_to_guard_makes_no_call() -> None:
    fake = FakeBedrock()
    body = {
        "messages": [
            {"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": b"x"}}}]}
        ]
    }
    guarded = await GuardrailGate(fake).check_input(settings(), make_call(body))
    assert fake.calls == []
    assert guarded.assessment.action == "none"


FAILURES = [
    ServiceUnavailableError("down", code="service_unavailable"),
    UpstreamTimeoutError("slow"),
    RateLimitError("throttled"),
    InvalidRequestError("bad guardrail id", code="validation_error"),
]


@pytest.mark.parametrize("failure", FAILURES, ids=lambda e: type(e).__name__)
async def test_failures_fail_closed_by_default(failure: GatewayError) -> None:
    gate = GuardrailGate(FakeBedrock(error=failure))
    with pytest.raises(GuardrailUnavailableError) as caught:
        await gate.check_input(settings(), make_call())
    assert (caught.value.status, caught.value.code) == (503, "guardrail_unavailable")
    assert caught.value.__cause__ is failure
    with pytest.raises(GuardrailUnavailableError):
        await gate.check_output(settings(), "some reply")


@pytest.mark.parametrize("failure", FAILURES, ids=lambda e: type(e).__name__)
async def test_failures_fail_open_when_configured(failure: GatewayError) -> None:
    gate = GuardrailGate(FakeBedrock(error=failure))
    policy = settings(on_error=OnError.FAIL_OPEN)
    call = make_call()
    guarded = await gate.check_input(policy, call)
    assert guarded.call is call
    assert not guarded.assessment.checked and not guarded.assessment.intervened
    verdict = await gate.check_output(policy, "some reply")
    assert (verdict.blocked, verdict.text, verdict.assessment.checked) == (
        False,
        "some reply",
        False,
    )


@pytest.mark.parametrize(
    "response",
    [
        {"action": "MAYBE", "outputs": []},
        {"outputs": []},
        {"action": "NONE"},
        {"action": "NONE", "outputs": [{"image": "x"}]},
    ],
)
async def test_an_unusable_answer_counts_as_a_failure(response: dict[str, Any]) -> None:
    gate = GuardrailGate(FakeBedrock(lambda _s, _t: response))
    with pytest.raises(GuardrailUnavailableError):
        await gate.check_output(settings(), "text")
    verdict = await gate.check_output(settings(on_error=OnError.FAIL_OPEN), "text")
    assert (verdict.blocked, verdict.text) == (False, "text")


async def test_anonymised_input_with_unmatched_outputs_fails_closed() -> None:
    def one_output(_source: str, texts: list[str]) -> dict[str, Any]:
        # One (anonymised) output for several blocks: cannot be put back block by block.
        return emulated("INPUT", [" ".join(texts) + " x@y.org"])

    gate = GuardrailGate(FakeBedrock(one_output))
    with pytest.raises(GuardrailUnavailableError):
        await gate.check_input(settings(), make_call())  # two slots, one output


@pytest.mark.parametrize(
    ("text", "blocked", "expected", "action"),
    [
        ("plain answer", False, "plain answer", "none"),
        ("write to joe@example.org today", False, "write to {EMAIL} today", "anonymized"),
        ("the forbidden answer", True, BLOCK_MESSAGE, "blocked"),
        ("", False, "", "none"),
    ],
)
async def test_check_output(text: str, blocked: bool, expected: str, action: str) -> None:
    fake = FakeBedrock()
    verdict = await GuardrailGate(fake).check_output(settings(), text)
    assert (verdict.blocked, verdict.text, verdict.assessment.action) == (blocked, expected, action)
    assert fake.sent_texts() == ([[text]] if text else [])
    if text:
        assert fake.calls[0][2]["source"] == "OUTPUT"


async def test_output_block_without_text_uses_the_fallback_message() -> None:
    def silent_block(_source: str, _texts: list[str]) -> dict[str, Any]:
        return {"action": "GUARDRAIL_INTERVENED", "outputs": [], "assessments": []}

    verdict = await GuardrailGate(FakeBedrock(silent_block)).check_output(settings(), "x")
    assert (verdict.blocked, verdict.text) == (True, FALLBACK_BLOCKED_MESSAGE)
