"""Checksum and structure validators behind the PII detectors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.policy import validators as v


@pytest.mark.parametrize(
    ("digits", "ok"),
    [
        ("4111111111111111", True),
        ("4111111111111112", False),
        ("378282246310005", True),
        ("6011111111111117", True),
        ("79927398713", True),
        ("79927398710", False),
    ],
)
def test_luhn(digits: str, ok: bool) -> None:
    assert v.luhn_ok(digits) is ok


@pytest.mark.parametrize(
    ("digits", "ok"),
    [
        ("4111111111111111", True),  # Visa 16
        ("4222222222222", True),  # Visa 13
        ("5555555555554444", True),  # Mastercard
        ("2221000000000009", True),  # Mastercard 2-series
        ("378282246310005", True),  # Amex 15
        ("3782822463100051", False),  # Amex must be 15
        ("6011111111111117", True),  # Discover
        ("3530111333300000", True),  # JCB
        ("1718035200000123", False),  # epoch-millisecond-like
        ("9111111111111111", False),
    ],
)
def test_card_prefix(digits: str, ok: bool) -> None:
    assert v.card_prefix_ok(digits) is ok


@pytest.mark.parametrize(
    ("iban", "ok"),
    [
        ("GB82WEST12345698765432", True),
        ("DE89370400440532013000", True),
        ("NL91ABNA0417164300", True),
        ("FR1420041010050500013M02606", True),
        ("NO9386011117947", True),
        ("GB82WEST12345698765433", False),  # check digits fail
        ("DE8937040044053201300", False),  # wrong length for DE
        ("XX82WEST12345698765432", False),  # no such country
    ],
)
def test_iban(iban: str, ok: bool) -> None:
    assert v.iban_ok(iban) is ok


@pytest.mark.parametrize(
    ("parts", "ssn", "itin"),
    [
        ((123, 45, 6789), True, False),
        ((0, 45, 6789), False, False),
        ((666, 45, 6789), False, False),
        ((123, 0, 6789), False, False),
        ((123, 45, 0), False, False),
        ((912, 78, 1234), False, True),
        ((912, 93, 1234), False, False),  # 93 is not an ITIN group
        ((900, 50, 1), False, True),
    ],
)
def test_ssn_and_itin(parts: tuple[int, int, int], ssn: bool, itin: bool) -> None:
    assert v.ssn_parts_ok(*parts) is ssn
    assert v.itin_parts_ok(parts[0], parts[1]) is itin


@pytest.mark.parametrize(
    ("fn", "value", "ok"),
    [
        (v.aba_routing_ok, "021000021", True),
        (v.aba_routing_ok, "021000022", False),
        (v.aba_routing_ok, "991000025", False),  # prefix 99 unassigned
        (v.nhs_ok, "9434765919", True),
        (v.nhs_ok, "9434765918", False),
        (v.vin_check_ok, "1HGCM82633A004352", True),
        (v.vin_check_ok, "1HGCM82643A004352", False),
        (v.vin_check_ok, "11111111111111111", True),
        (v.ipv4_ok, "192.168.0.1", True),
        (v.ipv4_ok, "256.1.1.1", False),
        (v.ipv4_ok, "10.01.0.1", False),  # leading zero: versions, padded ids
        (v.ipv6_ok, "2001:db8::1", True),
        (v.ipv6_ok, "::ffff:192.0.2.1", True),
        (v.ipv6_ok, "12:30:45", False),
        (v.ipv6_ok, "00:1a:2b:3c:4d:5e", False),
    ],
)
def test_checks(fn: object, value: str, ok: bool) -> None:
    assert callable(fn)
    assert fn(value) is ok


@pytest.mark.parametrize(
    ("value", "at_least", "below"),
    [
        ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", 15, 99),
        ("getUserAccountBalanceHistoryForCustomer1", 0, 15),
        ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0, 1),
    ],
)
def test_char_class_changes(value: str, at_least: int, below: int) -> None:
    assert at_least <= v.char_class_changes(value) < below


def textbook_luhn(digits: str) -> bool:
    doubled = [int(d) * (2 if i % 2 else 1) for i, d in enumerate(reversed(digits))]
    return sum(x - 9 if x > 9 else x for x in doubled) % 10 == 0


def textbook_nhs(digits: str) -> bool:
    remainder = sum(int(d) * (10 - i) for i, d in enumerate(digits[:9])) % 11
    check = (11 - remainder) % 11
    return check != 10 and check == int(digits[9])


@given(st.text("0123456789", min_size=1, max_size=19))
def test_luhn_agrees_with_the_textbook_definition(digits: str) -> None:
    assert v.luhn_ok(digits) is textbook_luhn(digits)


@given(st.text("0123456789", min_size=10, max_size=10))
def test_nhs_agrees_with_the_textbook_definition(digits: str) -> None:
    assert v.nhs_ok(digits) is textbook_nhs(digits)
