"""The emulated guardrail's sensitive-information filter: a few PII patterns and their actions.

Deliberately simple regexes: the emulator only has to produce Bedrock's wire shapes for a
recognisable input, not to detect PII well (that is gateway.policy's job).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

PiiType = Literal["EMAIL", "PHONE", "US_SOCIAL_SECURITY_NUMBER", "CREDIT_DEBIT_CARD_NUMBER"]
# What the control API accepts (the names Bedrock's guardrail configuration uses) ...
PiiSetting = Literal["ANONYMIZE", "BLOCK"]
# ... and what an assessment reports (GuardrailSensitiveInformationPolicyAction).
PiiAction = Literal["ANONYMIZED", "BLOCKED"]

_ACTIONS: dict[str, PiiAction] = {"ANONYMIZE": "ANONYMIZED", "BLOCK": "BLOCKED"}

# In priority order: the first alternative that matches at a position wins, so the card
# (16 digits) and the SSN (3-2-4) are tried before the looser phone pattern.
_PATTERNS: tuple[tuple[str, str], ...] = (
    ("EMAIL", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
    ("CREDIT_DEBIT_CARD_NUMBER", r"(?<!\d)\d{4}(?:[ -]?\d{4}){3}(?!\d)"),
    ("US_SOCIAL_SECURITY_NUMBER", r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)"),
    ("PHONE", r"(?<![\d+])(?:\+1[ .-]?)?(?:\(\d{3}\)[ ]?|\d{3}[ .-])\d{3}[ .-]\d{4}(?!\d)"),
)
_GROUPS = {f"g{i}": name for i, (name, _) in enumerate(_PATTERNS)}


@dataclass(frozen=True, slots=True)
class PiiHit:
    """One entity found: its type, the matched text (Bedrock reports it) and the action taken."""

    type: str
    match: str
    action: PiiAction


class PiiFilter:
    """The configured entity types and what to do with each; compiled once per configuration."""

    __slots__ = ("_actions", "_pattern")

    def __init__(self, settings: dict[str, str]) -> None:
        self._actions = {name: _ACTIONS[setting] for name, setting in settings.items()}
        wanted = [
            f"(?P<g{i}>{regex})" for i, (name, regex) in enumerate(_PATTERNS) if name in settings
        ]
        self._pattern = re.compile("|".join(wanted)) if wanted else None

    @property
    def active(self) -> bool:
        return self._pattern is not None

    def scan(self, text: str) -> tuple[str, list[PiiHit]]:
        """``text`` with anonymised entities replaced by ``{TYPE}``, and every entity found."""
        if self._pattern is None:
            return text, []
        hits: list[PiiHit] = []

        def replace(found: re.Match[str]) -> str:
            name = _GROUPS[found.lastgroup or ""]
            action = self._actions[name]
            hits.append(PiiHit(name, found.group(0), action))
            return "{" + name + "}" if action == "ANONYMIZED" else found.group(0)

        return self._pattern.sub(replace, text), hits
