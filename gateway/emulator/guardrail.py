"""The emulated guardrail: blocked words, PII filters, their verdicts and wire shapes (§1.2)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.emulator.guardrail_pii import PiiFilter, PiiHit

Source = Literal["INPUT", "OUTPUT"]

DEFAULT_BLOCKED_INPUT = "Sorry, the guardrail blocked this request."
DEFAULT_BLOCKED_OUTPUT = "Sorry, the guardrail blocked the model's response."
ACTION_REASON = "Guardrail blocked."
ANONYMIZED_REASON = "Guardrail masked."

# A text unit is 1,000 characters (AWS guardrail pricing unit).
_UNIT_CHARS = 1000


def _compile(words: tuple[str, ...]) -> re.Pattern[str] | None:
    if not words:
        return None
    # Lookarounds rather than \b so words that start or end with punctuation still match whole.
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class GuardrailPolicy:
    """Blocked words (case-insensitive, whole words), PII entity actions and blocked messages.

    ``pii`` pairs an entity type with ``ANONYMIZE`` or ``BLOCK`` (see guardrail_pii).
    """

    blocked_words: tuple[str, ...] = ()
    blocked_input_message: str = DEFAULT_BLOCKED_INPUT
    blocked_output_message: str = DEFAULT_BLOCKED_OUTPUT
    pii: tuple[tuple[str, str], ...] = ()
    _pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _canonical: dict[str, str] = field(init=False, repr=False, compare=False)
    _pii: PiiFilter = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Compiled once per configuration, never per request.
        words = tuple(w for w in self.blocked_words if w)
        object.__setattr__(self, "_pattern", _compile(words))
        object.__setattr__(self, "_canonical", {w.lower(): w for w in words})
        object.__setattr__(self, "_pii", PiiFilter(dict(self.pii)))

    @property
    def active(self) -> bool:
        return self._pattern is not None or self._pii.active

    def message(self, source: Source) -> str:
        return self.blocked_input_message if source == "INPUT" else self.blocked_output_message

    def evaluate(self, source: Source, texts: Iterable[str]) -> Verdict:
        """Check ``texts``: each configured word found (in order of discovery), each entity."""
        found: dict[str, None] = {}
        hits: list[PiiHit] = []
        masked: list[str] = []
        chars = 0
        for text in texts:
            chars += len(text)
            if self._pattern is not None:
                for hit in self._pattern.finditer(text):
                    word = self._canonical.get(hit.group(0).lower(), hit.group(0))
                    found.setdefault(word, None)
            out, entities = self._pii.scan(text)
            masked.append(out)
            hits.extend(entities)
        blocked = bool(found) or any(h.action == "BLOCKED" for h in hits)
        return Verdict(
            source,
            tuple(found),
            chars,
            self.message(source) if blocked else None,
            tuple(hits),
            tuple(masked) if hits and not blocked else None,
            self._pii.active,
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one evaluation.

    ``output`` is the replacement text when it blocked; ``masked`` the texts with anonymised
    entities when it only anonymised (one per text evaluated).
    """

    source: Source
    matches: tuple[str, ...]
    characters: int
    output: str | None
    pii: tuple[PiiHit, ...] = ()
    masked: tuple[str, ...] | None = None
    pii_checked: bool = False

    @property
    def intervened(self) -> bool:
        return bool(self.matches or self.pii)

    @property
    def blocked(self) -> bool:
        return self.output is not None

    def usage(self) -> dict[str, int]:
        units = -(-self.characters // _UNIT_CHARS)
        return {
            "topicPolicyUnits": 0,
            "contentPolicyUnits": 0,
            "wordPolicyUnits": units,
            "sensitiveInformationPolicyUnits": units if self.pii_checked else 0,
            "sensitiveInformationPolicyFreeUnits": 0,
            "contextualGroundingPolicyUnits": 0,
        }

    def assessment(self) -> dict[str, Any]:
        """One ``GuardrailAssessment``: word and PII entries per finding, invocation metrics."""
        out: dict[str, Any] = {
            "invocationMetrics": {
                "guardrailProcessingLatency": 1,
                "usage": self.usage(),
                "guardrailCoverage": {
                    "textCharacters": {"guarded": self.characters, "total": self.characters}
                },
            }
        }
        if self.matches:
            out["wordPolicy"] = {
                "customWords": [
                    {"match": w, "action": "BLOCKED", "detected": True} for w in self.matches
                ],
                "managedWordLists": [],
            }
        if self.pii:
            out["sensitiveInformationPolicy"] = {
                "piiEntities": [
                    {"match": h.match, "type": h.type, "action": h.action, "detected": True}
                    for h in self.pii
                ],
                "regexes": [],
            }
        return out

    def action_reason(self) -> str:
        return ACTION_REASON if self.blocked else ANONYMIZED_REASON

    def outputs(self) -> list[dict[str, str]]:
        if self.output is not None:
            return [{"text": self.output}]
        if self.masked is not None:
            return [{"text": t} for t in self.masked]
        return []


def apply_guardrail_response(verdict: Verdict) -> dict[str, Any]:
    """The ``ApplyGuardrailResponse`` body for a verdict."""
    body: dict[str, Any] = {
        "usage": verdict.usage(),
        "action": "GUARDRAIL_INTERVENED" if verdict.intervened else "NONE",
        "outputs": verdict.outputs(),
        "assessments": [verdict.assessment()],
        "guardrailCoverage": {
            "textCharacters": {"guarded": verdict.characters, "total": verdict.characters}
        },
    }
    if verdict.intervened:
        body["actionReason"] = verdict.action_reason()
    return body


def converse_trace(guardrail_id: str, verdict: Verdict, model_output: str) -> dict[str, Any]:
    """The ``trace.guardrail`` member of a Converse reply the guardrail intervened in."""
    trace: dict[str, Any] = {"actionReason": verdict.action_reason()}
    if verdict.source == "INPUT":
        trace["inputAssessment"] = {guardrail_id: verdict.assessment()}
    else:
        trace["modelOutput"] = [model_output]
        trace["outputAssessments"] = {guardrail_id: [verdict.assessment()]}
    return {"guardrail": trace}
