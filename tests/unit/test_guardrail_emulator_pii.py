"""The emulator's guardrail PII filter: detection, anonymisation, blocking and wire shapes."""

from __future__ import annotations

import msgspec
import pytest

from gateway.emulator import behaviour
from gateway.emulator.directives import NONE, Directives
from gateway.emulator.guardrail import (
    ACTION_REASON,
    ANONYMIZED_REASON,
    GuardrailPolicy,
    apply_guardrail_response,
    converse_trace,
)
from gateway.emulator.guardrail_pii import PiiFilter
from gateway.emulator.shapes import ConverseRequest, converse_decoder
from gateway.emulator.state import ConfigUpdate, Settings

ALL_ANONYMIZED = {
    "EMAIL": "ANONYMIZE",
    "PHONE": "ANONYMIZE",
    "US_SOCIAL_SECURITY_NUMBER": "ANONYMIZE",
    "CREDIT_DEBIT_CARD_NUMBER": "ANONYMIZE",
}


@pytest.mark.parametrize(
    ("text", "masked", "types"),
    [
        ("no personal data here", "no personal data here", []),
        ("mail bob.smith+x@mail.example.co.uk now", "mail {EMAIL} now", ["EMAIL"]),
        ("call (555) 123-4567 or +1 555.123.4567", "call {PHONE} or {PHONE}", ["PHONE", "PHONE"]),
        ("ssn 123-45-6789.", "ssn {US_SOCIAL_SECURITY_NUMBER}.", ["US_SOCIAL_SECURITY_NUMBER"]),
        (
            "card 4111 1111 1111 1111 and 4111111111111111",
            "card {CREDIT_DEBIT_CARD_NUMBER} and {CREDIT_DEBIT_CARD_NUMBER}",
            ["CREDIT_DEBIT_CARD_NUMBER", "CREDIT_DEBIT_CARD_NUMBER"],
        ),
        ("order 12345678 and 2024-01-15", "order 12345678 and 2024-01-15", []),
        ("a@b", "a@b", []),
    ],
)
def test_patterns(text: str, masked: str, types: list[str]) -> None:
    out, hits = PiiFilter(ALL_ANONYMIZED).scan(text)
    assert out == masked
    assert [h.type for h in hits] == types
    assert all(h.action == "ANONYMIZED" and h.match in text for h in hits)


def test_only_configured_types_are_detected() -> None:
    pii = PiiFilter({"PHONE": "BLOCK"})
    out, hits = pii.scan("bob@example.com 555-123-4567")
    assert out == "bob@example.com 555-123-4567"  # a block does not rewrite the text
    assert [(h.type, h.action) for h in hits] == [("PHONE", "BLOCKED")]
    assert not PiiFilter({}).active
    assert PiiFilter({}).scan("bob@example.com") == ("bob@example.com", [])


def test_anonymised_apply_guardrail_response() -> None:
    policy = GuardrailPolicy(pii=(("EMAIL", "ANONYMIZE"),))
    verdict = policy.evaluate("INPUT", ["write to bob@example.com", "nothing", "or amy@x.org"])
    body = apply_guardrail_response(verdict)
    assert body["action"] == "GUARDRAIL_INTERVENED"
    assert body["actionReason"] == ANONYMIZED_REASON
    assert body["outputs"] == [
        {"text": "write to {EMAIL}"},
        {"text": "nothing"},
        {"text": "or {EMAIL}"},
    ]
    (assessment,) = body["assessments"]
    assert assessment["sensitiveInformationPolicy"] == {
        "piiEntities": [
            {"match": "bob@example.com", "type": "EMAIL", "action": "ANONYMIZED", "detected": True},
            {"match": "amy@x.org", "type": "EMAIL", "action": "ANONYMIZED", "detected": True},
        ],
        "regexes": [],
    }
    assert "wordPolicy" not in assessment
    assert body["usage"]["sensitiveInformationPolicyUnits"] == 1


def test_a_pii_block_or_a_blocked_word_wins_over_anonymisation() -> None:
    policy = GuardrailPolicy(
        ("secret",), "in blocked", "out blocked", (("EMAIL", "ANONYMIZE"), ("PHONE", "BLOCK"))
    )
    phone = apply_guardrail_response(policy.evaluate("OUTPUT", ["bob@x.com 555-123-4567"]))
    assert phone["outputs"] == [{"text": "out blocked"}]
    assert phone["actionReason"] == ACTION_REASON
    entities = phone["assessments"][0]["sensitiveInformationPolicy"]["piiEntities"]
    assert [(e["type"], e["action"]) for e in entities] == [
        ("EMAIL", "ANONYMIZED"),
        ("PHONE", "BLOCKED"),
    ]
    word = apply_guardrail_response(policy.evaluate("INPUT", ["the secret is bob@x.com"]))
    assert word["outputs"] == [{"text": "in blocked"}]
    assert set(word["assessments"][0]) >= {"wordPolicy", "sensitiveInformationPolicy"}


def test_no_pii_found_is_no_intervention() -> None:
    policy = GuardrailPolicy(pii=(("EMAIL", "BLOCK"),))
    assert policy.active
    body = apply_guardrail_response(policy.evaluate("INPUT", ["hello"]))
    assert (body["action"], body["outputs"]) == ("NONE", [])
    assert "actionReason" not in body


def test_converse_trace_for_an_anonymised_reply() -> None:
    policy = GuardrailPolicy(pii=(("EMAIL", "ANONYMIZE"),))
    verdict = policy.evaluate("OUTPUT", ["to bob@x.com"])
    trace = converse_trace("gr", verdict, "to bob@x.com")["guardrail"]
    assert trace["actionReason"] == ANONYMIZED_REASON
    assert trace["modelOutput"] == ["to bob@x.com"]
    assert "sensitiveInformationPolicy" in trace["outputAssessments"]["gr"][0]


def _request(reply: str, guarded: bool = True) -> ConverseRequest:
    body: dict[str, object] = {"messages": [{"role": "user", "content": [{"text": reply}]}]}
    if guarded:
        body["guardrailConfig"] = {"guardrailIdentifier": "gr", "guardrailVersion": "1"}
    return converse_decoder.decode(msgspec.json.encode(body))


@pytest.mark.parametrize(
    ("setting", "reply", "reason"),
    [
        ("ANONYMIZE", "Reach me at {EMAIL} please", "end_turn"),
        ("BLOCK", "out blocked", "guardrail_intervened"),
    ],
)
def test_inline_reply_is_anonymised_or_blocked(setting: str, reply: str, reason: str) -> None:
    policy = GuardrailPolicy((), "in blocked", "out blocked", (("EMAIL", setting),))
    knobs = Directives(reply="Reach me at joe@example.com please")
    plan = behaviour.plan(_request("hi"), knobs, 8, policy, has_directives=False)
    assert "".join(plan.pieces) == reply
    assert plan.stop_reason == reason
    assert plan.verdict is not None and plan.verdict.pii[0].type == "EMAIL"
    assert plan.model_output == "Reach me at joe@example.com please"
    assert plan.output_tokens == len(plan.pieces)
    unguarded = behaviour.plan(_request("hi", guarded=False), knobs, 8, policy, False)
    assert "".join(unguarded.pieces) == "Reach me at joe@example.com please"


def test_inline_input_pii_block_blocks_and_anonymise_passes() -> None:
    blocking = GuardrailPolicy((), "in blocked", "out", (("EMAIL", "BLOCK"),))
    plan = behaviour.plan(_request("I am bob@x.com"), NONE, 4, blocking, False)
    assert ("".join(plan.pieces), plan.stop_reason) == ("in blocked", "guardrail_intervened")
    masking = GuardrailPolicy((), "in blocked", "out", (("EMAIL", "ANONYMIZE"),))
    plan = behaviour.plan(_request("I am bob@x.com"), NONE, 4, masking, False)
    assert plan.stop_reason == "end_turn" and plan.verdict is None


def test_control_config_sets_replaces_and_clears_pii() -> None:
    decode = msgspec.json.Decoder(ConfigUpdate).decode
    settings = Settings().updated(decode(b'{"guardrail": {"pii": {"EMAIL": "ANONYMIZE"}}}'))
    assert settings.guardrail.pii == (("EMAIL", "ANONYMIZE"),)
    assert settings.as_json()["guardrail"]["pii"] == {"EMAIL": "ANONYMIZE"}
    kept = settings.updated(decode(b'{"guardrail": {"blocked_words": ["x"]}}'))
    assert kept.guardrail.pii == (("EMAIL", "ANONYMIZE"),)
    cleared = kept.updated(decode(b'{"guardrail": {"pii": {}}}'))
    assert cleared.guardrail.pii == ()
    assert cleared.guardrail.blocked_words == ("x",)
    for bad in (
        b'{"guardrail": {"pii": {"NAME": "BLOCK"}}}',
        b'{"guardrail": {"pii": {"EMAIL": "MASK"}}}',
    ):
        with pytest.raises(msgspec.ValidationError):
            decode(bad)


def test_guard_content_text_is_prompt_text_and_may_hold_directives() -> None:
    # apply_inline's latest_user scope wraps the user's text (and any directive) in guardContent.
    text = 'hello there [[emu {"reply": "wrapped reply"}]]'
    body = {"messages": [{"role": "user", "content": [{"guardContent": {"text": {"text": text}}}]}]}
    request = converse_decoder.decode(msgspec.json.encode(body))
    assert list(behaviour.directive_texts(request)) == [text]
    assert list(behaviour.prompt_texts(request)) == [text]
    knobs = Directives(reply="wrapped reply")
    plan = behaviour.plan(request, knobs, 8, GuardrailPolicy(), has_directives=True)
    assert "".join(plan.pieces) == "wrapped reply"
    assert plan.input_tokens == 3  # "hello there " (12 characters) without the directive
