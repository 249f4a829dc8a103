"""Shared scans (regions), anchors and cheap gates: how detectors skip most of a text.

A *region* is a span that covers every possible match of the detectors sharing it, found
once per pass; detectors then search only inside regions. Regions are found by *trigger*
patterns led by a literal character (``:``, ``-``, or ``0`` for a digit), which the regex
engine finds at ``str.find`` speed, or by ``bytes.find`` — in the text or in a *class
map*: the text translated to one byte per character naming its class (``0`` digit, ``A``
capital, ...), where "two capitals then two digits" is the literal ``AA00``. Regions are
computed from the pass's floor (the earliest resume point), so a stream pays only for
text it has not scanned yet, once for all the detectors sharing them.

A *gate* is a cheap necessary condition (a needed character, ``@``, a label word)
checked before any regex runs; *anchors* list where a match can start. All of these are
optimisations only: they never change what is found (property-tested against a plain
search), which the streaming-equals-whole-text guarantee relies on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import regex

Pattern = re.Pattern[str] | regex.Pattern[str]
# A cheap necessary condition for any match at or after ``pos``; ``cache`` is shared by
# the detectors of one pass over one text, for work several of them need.
Gate = Callable[[str, int, dict[str, object]], bool]
# Every position at or after ``pos`` where a match can start, ascending (a superset).
Anchors = Callable[[str, int, dict[str, object]], list[int]]
Span = tuple[int, int, int, int]  # start, end, digits in it, dots in it
Span2 = tuple[int, int]  # start, end, before counting

_ALNUM_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789")


def _spans(text: str, start: int, digits: bytes | None, found: list[Span2]) -> list[Span]:
    """Spans (``found`` is relative to ``start``) with their digits and dots counted;
    digits are counted in ``digits``, a class map writing them ``0``, if given (else the
    length stands for them: the counts only ever rule spans out)."""
    if digits is not None:
        return [
            (start + lo, start + hi, digits.count(b"0", lo, hi),
             text.count(".", start + lo, start + hi))
            for lo, hi in found
        ]  # fmt: skip
    return [
        (start + lo, start + hi, hi - lo, text.count(".", start + lo, start + hi))
        for lo, hi in found
    ]


class Region(Protocol):
    def spans(self, text: str, start: int, cache: dict[str, object]) -> list[Span]:
        """Ascending spans covering every match that starts at or after ``start``
        (computed once per pass and ``cache``, from the pass's floor if it is earlier)."""
        ...


def _ascii(text: str, start: int, cache: dict[str, object]) -> bytes:
    """``text[start:]`` with one byte per character (non-ASCII becomes ``?``), so offsets
    in it are offsets in the text; shared by every class map of a pass."""
    key = f"ascii:{start}"
    found = cache.get(key)
    if found is None:
        found = cache[key] = text[start:].encode("ascii", "replace")
    assert isinstance(found, bytes)
    return found


@dataclass(frozen=True, slots=True)
class ClassMap:
    """Maps each ASCII character to a class byte (``classes``: byte -> characters) and
    everything else, non-ASCII included, to a space."""

    name: str  # unique per table: it keys the pass's cache
    classes: dict[str, str] = field(hash=False)
    table: bytes = field(init=False)
    key: str = field(init=False)
    writes_digits: bool = field(init=False)  # digits, and only they, become "0"

    def __post_init__(self) -> None:
        table = bytearray(b" " * 256)
        for symbol, chars in self.classes.items():
            # Non-ASCII characters arrive as "?": it must stay outside every class.
            assert len(symbol) == 1, symbol
            assert symbol != " ", "space stands for every other character"
            assert "?" not in chars, chars
            for ch in chars:
                table[ord(ch)] = ord(symbol)
        object.__setattr__(self, "table", bytes(table))
        object.__setattr__(self, "writes_digits", self.classes.get("0") == "0123456789")
        object.__setattr__(self, "key", f"map:{self.name}:")

    def of(self, text: str, start: int, cache: dict[str, object]) -> bytes:
        key = self.key + str(start)
        found = cache.get(key)
        if found is None:
            found = cache[key] = _ascii(text, start, cache).translate(self.table)
        assert isinstance(found, bytes)
        return found


FLOOR = "floor"  # cache key: the earliest resume point of the pass, if the engine sets it


def _cached(cache: dict[str, object], key: str, start: int) -> tuple[list[Span] | None, int]:
    """Spans computed earlier in this pass from ``start`` or before cover what is asked;
    else where to compute them from: the pass's floor, so that detectors resuming at
    different points share one computation."""
    hit = cache.get(key)
    if hit is not None:
        assert isinstance(hit, tuple)
        if hit[0] <= start:
            spans: list[Span] = hit[1]
            return spans, start
    floor = cache.get(FLOOR)
    if isinstance(floor, int) and floor < start:
        start = floor
    return None, start


@dataclass(frozen=True, slots=True)
class RunRegion:
    """Maximal runs of the class ``x`` of ``classes`` whose length is in [least, most]:
    they cover a pattern that consumes only those characters and cannot start or end
    next to one (its run is then exactly the match)."""

    classes: ClassMap
    least: int
    most: int
    key: str = field(init=False)

    def __post_init__(self) -> None:
        assert set(self.classes.classes) == {"x"}, "one class: runs end at any other byte"
        object.__setattr__(self, "key", f"run:{self.classes.name}:{self.least}:{self.most}")

    def spans(self, text: str, start: int, cache: dict[str, object]) -> list[Span]:
        key = self.key
        found, start = _cached(cache, key, start)
        if found is not None:
            return found
        mapped = self.classes.of(text, start, cache)
        needle = b"x" * self.least
        runs = []
        at = mapped.find(needle)
        while at >= 0:
            end = mapped.find(b" ", at + self.least)
            if end < 0:
                end = len(mapped)
            if end - at <= self.most:
                runs.append((at, end))
            at = mapped.find(needle, end)
        found = (
            _spans(text, start, mapped if self.classes.writes_digits else None, runs)
            if runs
            else []
        )
        cache[key] = (start, found)
        return found


@dataclass(frozen=True, slots=True)
class TriggerRegion:
    """Where the regex ``trigger`` matches — in the text, or with ``classes`` in its class
    map — widened by ``lead`` and ``tail`` characters and, with ``run``, over the
    characters (class bytes) of ``run`` around it, at most ``reach`` each way. Every
    match of the detectors sharing it must contain a trigger match and lie within that
    widening.

    A trigger led by a literal character (``:`` or ``-``) is found by the regex engine's
    prefix scan at ``str.find`` speed, far faster than searching the detector's pattern.
    """

    trigger: str
    classes: ClassMap | None = None
    lead: int = 0
    tail: int = 0
    run: str = ""
    reach: int = 0
    key: str = field(init=False)
    text_re: re.Pattern[str] | None = field(init=False)
    map_re: re.Pattern[bytes] | None = field(init=False)
    run_bytes: bytes = field(init=False)

    def __post_init__(self) -> None:
        mapped = self.classes is not None
        name = self.classes.name if self.classes is not None else "text"
        object.__setattr__(self, "key", f"trigger:{name}:{self.trigger}")
        object.__setattr__(self, "run_bytes", self.run.encode())
        object.__setattr__(self, "text_re", None if mapped else re.compile(self.trigger))
        object.__setattr__(self, "map_re", re.compile(self.trigger.encode()) if mapped else None)

    def spans(self, text: str, start: int, cache: dict[str, object]) -> list[Span]:
        key = self.key
        found, start = _cached(cache, key, start)
        if found is not None:
            return found
        digits = None
        if self.map_re is None:
            assert self.text_re is not None
            hits = [
                (m.start() - start, m.end() - start) for m in self.text_re.finditer(text, start)
            ]
            # Widened on the ASCII bytes: same offsets, and bytes are faster.
            subject = _ascii(text, start, cache) if hits else b""
        else:
            assert self.classes is not None
            subject = self.classes.of(text, start, cache)
            hits = [m.span() for m in self.map_re.finditer(subject)]
            if self.classes.writes_digits:
                digits = subject
        found = _spans(text, start, digits, self._widen(subject, hits)) if hits else []
        cache[key] = (start, found)
        return found

    def _widen(self, subject: bytes, hits: list[Span2]) -> list[Span2]:
        """Each hit widened, overlapping ones merged; ascending (so are the hits)."""
        lead, tail, reach, run = self.lead, self.tail, self.reach, self.run_bytes
        size = len(subject)
        out: list[Span2] = []
        last = -1  # end of the last span
        for lo, hi in hits:
            lo = lo - lead if lo > lead else 0
            hi = hi + tail if hi + tail < size else size
            if run:
                left = lo - reach if lo > reach else 0
                lo = left + len(subject[left:lo].rstrip(run))
                right = subject[hi : hi + reach]
                hi += len(right) - len(right.lstrip(run))
            if lo < last:  # overlaps the previous span: merge
                if hi > last:
                    out[-1] = (out[-1][0], hi)
                    last = hi
                continue
            out.append((lo, hi))
            last = hi
        return out


def holds_any(chars: str) -> Gate:
    """Passes when one of ``chars`` occurs at or after ``pos`` (from the pass's floor, so
    the detectors needing the same characters share one search)."""
    pattern = re.compile(f"[{re.escape(chars)}]")
    key = f"holds:{chars}"

    def gate(text: str, pos: int, cache: dict[str, object]) -> bool:
        hit = cache.get(key)
        if not isinstance(hit, tuple) or hit[0] > pos:
            floor = cache.get(FLOOR)
            start = floor if isinstance(floor, int) and floor < pos else pos
            found = pattern.search(text, start)
            hit = cache[key] = (start, -1 if found is None else found.start())
        at: int = hit[1]
        if at < 0:
            return False
        return at >= pos or pattern.search(text, pos) is not None

    return gate


def find_gate(*needles: str, back: int = 0) -> Gate:
    """Passes when any needle occurs at or after ``pos - back``."""

    def gate(text: str, pos: int, cache: dict[str, object]) -> bool:
        start = pos - back if pos > back else 0
        return any(text.find(needle, start) >= 0 for needle in needles)

    return gate


def word_gate(*words: str, back: int = 0) -> Gate:
    """Passes when a word occurs at or after ``pos - back`` (case-insensitive) starting a
    word; a word written ``"sin$"`` must also end one. Letters and digits make words, so
    ``bank_routing`` holds ``routing``. The ASCII bytes of the text are lower-cased once
    per pass (offsets stay exact, unlike ``str.lower``); ``bytes.find`` plus two checks
    beat a regex scan by far."""
    checks = [(w.rstrip("$").encode(), w.endswith("$")) for w in words]

    def gate(text: str, pos: int, cache: dict[str, object]) -> bool:
        lower = cache.get("lower")
        if lower is None:
            lower = cache["lower"] = _ascii(text, 0, cache).lower()
        assert isinstance(lower, bytes)
        start = pos - back if pos > back else 0
        for word, closed in checks:
            at = lower.find(word, start)
            while at >= 0:
                end = at + len(word)
                if (at == 0 or lower[at - 1] not in _ALNUM_BYTES) and (
                    not closed or end >= len(lower) or lower[end] not in _ALNUM_BYTES
                ):
                    return True
                at = lower.find(word, at + 1)
        return False

    return gate
