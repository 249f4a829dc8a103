"""The pluggable detector contract and the regex detector every built-in type is made of.

Streaming needs detectors to say which of their results can no longer change. A
detector therefore answers two questions about a text that may still grow:

* ``settled(text)`` — a position ``o`` such that every match *attempt* starting before
  ``o`` has an outcome that no appended text can change;
* ``scan(text, pos, settled, carry, cache)`` — the findings of the attempts in
  ``[pos, settled)``, plus where to resume and an opaque carry for the next call
  (``cache`` is scratch space shared by all detectors during one pass over ``text``).
  The engine calls it only when ``pos < settled``: an empty range has no attempts.

Whole-text redaction is one ``scan`` with ``settled == len(text)``; the streaming filter
calls ``scan`` on a sliding window. Because the two run the same code on the same
positions, a detector that honours the contract gives identical results in both.

For a regex that never matches more than ``L`` characters and looks at most
``LOOKAHEAD`` characters past its match, attempts before ``len(text) - L - LOOKAHEAD``
are final. Attempts are also final before the start of the trailing *run*: the longest
suffix made of characters the pattern can consume (``run_chars``), because no match
can cross a character outside that set. ``settled`` is the larger of the two, so a
stream usually holds back only the trailing word or number, never more than ``L + 4``.

A detector may read text before ``pos`` (look-behinds, context words, table headers):
the stream keeps ``cursor.KEEP_LEFT`` characters before the earliest resume point.

A stream scans only the newly settled text, in small pieces, so the fixed cost of a scan
matters: ``RegexDetector`` returns at once when fewer characters than its shortest match
remain after ``pos``, or none of the characters every match holds (``needs``, such as a
digit); both are exact, since an attempt that fails on them fails whatever follows.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import regex

from gateway.policy.regions import Anchors, Gate, Pattern, Region, holds_any

# Validators and lookaheads may read at most this many characters past a match.
LOOKAHEAD = 4

# Finding.flags
OVERLONG = 1  # head of a run longer than the detector's cap: always masked
CONTINUATION = 2  # a later piece of such a run: removed from the text
CONTINUES = 4  # the run goes on past this finding: the next scan continues it


@dataclass(frozen=True, slots=True)
class Finding:
    """A detected span. Holds offsets only, never the matched value."""

    type: str
    start: int
    end: int
    flags: int = 0


class Detector(Protocol):
    """What the engine needs from a detector (see the module docstring for the contract)."""

    @property
    def entity_types(self) -> frozenset[str]: ...

    @property
    def max_length(self) -> int:
        """Upper bound on ``len(text) - settled(text)``: the stream's hold-back."""
        ...

    def settled(self, text: str) -> int: ...

    def scan(
        self, text: str, pos: int, settled: int, carry: int, cache: dict[str, object]
    ) -> tuple[list[Finding], int, int]: ...


Match = re.Match[str] | regex.Match[str]


def shortest_match(pattern: Pattern) -> int:
    """The fewest characters a match of ``pattern`` consumes, from the standard library's
    own parser (0 for what it cannot parse, such as ``regex``'s named lists). A stream
    uses it to skip a detector while too little text is left for a match."""
    parser: Any = importlib.import_module("re._parser")
    try:
        return int(parser.parse(pattern.pattern).getwidth()[0])
    except (re.error, TypeError):
        return 0


# Sees the whole text (for context) and the pass's cache (shared lookups such as headers).
Validator = Callable[[str, Match, dict[str, object]], Finding | None]


class RegexDetector:
    """One compiled pattern, an optional cheap gate and a validator run on candidates.

    With ``region``, the pattern is only searched inside the spans of that (shared)
    region, which must cover every possible match: several detectors then pay for one
    scan of the text instead of one each, and the gate is checked only once a region
    needs searching. With ``anchors``, the pattern is tried only where a match can start.
    """

    __slots__ = (
        "_anchors",
        "_cont",
        "_cont_validate",
        "_gate",
        "_max_length",
        "_min_digits",
        "_min_dots",
        "_min_length",
        "_needs",
        "_pattern",
        "_region",
        "_run_chars",
        "_type",
        "_types",
        "_validate",
    )

    def __init__(
        self,
        *,
        types: tuple[str, ...],
        pattern: Pattern,
        max_length: int,
        validate: Validator | None = None,
        run_chars: str | None = None,
        gate: Gate | None = None,
        region: Region | None = None,
        anchors: Anchors | None = None,
        min_digits: int = 0,
        min_dots: int = 0,
        needs: str = "",
        continuation: tuple[Pattern, Validator] | None = None,
    ) -> None:
        """``run_chars`` must contain every character the pattern can consume and the first
        character of every multi-character lookahead; every match, valid or not, must
        contain one of ``needs`` (if given): a stream skips text without any."""
        assert region is None or anchors is None
        self._types = frozenset(types)
        self._type = types[0]
        self._pattern = pattern
        self._max_length = max_length
        self._min_digits = min_digits
        self._min_dots = min_dots
        self._needs = needs and holds_any(needs)
        self._min_length = shortest_match(pattern)
        self._validate = validate
        self._run_chars = run_chars
        self._gate = gate
        self._region = region
        self._anchors = anchors
        self._cont: Pattern | None = continuation[0] if continuation else None
        self._cont_validate: Validator | None = continuation[1] if continuation else None

    @property
    def entity_types(self) -> frozenset[str]:
        return self._types

    @property
    def max_length(self) -> int:
        return self._max_length + LOOKAHEAD

    def settled(self, text: str) -> int:
        n = len(text)
        run_chars = self._run_chars
        if run_chars is not None and n and text[-1] not in run_chars:
            return n  # no trailing run: every attempt is decided (the common case)
        lo = n - self._max_length - LOOKAHEAD
        if lo < 0:
            lo = 0
        if run_chars is None:
            return lo
        # Trailing runs are short: look at the last few characters before copying up to
        # max_length of them.
        near = n - 16 if n - 16 > lo else lo
        kept = len(text[near:].rstrip(run_chars))
        if kept or near == lo:
            return near + kept
        return lo + len(text[lo:].rstrip(run_chars))

    def scan(
        self, text: str, pos: int, settled: int, carry: int, cache: dict[str, object]
    ) -> tuple[list[Finding], int, int]:
        if not carry and (
            len(text) - pos < self._min_length
            or (self._needs and not self._needs(text, pos, cache))
        ):
            return [], max(pos, settled), 0  # no match can start in [pos, settled)
        if self._region is not None:
            return self._scan_regions(self._region, text, pos, settled, cache)
        if not carry and self._gate is not None and not self._gate(text, pos, cache):
            return [], max(pos, settled), 0
        found: list[Finding] = []
        search = self._pattern.search
        match = self._pattern.match
        validate = self._validate
        anchors = self._anchors
        starts: list[int] = []
        next_start = -1  # index into starts; -1: not computed yet
        while True:
            if carry and self._cont is not None and self._cont_validate is not None:
                if pos >= settled:
                    break
                m = self._cont.match(text, pos)
                if m is None:
                    carry = 0
                    continue
                pos = m.end()
                finding = self._cont_validate(text, m, cache)
            else:
                if anchors is None:
                    m = search(text, pos)
                    if m is None or m.start() >= settled:
                        break
                else:
                    # Equivalent to search(): every match starts at an anchor.
                    if next_start < 0:
                        starts, next_start = anchors(text, pos, cache), 0
                    m = None
                    while next_start < len(starts):
                        at = starts[next_start]
                        next_start += 1
                        if at < pos:
                            continue
                        if at >= settled:
                            next_start = len(starts)
                            break
                        m = match(text, at)
                        if m is not None:
                            break
                    if m is None:
                        break
                pos = m.end()
                finding = validate(text, m, cache) if validate else Finding(self._type, *m.span())
            carry = 0
            if finding is not None:
                found.append(finding)
                if finding.flags & CONTINUES:
                    carry = 1
        return found, max(pos, settled), carry

    def _scan_regions(
        self, region: Region, text: str, pos: int, settled: int, cache: dict[str, object]
    ) -> tuple[list[Finding], int, int]:
        found: list[Finding] = []
        search = self._pattern.search
        validate = self._validate
        gate = self._gate
        need, need_dots = self._min_digits, self._min_dots
        for start, end, digits, dots in region.spans(text, pos, cache):
            if end <= pos or digits < need or dots < need_dots:
                continue
            if start >= settled:
                break
            if gate is not None:
                # Checked once, and only when there is something to search.
                if not gate(text, pos, cache):
                    return [], max(pos, settled), 0
                gate = None
            # Matches lie inside the region; LOOKAHEAD more lets look-aheads see real text.
            stop = end + LOOKAHEAD
            at = pos if pos > start else start
            while True:
                m = search(text, at, stop)
                # A match starting past the region belongs to the next region, if any.
                if m is None or m.start() >= end:
                    break
                if m.start() >= settled:
                    return found, max(pos, settled), 0
                pos = at = m.end()
                finding = validate(text, m, cache) if validate else Finding(self._type, *m.span())
                if finding is not None:
                    found.append(finding)
        return found, max(pos, settled), 0
