"""What each built-in detector finds, and the look-alikes it must leave alone."""

from __future__ import annotations

import importlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.policy import Redactor
from gateway.policy.builtin import ORDER, builtin_detectors
from gateway.policy.config import MAX_LOOKBEHIND, lookaround_reach
from gateway.policy.cursor import KEEP_LEFT
from gateway.policy.detector import LOOKAHEAD, Finding, RegexDetector, shortest_match


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor()


def found(redactor: Redactor, text: str) -> list[tuple[str, str]]:
    _, redactions = redactor.redact(text)
    return [(r.type, text[r.start : r.end]) for r in redactions]


POSITIVES = [
    # EMAIL
    ("mail john.doe@example.com today", "EMAIL", "john.doe@example.com"),
    ("<J.Smith+news@mail.example.co.uk>", "EMAIL", "J.Smith+news@mail.example.co.uk"),
    ("user=ops_team-1@acme-corp.io,", "EMAIL", "ops_team-1@acme-corp.io"),
    # PHONE, international and national formats
    ("call +1 (415) 555-0132 now", "PHONE", "+1 (415) 555-0132"),
    ("call (415) 555-0132.", "PHONE", "(415) 555-0132"),
    ("tel 415-555-0132", "PHONE", "415-555-0132"),
    ("tel 415.555.0132", "PHONE", "415.555.0132"),
    ("ring +44 20 7946 0958", "PHONE", "+44 20 7946 0958"),
    ("ring 020 7946 0958", "PHONE", "020 7946 0958"),
    ("mobile 07700 900123", "PHONE", "07700 900123"),
    ("+49 (0)30 1234 5678 office", "PHONE", "+49 (0)30 1234 5678"),
    ("Paris: +33 1 23 45 67 89", "PHONE", "+33 1 23 45 67 89"),
    ("Paris: 06.12.34.56.78", "PHONE", "06.12.34.56.78"),
    ("Tokyo 03-1234-5678", "PHONE", "03-1234-5678"),
    ("e164 +14155550132", "PHONE", "+14155550132"),
    ("phone: 4155550132", "PHONE", "4155550132"),
    # US_SOCIAL_SECURITY_NUMBER and ITIN
    ("SSN 123-45-6789", "US_SOCIAL_SECURITY_NUMBER", "123-45-6789"),
    ("ssn: 123 45 6789", "US_SOCIAL_SECURITY_NUMBER", "123 45 6789"),
    ("SSN: 123456789", "US_SOCIAL_SECURITY_NUMBER", "123456789"),
    ("ITIN 912-78-1234", "US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER", "912-78-1234"),
    # CREDIT_DEBIT_CARD_NUMBER
    ("card 4111 1111 1111 1111 exp", "CREDIT_DEBIT_CARD_NUMBER", "4111 1111 1111 1111"),
    ("card 4111-1111-1111-1111", "CREDIT_DEBIT_CARD_NUMBER", "4111-1111-1111-1111"),
    ("card 5555555555554444.", "CREDIT_DEBIT_CARD_NUMBER", "5555555555554444"),
    ("amex 3782 822463 10005", "CREDIT_DEBIT_CARD_NUMBER", "3782 822463 10005"),
    # INTERNATIONAL_BANK_ACCOUNT_NUMBER
    (
        "IBAN GB82 WEST 1234 5698 7654 32 thanks",
        "INTERNATIONAL_BANK_ACCOUNT_NUMBER",
        "GB82 WEST 1234 5698 7654 32",
    ),
    ("iban=DE89370400440532013000", "INTERNATIONAL_BANK_ACCOUNT_NUMBER", "DE89370400440532013000"),
    # IP_ADDRESS
    ("from 192.168.1.20 via", "IP_ADDRESS", "192.168.1.20"),
    ("host=10.0.0.5:8080", "IP_ADDRESS", "10.0.0.5"),
    ("net 10.0.0.0/8", "IP_ADDRESS", "10.0.0.0"),
    ("v6 2001:db8::8a2e:370:7334 up", "IP_ADDRESS", "2001:db8::8a2e:370:7334"),
    ("[fe80::1]:443", "IP_ADDRESS", "fe80::1"),
    ("mapped ::ffff:192.0.2.1.", "IP_ADDRESS", "::ffff:192.0.2.1"),
    # MAC_ADDRESS
    ("mac 00:1A:2B:3C:4D:5E", "MAC_ADDRESS", "00:1A:2B:3C:4D:5E"),
    ("hw aa-bb-cc-dd-ee-ff", "MAC_ADDRESS", "aa-bb-cc-dd-ee-ff"),
    ("cisco 001a.2b3c.4d5e", "MAC_ADDRESS", "001a.2b3c.4d5e"),
    # URL
    ("see https://example.com/a?b=c.", "URL", "https://example.com/a?b=c"),
    ("(https://en.wikipedia.org/wiki/Foo_(bar))", "URL", "https://en.wikipedia.org/wiki/Foo_(bar)"),
    ("[docs](http://docs.example.org/x)", "URL", "http://docs.example.org/x"),
    ("visit www.example.org/page, then", "URL", "www.example.org/page"),
    # AWS keys
    ("key AKIAIOSFODNN7EXAMPLE", "AWS_ACCESS_KEY", "AKIAIOSFODNN7EXAMPLE"),
    (
        "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AWS_SECRET_KEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ),
    # Other identifiers
    ("NI AB123456C", "UK_NATIONAL_INSURANCE_NUMBER", "AB123456C"),
    ("NINO: AB 12 34 56 C", "UK_NATIONAL_INSURANCE_NUMBER", "AB 12 34 56 C"),
    ("VIN 1HGCM82633A004352", "VEHICLE_IDENTIFICATION_NUMBER", "1HGCM82633A004352"),
    ("NHS number 943 476 5919", "UK_NATIONAL_HEALTH_SERVICE_NUMBER", "943 476 5919"),
    ("routing number 021000021", "US_BANK_ROUTING_NUMBER", "021000021"),
    ("SIN 130 692 544", "CA_SOCIAL_INSURANCE_NUMBER", "130 692 544"),
    ("SWIFT/BIC: DEUTDEFF500", "SWIFT_CODE", "DEUTDEFF500"),
]


@pytest.mark.parametrize(("text", "kind", "value"), POSITIVES)
def test_detects(redactor: Redactor, text: str, kind: str, value: str) -> None:
    assert found(redactor, text) == [(kind, value)]


NEGATIVES = [
    "upgrade to v1.2.3.4 tonight",
    "version 10.0.19041.1 is installed",
    "pip install pkg==1.2.3.4",
    "Chrome/120.0.6099.109 Safari",
    "artifact app-1.2.3.4.tar.gz",
    "OID 1.3.6.1.4.1.9.9.46",
    "octets 300.1.2.3 and 10.0.0.256",
    "at 2024-01-02T10:20:30Z and 10:20:30.123",
    "log 2024-01-02 10:20:30,123 ok",
    "epoch 1718035200 and 1718035200123 ms",
    "commit 3f2a9c1b0d4e5f60718293a4b5c6d7e8f9012345",
    "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "id 550e8400-e29b-41d4-a716-446655440000",
    "order ORD-2024-558812 and #A1234567 and PO-7781-2231",
    "SKU 063-26-2144-95 restocked",
    "ticket 4155550132 was closed",
    "file report_2024-01-02.csv and icon@2x.png",
    "card 4111 1111 1111 1112 declined",
    "iban-like DE00 1234 5678 9012 3456 78",
    "ISBN 978-3-16-148410-0",
    "time 12:30:45 and std::vector<int> and crate::io::Result",
    "ssn-like 000-12-3456 and 666-12-3456 and 123-00-4567",
    "user@localhost and @dataclass and @types/node@18.11.9",
    "nginx:1.25.3 python:3.11-slim",
    "AKIA1234 is too short",
    "getUserAccountBalanceHistoryForCustomer1 is a method",
    "price $1,234.56 and 37.7749, -122.4194",
    "color #a1b2c3 and 0xDEADBEEF",
    "build 2024.0101.1230 done",
    "dates 01/02/2024 and 02.01.2024 and 01-02-2024",
    "ref 021000021 without a label",
    "HTTP/1.1 200 in 123 ms",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_leaves_lookalikes(redactor: Redactor, text: str) -> None:
    assert found(redactor, text) == []


def test_declared_max_length_covers_every_pattern() -> None:
    """The stream's hold-back rests on max_length and LOOKAHEAD: they must bound every
    raw match and every look-ahead; look-behinds must fit in the text a stream keeps."""
    parser = importlib.import_module("re._parser")
    for detector in builtin_detectors():
        pattern = detector._pattern.pattern  # a contract check on built-ins
        widest = parser.parse(pattern).getwidth()[1]
        ahead, behind = lookaround_reach(parser.parse(pattern))
        name = sorted(detector.entity_types)
        assert widest <= detector.max_length - LOOKAHEAD, (name, widest)
        assert ahead <= LOOKAHEAD, (name, ahead)
        assert behind <= MAX_LOOKBEHIND <= KEEP_LEFT, (name, behind)


@pytest.mark.parametrize(("text", "kind", "value"), POSITIVES)
def test_no_match_is_shorter_than_the_shortest_a_stream_waits_for(
    text: str, kind: str, value: str
) -> None:
    """A stream skips a detector while fewer characters than its shortest match remain."""
    finders = [
        detector
        for detector in builtin_detectors()
        if (kind, value) in {(f.type, text[f.start : f.end]) for f in findings(detector, text)}
    ]
    assert finders
    for detector in finders:
        assert 0 < shortest_match(detector._pattern) <= len(value)


def plain(detector: RegexDetector) -> RegexDetector:
    """The same pattern and validator searched over the whole text: no region, anchors,
    gate or needed characters (what those optimisations must not change)."""
    return RegexDetector(
        types=tuple(sorted(detector.entity_types, key=lambda t: t != detector._type)),
        pattern=detector._pattern,
        max_length=detector._max_length,
        validate=detector._validate,
        run_chars=detector._run_chars,
        continuation=(detector._cont, detector._cont_validate)
        if detector._cont is not None and detector._cont_validate is not None
        else None,
    )


def findings(detector: RegexDetector, text: str) -> list[Finding]:
    found, _, _ = detector.scan(text, 0, len(text), 0, {})
    return found


SAMPLES = [value for _, _, value in POSITIVES] + [
    "AB 12 34 56 C", "DE89 3704 0044 0532 0130 00", "fe80::1:2", "aa-bb-cc-dd-ee-ff-00",
    "v1.2.3.4", "12:34:56:78:9a:bc:de", "1.2.3.4.5", "::", "NHS", "routing", "sin", "bic",
    "swift", "phone", "tel", "ssn", "www.", "://", "http://", "@", "a@b.co", "AKIA",
    "001a.2b3c.4d5e.6f70", "0x1234", "+1", "(0)", "-", ".", ":", "_", "/", "=", "\n", ",",
    "|", "\t", '"', "é", "İ",
]  # fmt: skip
GLUE = st.text(alphabet=" ,.;:-_/@+()=\nabcXYZ0179", max_size=5)
RICH_TEXTS = st.lists(st.one_of(st.sampled_from(SAMPLES), GLUE), max_size=16).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=RICH_TEXTS)
def test_shared_scans_and_gates_change_nothing_found(text: str) -> None:
    for name, detector in zip(ORDER, builtin_detectors(), strict=True):
        assert findings(detector, text) == findings(plain(detector), text), name
