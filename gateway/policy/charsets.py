"""Character sets the built-in patterns consume; they double as detectors' ``run_chars``."""

from __future__ import annotations

import regex

DIGITS = "0123456789"
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ALNUM = UPPER + UPPER.lower() + DIGITS
HEX = "0123456789abcdefABCDEF"
DIGIT_RUN = DIGITS + " .-+()"  # what phone, SSN, card and similar numbers are written with
FLAGS = regex.VERSION0
