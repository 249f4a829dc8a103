"""Letter-and-digit codes: IBAN, SWIFT/BIC, UK NI numbers, VINs and AWS keys."""

from __future__ import annotations

import re

from gateway.policy import validators as v
from gateway.policy.charsets import ALNUM, DIGITS, HEX, UPPER
from gateway.policy.context import has_context, label_gate
from gateway.policy.detector import Finding, Match, RegexDetector
from gateway.policy.numbers import shapes
from gateway.policy.regions import ClassMap, RunRegion, TriggerRegion

IBAN = (
    r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}"
    r"(?:(?>(?: [A-Z0-9]{4}){2,7})(?P<tail> [A-Z0-9]{1,4})?|[A-Z0-9]{11,30})"
    r"(?![A-Za-z0-9])"
)
NINO = (
    r"(?<![A-Za-z0-9])[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z](?<!BG|GB|KN|NK|NT|TN|ZZ)"
    r"(?P<s> ?)[0-9]{2}(?P=s)[0-9]{2}(?P=s)[0-9]{2}(?P=s)[A-D](?![A-Za-z0-9])"
)
SWIFT = r"[A-Z](?<![A-Za-z0-9].)[A-Z]{5}[A-Z0-9]{2}(?:[A-Z0-9]{3})?(?![A-Za-z0-9])"
# ISO 3779: no I, O or Q, and the last four characters are always numeric.
VIN = r"(?<![A-Za-z0-9])[A-HJ-NPR-Z0-9]{13}[0-9]{4}(?![A-Za-z0-9])"
VIN_WORDS = ("vin", "vehicle", "chassis")
SWIFT_WORDS = ("swift", "bic")
AWS_ACCESS = (
    r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)"
    r"[A-Z0-9]{16}(?![A-Za-z0-9])"
)
# 40 base64 characters; the validator tells random ones from words and hashes.
AWS_SECRET = r"[A-Za-z0-9/+](?<![A-Za-z0-9/+].)[A-Za-z0-9/+]{39}(?![A-Za-z0-9/+=])"  # noqa: S105


def _iban(text: str, m: Match, cache: dict[str, object]) -> Finding | None:
    start, end = m.span()
    if v.iban_ok(m.group().replace(" ", "")):
        return Finding("INTERNATIONAL_BANK_ACCOUNT_NUMBER", start, end)
    tail = m.group("tail")
    # A short word after a printed IBAN can be swallowed as its last group; retry without.
    if tail is not None and v.iban_ok(text[start : m.start("tail")].replace(" ", "")):
        return Finding("INTERNATIONAL_BANK_ACCOUNT_NUMBER", start, m.start("tail"))
    return None


def _swift(text: str, m: Match, cache: dict[str, object]) -> Finding | None:
    if not has_context(SWIFT_WORDS, text, m.start(), cache):
        return None
    return Finding("SWIFT_CODE", *m.span())


def _vin(text: str, m: Match, cache: dict[str, object]) -> Finding | None:
    value = m.group()
    letters = sum(ch.isalpha() for ch in value)
    if letters < 2 or letters > 13:
        return None
    # European VINs carry no check digit; accept them only when labelled.
    if not (v.vin_check_ok(value) or has_context(VIN_WORDS, text, m.start(), cache)):
        return None
    return Finding("VEHICLE_IDENTIFICATION_NUMBER", *m.span())


def _aws_secret(text: str, m: Match, cache: dict[str, object]) -> Finding | None:
    value = m.group()
    if all(ch in HEX for ch in value):  # SHA-1 and git object ids
        return None
    # Random base64 mixes cases; one in a thousand AWS secrets has no digit at all.
    if value.lower() == value or value.upper() == value:
        return None
    if v.char_class_changes(value) < 15:
        return None
    return Finding("AWS_SECRET_KEY", *m.span())


def code_detectors() -> dict[str, RegexDetector]:
    """Built on demand (start-up), never at import."""
    # IBANs and NI numbers start with two capitals and two digits ("GB82", "AB 12"), SWIFT
    # codes with six capitals; found in the class map the digit runs use.
    upper_digits = TriggerRegion("AA_?00", shapes(), run="A0_", reach=44)
    # VINs and AWS secrets are whole runs of one class; access keys have fixed prefixes.
    alnum = ClassMap("alnum", {"x": ALNUM})
    access = "A(?:KIA|SIA|BIA|CCA|GPA|IDA|IPA|NPA|NVA|PKA|ROA|SCA)"
    caps_run = UPPER + DIGITS + " "
    return {
        "iban": RegexDetector(
            types=("INTERNATIONAL_BANK_ACCOUNT_NUMBER",), pattern=re.compile(IBAN),
            max_length=44, validate=_iban, run_chars=caps_run, region=upper_digits,
            min_digits=2, needs=DIGITS,
        ),
        "swift": RegexDetector(
            types=("SWIFT_CODE",), pattern=re.compile(SWIFT), max_length=11,
            validate=_swift, run_chars=ALNUM, needs=UPPER,
            region=TriggerRegion("AAAAAA", shapes(), run="A0", reach=11),
            gate=label_gate(SWIFT_WORDS),
        ),
        "nino": RegexDetector(
            types=("UK_NATIONAL_INSURANCE_NUMBER",), pattern=re.compile(NINO),
            max_length=13, run_chars=caps_run, region=upper_digits, min_digits=6,
            needs=DIGITS,
        ),
        "vin": RegexDetector(
            types=("VEHICLE_IDENTIFICATION_NUMBER",), pattern=re.compile(VIN),
            max_length=17, validate=_vin, run_chars=ALNUM, region=RunRegion(alnum, 17, 17),
            needs=DIGITS,
        ),
        "aws_access": RegexDetector(
            types=("AWS_ACCESS_KEY",), pattern=re.compile(AWS_ACCESS),
            max_length=20, run_chars=ALNUM, region=TriggerRegion(access, tail=16), needs="A",
        ),
        "aws_secret": RegexDetector(
            types=("AWS_SECRET_KEY",), pattern=re.compile(AWS_SECRET), max_length=40,
            validate=_aws_secret, run_chars=ALNUM + "/+=",
            region=RunRegion(ClassMap("base64", {"x": ALNUM + "/+"}), 40, 40),
        ),
    }  # fmt: skip
