"""Guardrail assessment summaries: (policy, action) pairs, never the matched text."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.policy.guardrail_summary import (
    Assessment,
    Finding,
    summarise,
    summarise_response,
    summarise_trace,
)

PII_EMAIL = {"match": "bob@example.com", "type": "EMAIL", "action": "ANONYMIZED", "detected": True}
PII_SSN = {"match": "123-45-6789", "type": "US_SOCIAL_SECURITY_NUMBER", "action": "BLOCKED"}
WORD = {"match": "forbidden", "action": "BLOCKED", "detected": True}
PROFANITY = {"match": "darn", "type": "PROFANITY", "action": "BLOCKED"}
TOPIC = {"name": "Investments", "type": "DENY", "action": "BLOCKED", "detected": True}
TOPIC_NONE = {"name": "Weather", "type": "DENY", "action": "NONE", "detected": False}
CONTENT = {"type": "HATE", "confidence": "HIGH", "filterStrength": "HIGH", "action": "BLOCKED"}
GROUNDING = {"type": "GROUNDING", "threshold": 0.7, "score": 0.2, "action": "BLOCKED"}
REGEX = {"name": "ticket", "match": "T-1234", "regex": "T-\\d+", "action": "ANONYMIZED"}


def pii(*entities: dict[str, Any], regexes: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    return {"sensitiveInformationPolicy": {"piiEntities": list(entities), "regexes": list(regexes)}}


@pytest.mark.parametrize(
    ("assessments", "findings"),
    [
        ([], ()),
        ([{"invocationMetrics": {"guardrailProcessingLatency": 3}}], ()),
        ([pii(PII_EMAIL)], (("sensitiveInformationPolicy", "ANONYMIZED"),)),
        (
            [pii(PII_EMAIL, PII_SSN, PII_EMAIL)],  # duplicates collapse, first-seen order kept
            (
                ("sensitiveInformationPolicy", "ANONYMIZED"),
                ("sensitiveInformationPolicy", "BLOCKED"),
            ),
        ),
        ([pii(regexes=(REGEX,))], (("sensitiveInformationPolicy", "ANONYMIZED"),)),
        (
            [{"wordPolicy": {"customWords": [WORD], "managedWordLists": [PROFANITY]}}],
            (("wordPolicy", "BLOCKED"),),
        ),
        ([{"topicPolicy": {"topics": [TOPIC_NONE]}}], ()),  # outputScope FULL: not an action
        (
            [
                {"topicPolicy": {"topics": [TOPIC_NONE, TOPIC]}},
                {"contentPolicy": {"filters": [CONTENT]}},
            ],
            (("topicPolicy", "BLOCKED"), ("contentPolicy", "BLOCKED")),
        ),
        (
            [{"contextualGroundingPolicy": {"filters": [GROUNDING]}}],
            (("contextualGroundingPolicy", "BLOCKED"),),
        ),
        # Malformed pieces are skipped, not fatal.
        ([{"wordPolicy": {"customWords": "oops"}}, "junk", {"topicPolicy": None}], ()),
    ],
)
def test_findings(assessments: list[Any], findings: tuple[tuple[str, str], ...]) -> None:
    summary = summarise("INPUT", assessments, intervened=True)
    assert summary.findings == tuple(Finding(*f) for f in findings)


@pytest.mark.parametrize(
    ("intervened", "findings", "blocked", "anonymized_only", "action"),
    [
        (False, (), False, False, "none"),
        (True, (("sensitiveInformationPolicy", "ANONYMIZED"),), False, True, "anonymized"),
        (
            True,
            (("sensitiveInformationPolicy", "ANONYMIZED"), ("wordPolicy", "BLOCKED")),
            True,
            False,
            "blocked",
        ),
        (True, (("topicPolicy", "BLOCKED"),), True, False, "blocked"),
        # Intervened with nothing we understand (e.g. automated reasoning): a block.
        (True, (), True, False, "blocked"),
    ],
)
def test_assessment_verdicts(
    intervened: bool,
    findings: tuple[tuple[str, str], ...],
    blocked: bool,
    anonymized_only: bool,
    action: str,
) -> None:
    summary = Assessment("OUTPUT", intervened, tuple(Finding(*f) for f in findings))
    assert summary.blocked is blocked
    assert summary.anonymized_only is anonymized_only
    assert summary.action == action


def test_summarise_response_reads_the_top_level_action() -> None:
    response = {
        "action": "GUARDRAIL_INTERVENED",
        "outputs": [{"text": "x"}],
        "assessments": [pii(PII_SSN)],
    }
    summary = summarise_response("INPUT", response)
    assert summary == Assessment("INPUT", True, (Finding("sensitiveInformationPolicy", "BLOCKED"),))
    clean = summarise_response("OUTPUT", {"action": "NONE", "outputs": [], "assessments": [{}]})
    assert clean == Assessment("OUTPUT")
    assert not summarise_response("OUTPUT", {"action": "NONE"}).intervened


def test_merged_accumulates_findings_and_unchecked() -> None:
    first = Assessment("OUTPUT", False, ())
    second = Assessment("OUTPUT", True, (Finding("wordPolicy", "BLOCKED"),))
    skipped = Assessment("OUTPUT", checked=False)
    merged = first.merged(second).merged(second).merged(skipped)
    assert merged == Assessment("OUTPUT", True, (Finding("wordPolicy", "BLOCKED"),), checked=False)


def test_summarise_trace_splits_input_and_output() -> None:
    trace = {
        "guardrail": {
            "modelOutput": ["the original model text with bob@example.com"],
            "inputAssessment": {"gr1": {"topicPolicy": {"topics": [TOPIC]}}},
            "outputAssessments": {"gr1": [pii(PII_EMAIL), {"wordPolicy": {"customWords": [WORD]}}]},
            "actionReason": "Guardrail blocked.",
        },
        "promptRouter": {"invokedModelId": "x"},
    }
    inbound, outbound = summarise_trace(trace)
    assert inbound == Assessment("INPUT", True, (Finding("topicPolicy", "BLOCKED"),))
    assert outbound == Assessment(
        "OUTPUT",
        True,
        (Finding("sensitiveInformationPolicy", "ANONYMIZED"), Finding("wordPolicy", "BLOCKED")),
    )


@pytest.mark.parametrize(
    "trace",
    [None, {}, {"promptRouter": {"invokedModelId": "m"}}, {"guardrail": {"actionReason": "x"}}],
)
def test_summarise_trace_without_assessments(trace: dict[str, Any] | None) -> None:
    inbound, outbound = summarise_trace(trace)
    assert (inbound, outbound) == (Assessment("INPUT"), Assessment("OUTPUT"))
    assert inbound.action == outbound.action == "none"


# Marked so that no generated value can coincide with a policy or action name by chance.
_secret = st.text(max_size=40).map(lambda s: "\u00a7" + s)


@given(match=_secret, name=_secret, regex=_secret)
def test_summaries_never_carry_the_matched_text(match: str, name: str, regex: str) -> None:
    assessment = {
        **pii({"match": match, "type": "EMAIL", "action": "ANONYMIZED"}),
        "wordPolicy": {
            "customWords": [{"match": match, "action": "BLOCKED"}],
            "managedWordLists": [],
        },
        "topicPolicy": {"topics": [{"name": name, "type": "DENY", "action": "BLOCKED"}]},
    }
    assessment["sensitiveInformationPolicy"]["regexes"] = [
        {"name": name, "match": match, "regex": regex, "action": "BLOCKED"}
    ]
    response = {"action": "GUARDRAIL_INTERVENED", "outputs": [], "assessments": [assessment]}
    summary = summarise_response("INPUT", response)
    trace = summarise_trace({"guardrail": {"inputAssessment": {"g": assessment}}})
    for text in (repr(summary), repr(trace), str(summary.findings)):
        for secret in (match, name, regex):
            assert secret not in text
    assert len(summary.findings) == 4
