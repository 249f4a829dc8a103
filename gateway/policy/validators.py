"""Checksum and structure validators that keep pattern matches precise (pure functions)."""

from __future__ import annotations

import ipaddress
import operator
import re

# Lengths from the SWIFT IBAN registry: a country code fixes the total length, which
# together with mod-97 rejects nearly every IBAN-shaped look-alike.
# fmt: off
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
    "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
    "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27,
    "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28,
    "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}
# fmt: on

_NOT_DIGITS = re.compile("[^0-9]+")
# Luhn doubles every second digit from the right, minus 9 past 9: a table lookup.
_LUHN_DOUBLED = dict(zip("0123456789", (0, 2, 4, 6, 8, 1, 3, 5, 7, 9), strict=True))
_NHS_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)


def digits_of(value: str) -> str:
    return _NOT_DIGITS.sub("", value)


def luhn_ok(digits: str) -> bool:
    # map() keeps the per-digit work in C: validators run on every candidate number.
    total = sum(map(int, digits[-1::-2])) + sum(map(_LUHN_DOUBLED.__getitem__, digits[-2::-2]))
    return total % 10 == 0


def card_prefix_ok(digits: str) -> bool:
    """True when the issuer prefix (IIN) and length belong to a real card network."""
    n = len(digits)
    two = int(digits[:2])
    four = int(digits[:4])
    if digits[0] == "4":  # Visa
        return n in (13, 16, 19)
    if 51 <= two <= 55 or 2221 <= four <= 2720:  # Mastercard
        return n == 16
    if two in (34, 37):  # American Express
        return n == 15
    if digits.startswith("6011") or two == 65 or 644 <= int(digits[:3]) <= 649:  # Discover
        return 16 <= n <= 19
    if 3528 <= four <= 3589:  # JCB
        return 16 <= n <= 19
    if 300 <= int(digits[:3]) <= 305 or two in (36, 38, 39):  # Diners Club
        return 14 <= n <= 19
    if two == 62:  # UnionPay
        return 16 <= n <= 19
    return two in (50, 56, 57, 58, 63, 67) and 12 <= n <= 19  # Maestro


def iban_ok(compact: str) -> bool:
    """``compact`` is upper-case without spaces; checks country length and mod-97."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    if not "02" <= compact[2:4] <= "98":  # ISO 13616: 00, 01 and 99 are never issued
        return False
    rearranged = compact[4:] + compact[:4]
    # int() of the letter-expanded string is one C call: far cheaper than a digit loop.
    expanded = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(expanded) % 97 == 1


def ssn_parts_ok(area: int, group: int, serial: int) -> bool:
    """SSA rules: no area 000, 666 or 900-999, no group 00, no serial 0000."""
    return 0 < area < 900 and area != 666 and group != 0 and serial != 0


def itin_parts_ok(area: int, group: int) -> bool:
    """IRS ITINs: area 9xx, group 50-65, 70-88, 90-92 or 94-99."""
    return area >= 900 and (
        50 <= group <= 65 or 70 <= group <= 88 or 90 <= group <= 92 or 94 <= group <= 99
    )


def aba_routing_ok(digits: str) -> bool:
    if len(digits) != 9:
        return False
    prefix = int(digits[:2])
    if not (prefix <= 12 or 21 <= prefix <= 32 or 61 <= prefix <= 72 or prefix == 80):
        return False
    d = [ord(c) - 48 for c in digits]
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + d[2] + d[5] + d[8]) % 10 == 0


def nhs_ok(digits: str) -> bool:
    if len(digits) != 10:
        return False
    total: int = sum(map(operator.mul, _NHS_WEIGHTS, map(int, digits[:9])))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == ord(digits[9]) - 48


# fmt: off
_VIN_VALUES = {
    **{str(i): i for i in range(10)},
    "A": 1, "B": 2, "C": 3, "D": 4, "E": 5, "F": 6, "G": 7, "H": 8,
    "J": 1, "K": 2, "L": 3, "M": 4, "N": 5, "P": 7, "R": 9,
    "S": 2, "T": 3, "U": 4, "V": 5, "W": 6, "X": 7, "Y": 8, "Z": 9,
}
# fmt: on
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin_check_ok(vin: str) -> bool:
    """North-American check digit (position 9) of a 17-character VIN."""
    total = sum(_VIN_VALUES[ch] * w for ch, w in zip(vin, _VIN_WEIGHTS, strict=True))
    rem = total % 11
    return vin[8] == ("X" if rem == 10 else str(rem))


def ipv4_ok(value: str) -> bool:
    parts = value.split(".")
    if len(parts) != 4:
        return False
    for part in parts:
        # Leading zeros are how versions and zero-padded IDs look; addresses do not use them.
        if len(part) > 1 and part[0] == "0":
            return False
        if int(part) > 255:
            return False
    return True


def ipv6_ok(value: str) -> bool:
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def char_class_changes(value: str) -> int:
    """How often the character class (upper, lower, digit, other) changes along ``value``.

    Random base64 changes class on roughly two characters in three; identifiers,
    words and paths change far less often, which is what separates secrets from them.
    """
    changes = 0
    prev = -1
    for ch in value:
        if ch.isupper():
            cls = 0
        elif ch.islower():
            cls = 1
        elif ch.isdigit():
            cls = 2
        else:
            cls = 3
        if cls != prev and prev != -1:
            changes += 1
        prev = cls
    return changes
