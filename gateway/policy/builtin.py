"""The built-in detectors in priority order, named as Bedrock Guardrails names the types.

Every pattern is anchored with look-arounds so it cannot start or end inside a longer
token, and a validator (checksum, ranges, context words) rejects look-alikes. Numbers
that only a label can tell apart (routing, NHS, SIN, SWIFT, bare 9- to 11-digit runs)
need a context word just before them on the same line, or in the header of their table
column (``context.py``). NAME and ADDRESS are not here: see README.md in this package
for why and what to use instead.
"""

from __future__ import annotations

from gateway.policy.codes import code_detectors
from gateway.policy.detector import RegexDetector
from gateway.policy.network import URL_CAP, network_detectors
from gateway.policy.numbers import numeric_detectors

# Exact-span ties go to the earlier detector: the most specific first, PHONE last.
ORDER = (
    "nhs", "sin", "routing", "ssn", "card", "iban", "swift", "nino", "vin", "aws_access",
    "aws_secret", "email", "url", "ipv4", "ipv6", "mac_colon", "mac_dash", "mac_dot",
    "phone",
)  # fmt: skip

__all__ = ["ORDER", "URL_CAP", "builtin_detectors"]


def builtin_detectors() -> list[RegexDetector]:
    every = {**numeric_detectors(), **code_detectors(), **network_detectors()}
    return [every[name] for name in ORDER]
