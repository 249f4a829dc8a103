"""Character sets the built-in patterns consume; they double as detectors' ``run_chars``."""

from __future__ import annotations

import functools

import regex

DIGITS = "0123456789"
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ALNUM = UPPER + UPPER.lower() + DIGITS
HEX = "0123456789abcdefABCDEF"
DIGIT_RUN = DIGITS + " .-+()"  # what phone, SSN, card and similar numbers are written with
FLAGS = regex.VERSION0

CONTEXT_WINDOW = 32  # characters before a match searched for context words


@functools.cache
def context(words: str) -> regex.Pattern[str]:
    """Compiled on first use (not at import), then shared."""
    return regex.compile(rf"(?i)\b(?:{words})", FLAGS)


def has_context(words: str, text: str, start: int) -> bool:
    """A context word (``words`` is a regex alternation) in the ``CONTEXT_WINDOW``
    characters before ``start``, on the same line, with no other number in between
    (in "phone=0703 773699 ticket=8563499119" the label belongs to the first number)."""
    lo = max(0, start - CONTEXT_WINDOW)
    lo = text.rfind("\n", lo, start) + 1 or lo
    found = list(context(words).finditer(text, lo, start))
    return bool(found) and not any(ch.isdigit() for ch in text[found[-1].end() : start])


def has_digit(token: str) -> bool:
    return any(d in token for d in DIGITS)
