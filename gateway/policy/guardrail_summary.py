"""Guardrail assessments reduced to (policy type, action) pairs: what logs and metrics may see.

Bedrock's assessments carry the matched text (the PII value, the blocked word, the topic
name); nothing here keeps it. Entries whose action is ``NONE`` (reported with
``outputScope: FULL``) are left out: they are not interventions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

Source = Literal["INPUT", "OUTPUT"]

# Assessment member -> the lists inside it whose entries carry an ``action``
# (botocore's GuardrailAssessment shape). automatedReasoningPolicy findings carry no action:
# an intervention made by it alone shows as intervened with no finding (treated as a block).
_POLICY_LISTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("topicPolicy", ("topics",)),
    ("contentPolicy", ("filters",)),
    ("wordPolicy", ("customWords", "managedWordLists")),
    ("sensitiveInformationPolicy", ("piiEntities", "regexes")),
    ("contextualGroundingPolicy", ("filters",)),
)


class Finding(NamedTuple):
    """One intervention: e.g. ("sensitiveInformationPolicy", "ANONYMIZED")."""

    policy: str
    action: str


@dataclass(frozen=True, slots=True)
class Assessment:
    """What one guardrail evaluation did, without any of the text it matched.

    ``checked`` is False when the guardrail could not be reached and the policy fails open.
    """

    source: Source
    intervened: bool = False
    findings: tuple[Finding, ...] = ()
    checked: bool = True

    @property
    def anonymized_only(self) -> bool:
        """Intervened only to mask entities: the (masked) text may still be used."""
        return (
            self.intervened
            and bool(self.findings)
            and all(f.action == "ANONYMIZED" for f in self.findings)
        )

    @property
    def blocked(self) -> bool:
        # Any other intervention is a block, including one with no finding we understand.
        return self.intervened and not self.anonymized_only

    @property
    def action(self) -> str:
        """For the access log and the metrics action label: none, blocked, anonymized."""
        if not self.intervened:
            return "none"
        return "anonymized" if self.anonymized_only else "blocked"

    def merged(self, other: Assessment) -> Assessment:
        """Both evaluations as one (a stream is checked in several calls)."""
        return Assessment(
            self.source,
            self.intervened or other.intervened,
            _unique((*self.findings, *other.findings)),
            self.checked and other.checked,
        )


class InlineAssessments(NamedTuple):
    """The input and output halves of an inline ``trace.guardrail``."""

    input: Assessment
    output: Assessment


def _unique(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    return tuple(dict.fromkeys(findings))


def _findings(assessment: Mapping[str, Any]) -> Iterable[Finding]:
    for policy, lists in _POLICY_LISTS:
        section = assessment.get(policy)
        if not isinstance(section, Mapping):
            continue
        for name in lists:
            entries = section.get(name)
            if not isinstance(entries, list):
                continue
            for entry in entries:
                action = entry.get("action") if isinstance(entry, Mapping) else None
                if isinstance(action, str) and action != "NONE":
                    yield Finding(policy, action)


def summarise(
    source: Source, assessments: Iterable[Any], *, intervened: bool | None = None
) -> Assessment:
    """Summarise ``GuardrailAssessment`` objects; ``intervened`` defaults to "found any"."""
    found = _unique(f for a in assessments if isinstance(a, Mapping) for f in _findings(a))
    return Assessment(source, bool(found) if intervened is None else intervened, found)


def summarise_response(source: Source, response: Mapping[str, Any]) -> Assessment:
    """Summarise an ``ApplyGuardrailResponse``."""
    assessments = response.get("assessments")
    intervened = response.get("action") == "GUARDRAIL_INTERVENED"
    return summarise(
        source, assessments if isinstance(assessments, list) else (), intervened=intervened
    )


def summarise_trace(trace: Mapping[str, Any] | None) -> InlineAssessments:
    """Summarise the ``trace`` of a Converse response or of a ConverseStream metadata event.

    Pass the whole ``trace`` member (or None). An inline trace has no top-level action, so a
    side counts as intervened when it holds a finding; the stop reason
    ``guardrail_intervened`` is the authoritative signal of a block.
    """
    guardrail = trace.get("guardrail") if trace is not None else None
    if not isinstance(guardrail, Mapping):
        return InlineAssessments(Assessment("INPUT"), Assessment("OUTPUT"))
    inbound = guardrail.get("inputAssessment")
    outbound = guardrail.get("outputAssessments")
    input_list = list(inbound.values()) if isinstance(inbound, Mapping) else []
    output_list: list[Any] = []
    if isinstance(outbound, Mapping):
        for per_guardrail in outbound.values():
            if isinstance(per_guardrail, list):
                output_list.extend(per_guardrail)
    return InlineAssessments(summarise("INPUT", input_list), summarise("OUTPUT", output_list))
