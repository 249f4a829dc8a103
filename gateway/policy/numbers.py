"""Digit-led detectors: PHONE, SSN and ITIN, cards, routing, NHS and SIN numbers.

They share one scan: every match lies inside a run of digits and separators, so the
runs are found once per text and each pattern is searched only inside them.
"""

from __future__ import annotations

import functools
import re

import regex

from gateway.policy import validators as v
from gateway.policy.charsets import DIGIT_RUN, DIGITS, FLAGS, UPPER
from gateway.policy.context import has_context, label_gate
from gateway.policy.detector import Finding, Match, RegexDetector, Validator
from gateway.policy.regions import ClassMap, Gate, TriggerRegion

# Not inside a longer token: no letter, digit or joining punctuation before.
_START = r"(?<![A-Za-z0-9+\-./_#$])"
_END = r"(?![A-Za-z0-9_]|[.\-][0-9])"
# A run of digits and separators in the shapes map (below); "+" or "(" may lead its
# first digit by two characters.
_RUN = "0[-0_]{4,}"

PHONE = (
    r"(?<![A-Za-z0-9+\-./_@#$])(?:"
    r"(?P<intl>\+[1-9][0-9]{0,2}(?>(?:[ .\-]?(?:\([0-9]{1,4}\)|[0-9]{1,6})){1,6}))"
    r"|(?<![0-9][ .\-])(?P<nanp>(?:1[ .\-]?)?(?:\([2-9][0-9]{2}\)[ .\-]?|[2-9][0-9]{2}[ .\-])"
    r"[2-9][0-9]{2}[ .\-][0-9]{4})"
    r"|(?<![0-9][ .\-])(?P<natl>\(?0[1-9][0-9]{0,4}\)?(?>(?:[ \-][0-9]{2,8}){1,4})"
    r"|0[1-9](?:\.[0-9]{2}){4})"
    r"|(?P<bare>[0-9]{10,11})"
    r")(?![A-Za-z0-9_@]|[.\-][0-9])"
)
PHONE_WORDS = (
    "phone", "tel", "call", "mobile", "cell", "fax", "whatsapp", "sms", "text", "ring", "dial",
    "contact",
)  # fmt: skip
SSN = (
    _START + r"(?:(?P<a>[0-9]{3})(?P<s>[ \-])(?P<g>[0-9]{2})(?P=s)(?P<n>[0-9]{4})"
    r"|(?P<bare>[0-9]{9}))" + _END
)
SSN_WORDS = ("ssn", "social[ _-]?security", "itin", "taxpayer", "tax[ _-]?id", "tin$")
CARD = (
    _START + r"(?<![0-9][ \-])[0-9]{4}"
    r"(?:(?P<s>[ \-])[0-9]{4,6}(?>(?:(?P=s)[0-9]{1,5}){1,3})|[0-9]{9,15})" + _END
)
ROUTING = _START + r"[0-9]{9}" + _END
ROUTING_WORDS = ("routing", "aba", "rtn", "transit")
NHS = _START + r"[0-9]{3}(?P<s>[ \-]?)[0-9]{3}(?P=s)[0-9]{4}" + _END
SIN = _START + r"[0-9]{3}(?P<s>[ \-]?)[0-9]{3}(?P=s)[0-9]{3}" + _END
SIN_WORDS = ("sin$", "social[ _-]?insurance", "nas$")
NHS_WORDS = ("nhs", "national[ _-]?health[ _-]?service")


@functools.cache
def _code_before() -> regex.Pattern[str]:
    # "NL28 LFUP " or "DE00 1234 ": digits after this continue a (mistyped) IBAN.
    return regex.compile(r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: [A-Z0-9]{4})* $", FLAGS)


def _continues_code(text: str, start: int) -> bool:
    return _code_before().search(text, max(0, start - 40), start) is not None


def _phone(text: str, m: Match, cache: dict[str, object]) -> Finding | None:
    if _continues_code(text, m.start()):
        return None
    value = m.group()
    n = sum(ch in DIGITS for ch in value)
    kind = m.lastgroup
    if kind == "intl":
        # E.164 allows 15 digits; a "(0)" trunk prefix written after the code adds one.
        if not 8 <= n <= (16 if "(0)" in value else 15):
            return None
    elif kind == "natl":
        # Dashed national numbers have at most three groups (03-1234-5678); more are SKUs.
        if not 9 <= n <= 12 or value.count("-") > 2:
            return None
    elif kind == "bare" and not has_context(PHONE_WORDS, text, m.start(), cache):
        return None
    return Finding("PHONE", *m.span())


def _ssn(text: str, m: Match, cache: dict[str, object]) -> Finding | None:
    bare = m.group("bare")
    if bare is not None:
        area, group, serial = int(bare[:3]), int(bare[3:5]), int(bare[5:])
    else:
        area, group, serial = int(m.group("a")), int(m.group("g")), int(m.group("n"))
    if v.ssn_parts_ok(area, group, serial):
        kind = "US_SOCIAL_SECURITY_NUMBER"
    elif v.itin_parts_ok(area, group):
        kind = "US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER"
    else:
        return None
    # Nine bare digits are an SSN only when labelled; checked last, it costs the most.
    if bare is not None and not has_context(SSN_WORDS, text, m.start(), cache):
        return None
    return Finding(kind, *m.span())


def _card(text: str, m: Match, cache: dict[str, object]) -> Finding | None:
    if _continues_code(text, m.start()):
        return None
    value = m.group()
    digits = v.digits_of(value)
    if not 13 <= len(digits) <= 19:
        return None
    sep = m.group("s")
    if sep is not None:
        groups = [len(g) for g in value.split(sep)]
        four = all(g == 4 for g in groups[:-1]) and groups[-1] <= 4
        if not (four or groups in ([4, 6, 5], [4, 6, 4])):
            return None
    if not (v.card_prefix_ok(digits) and v.luhn_ok(digits)):
        return None
    return Finding("CREDIT_DEBIT_CARD_NUMBER", *m.span())


def _routing(text: str, m: Match, cache: dict[str, object]) -> Finding | None:
    if not v.aba_routing_ok(m.group()) or not has_context(ROUTING_WORDS, text, m.start(), cache):
        return None
    return Finding("US_BANK_ROUTING_NUMBER", *m.span())


def _nhs(text: str, m: Match, cache: dict[str, object]) -> Finding | None:
    if not v.nhs_ok(v.digits_of(m.group())) or not has_context(NHS_WORDS, text, m.start(), cache):
        return None
    return Finding("UK_NATIONAL_HEALTH_SERVICE_NUMBER", *m.span())


def _sin(text: str, m: Match, cache: dict[str, object]) -> Finding | None:
    digits = v.digits_of(m.group())
    # 0 is unassigned and 8 marks business numbers; the rest must pass Luhn.
    if digits[0] in "08" or not v.luhn_ok(digits):
        return None
    if not has_context(SIN_WORDS, text, m.start(), cache):
        return None
    return Finding("CA_SOCIAL_INSURANCE_NUMBER", *m.span())


@functools.cache
def shapes() -> ClassMap:
    """Digits ``0``, capitals ``A``, spaces ``_`` and the other number punctuation ``-``:
    the class map behind the digit-run, IBAN, NI number and SWIFT scans (one translation
    of the text serves all of them)."""
    return ClassMap("shapes", {"0": DIGITS, "A": UPPER, "_": " ", "-": "().+-"})


@functools.cache
def digit_runs() -> TriggerRegion:
    """The shared scan: a regex led by a literal runs at ``str.find`` speed on the map."""
    return TriggerRegion(_RUN, shapes(), lead=2)


def _make(
    name: str, pattern: str, max_length: int, validate: Validator, min_digits: int,
    gate: Gate | None = None,
) -> RegexDetector:  # fmt: skip
    return RegexDetector(
        types=_TYPES[name],
        pattern=re.compile(pattern),
        max_length=max_length,
        validate=validate,
        run_chars=DIGIT_RUN,
        region=digit_runs(),
        min_digits=min_digits,
        needs=DIGITS,
        gate=gate,
    )


def numeric_detectors() -> dict[str, RegexDetector]:
    """Built on demand (start-up), never at import."""
    return {
        "nhs": _make("nhs", NHS, 12, _nhs, 10, label_gate(NHS_WORDS)),
        "sin": _make("sin", SIN, 11, _sin, 9, label_gate(SIN_WORDS)),
        "routing": _make("routing", ROUTING, 9, _routing, 9, label_gate(ROUTING_WORDS)),
        "ssn": _make("ssn", SSN, 11, _ssn, 9),
        "card": _make("card", CARD, 29, _card, 13),
        "phone": _make("phone", PHONE, 46, _phone, 8),
    }


_TYPES = {
    "nhs": ("UK_NATIONAL_HEALTH_SERVICE_NUMBER",),
    "sin": ("CA_SOCIAL_INSURANCE_NUMBER",),
    "routing": ("US_BANK_ROUTING_NUMBER",),
    "ssn": ("US_SOCIAL_SECURITY_NUMBER", "US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER"),
    "card": ("CREDIT_DEBIT_CARD_NUMBER",),
    "phone": ("PHONE",),
}
