"""Shared scans (regions) and cheap gates: how detectors skip most of a text.

A *region* is a span that covers every possible match of the detectors sharing it, found
once per pass (one regex scan, or ``str.split`` for long tokens); detectors then search
only inside regions. A *gate* is a cheap necessary condition (``str.find`` of ``@`` or of
a label word) checked before any regex runs. Both are optimisations only: they never
change what is found, which the streaming-equals-whole-text tests rely on.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

import regex

Pattern = re.Pattern[str] | regex.Pattern[str]
# A cheap necessary condition for any match at or after ``pos``; ``cache`` is shared by
# the detectors of one pass over one text, for work several gates need (lower-casing).
Gate = Callable[[str, int, dict[str, object]], bool]


_NOT_DIGITS = {c: None for c in range(128) if not 48 <= c <= 57}
Span = tuple[int, int, int, int]  # start, end, digits in it, dots in it


def _span(text: str, start: int, end: int) -> Span:
    value = text[start:end]
    return (start, end, len(value.translate(_NOT_DIGITS)), value.count("."))


@dataclass(frozen=True, slots=True)
class Region:
    """A cheap pattern whose matches, widened left by ``lead``, cover every match of the
    detectors that share it; found once per pass over a text."""

    pattern: Pattern
    lead: int = 0

    def spans(self, text: str, cache: dict[str, object]) -> list[Span]:
        key = f"re:{self.lead}:{self.pattern.pattern}"
        found = cache.get(key)
        if found is None:
            lead = self.lead
            found = cache[key] = [
                _span(text, max(0, m.start() - lead), m.end()) for m in self.pattern.finditer(text)
            ]
        return found  # type: ignore[return-value]


_TOKEN_MIN = 14  # shortest token a TokenRegion asks for


@functools.cache
def _drop_table(keep: str) -> dict[int, None]:
    """``str.translate`` table deleting the ASCII characters not in ``keep``."""
    return {c: None for c in range(128) if chr(c) not in keep}


@dataclass(frozen=True, slots=True)
class TokenRegion:
    """Whitespace-separated tokens holding at least ``length`` characters of ``chars``
    (ASCII) and passing ``need``: they cover every match of a pattern that consumes only
    ``chars`` and is at least ``length`` long. ``str.split`` beats any regex scan here."""

    length: int
    chars: str
    need: Callable[[str], bool] | None = None

    def spans(self, text: str, cache: dict[str, object]) -> list[Span]:
        key = f"tok:{self.length}:{self.chars}:{self.need}"
        found = cache.get(key)
        if found is not None:
            return found  # type: ignore[return-value]
        tokens = cache.get("tokens")
        if tokens is None:
            tokens = cache["tokens"] = {w for w in text.split() if len(w) >= _TOKEN_MIN}
        assert isinstance(tokens, set)
        drop = _drop_table(self.chars)
        spans = []
        for w in tokens:
            if len(w.translate(drop)) < self.length or (self.need and not self.need(w)):
                continue
            at = text.find(w)
            while at >= 0:
                spans.append(_span(text, at, at + len(w)))
                at = text.find(w, at + 1)
        spans.sort()
        cache[key] = spans
        return spans


def find_gate(*needles: str, back: int = 0) -> Gate:
    """Passes when any needle occurs at or after ``pos - back``."""

    def gate(text: str, pos: int, cache: dict[str, object]) -> bool:
        start = pos - back if pos > back else 0
        return any(text.find(needle, start) >= 0 for needle in needles)

    return gate


def word_gate(*words: str, back: int = 0) -> Gate:
    """Passes when a word occurs at or after ``pos - back`` (case-insensitive) starting a
    word; a word written ``"sin$"`` must also end one. The text is lower-cased once per
    pass; ``str.find`` plus two character checks beat a regex scan by far."""
    checks = [(w.rstrip("$"), w.endswith("$")) for w in words]

    def gate(text: str, pos: int, cache: dict[str, object]) -> bool:
        lower = cache.get("lower")
        if lower is None:
            lower = cache["lower"] = text.lower()
        assert isinstance(lower, str)
        start = pos - back if pos > back else 0
        for word, closed in checks:
            at = lower.find(word, start)
            while at >= 0:
                end = at + len(word)
                if (at == 0 or not lower[at - 1].isalnum()) and (
                    not closed or end >= len(lower) or not lower[end].isalnum()
                ):
                    return True
                at = lower.find(word, at + 1)
        return False

    return gate
