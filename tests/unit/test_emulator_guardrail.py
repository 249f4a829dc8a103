"""The emulated guardrail: whole-word, case-insensitive blocking and its wire shapes."""

from __future__ import annotations

import pytest

from gateway.emulator.guardrail import (
    ACTION_REASON,
    GuardrailPolicy,
    apply_guardrail_response,
    converse_trace,
)

POLICY = GuardrailPolicy(("secret", "top-secret", "c++"), "input blocked", "output blocked")


@pytest.mark.parametrize(
    ("texts", "matches"),
    [
        (["nothing to see"], ()),
        (["a SECRET plan"], ("secret",)),
        (["Secret."], ("secret",)),
        (["secrets and secretive people"], ()),  # whole words only
        (["unsecret"], ()),
        (["this is top-secret"], ("top-secret",)),
        (["I write C++ daily"], ("c++",)),
        (["secret", "again a secret", "top-secret"], ("secret", "top-secret")),
        ([], ()),
    ],
)
def test_matches(texts: list[str], matches: tuple[str, ...]) -> None:
    verdict = POLICY.evaluate("INPUT", texts)
    assert verdict.matches == matches
    assert verdict.intervened is bool(matches)
    assert verdict.output == ("input blocked" if matches else None)
    assert verdict.characters == sum(len(t) for t in texts)


def test_no_words_means_inactive_and_never_intervening() -> None:
    policy = GuardrailPolicy()
    assert not policy.active
    assert not policy.evaluate("OUTPUT", ["secret"]).intervened
    assert GuardrailPolicy(("", "x")).active


def test_output_source_uses_the_output_message() -> None:
    assert POLICY.evaluate("OUTPUT", ["secret"]).output == "output blocked"


def test_apply_guardrail_response_when_intervening() -> None:
    body = apply_guardrail_response(POLICY.evaluate("INPUT", ["a secret"]))
    assert body["action"] == "GUARDRAIL_INTERVENED"
    assert body["actionReason"] == ACTION_REASON
    assert body["outputs"] == [{"text": "input blocked"}]
    (assessment,) = body["assessments"]
    assert assessment["wordPolicy"] == {
        "customWords": [{"match": "secret", "action": "BLOCKED", "detected": True}],
        "managedWordLists": [],
    }
    assert body["usage"]["wordPolicyUnits"] == 1
    assert set(body["usage"]) >= {
        "topicPolicyUnits",
        "contentPolicyUnits",
        "wordPolicyUnits",
        "sensitiveInformationPolicyUnits",
        "sensitiveInformationPolicyFreeUnits",
        "contextualGroundingPolicyUnits",
    }


def test_apply_guardrail_response_when_allowing() -> None:
    body = apply_guardrail_response(POLICY.evaluate("OUTPUT", ["x" * 2500]))
    assert body["action"] == "NONE"
    assert body["outputs"] == []
    assert "actionReason" not in body
    assert "wordPolicy" not in body["assessments"][0]
    assert body["usage"]["wordPolicyUnits"] == 3  # 1,000-character text units, rounded up


def test_converse_trace_by_source() -> None:
    inbound = converse_trace("gid", POLICY.evaluate("INPUT", ["secret"]), "")
    assert set(inbound["guardrail"]["inputAssessment"]) == {"gid"}
    outbound = converse_trace("gid", POLICY.evaluate("OUTPUT", ["secret"]), "the secret")
    assert outbound["guardrail"]["modelOutput"] == ["the secret"]
    assert len(outbound["guardrail"]["outputAssessments"]["gid"]) == 1
