"""One pass of redaction over a text that may arrive in pieces: find, resolve, replace.

Whole-text redaction is a single final ``push``; the streaming filter pushes chunks.
Both run this code, so they agree by construction wherever the detectors honour
their contract (see ``detector.py``).

Overlaps are resolved leftmost-first, then longest, then by detector rank (the most
specific detector is listed first). That rule only looks leftwards, which is what lets
a stream decide a finding as soon as every detector has settled past its start.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from gateway.policy.config import MAX_LOOKBEHIND, Action
from gateway.policy.context import REACH
from gateway.policy.detector import CONTINUATION, OVERLONG, Detector, Finding
from gateway.policy.errors import PiiBlockedError
from gateway.policy.pseudonym import Origin, PseudonymState
from gateway.policy.regions import FLOOR

PLACEHOLDER = "PLACEHOLDER"  # internal type of "<EMAIL_1>"-shaped tokens
# Text kept before the earliest resume point: look-behinds, context words and table
# headers read it. It is released text, so it costs memory, never hold-back.
KEEP_LEFT = max(MAX_LOOKBEHIND, REACH) + 1
# The window is trimmed once this much more than it needs has piled up, not on every
# push: trimming copies the window.
TRIM_SLACK = 1024


@dataclass(frozen=True, slots=True)
class Redaction:
    """One replacement made: type, action and span in the input. Never the value."""

    type: str
    action: Action
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything a pass needs, built once per redactor."""

    detectors: Sequence[Detector]
    actions: Mapping[str, Action]
    hash_key: bytes | None
    pseudonymized: frozenset[str]
    keep_left: int = KEEP_LEFT  # text a stream keeps before the earliest resume point


# input: text bound for the model; restore: placeholders back to the client's values
# (model answer, first stage); output: the restored answer, where the client's own values
# stay and the model's own PII gets answer-origin placeholders (never restored).
Mode = Literal["input", "restore", "output"]
_Item = tuple[int, int, int, Finding]  # (start, -end, rank, finding), absolute offsets


class Cursor:
    """Redaction state of one text or stream: where each detector resumes, what is
    detected but not yet decided, and how far output has been produced."""

    __slots__ = (
        "_base",
        "_blocker",
        "_carry",
        "_emitted",
        "_mode",
        "_pending",
        "_plan",
        "_pos",
        "_state",
        "_text",
        "redactions",
    )

    def __init__(self, plan: Plan, state: PseudonymState, mode: Mode) -> None:
        self._plan = plan
        self._state = state
        self._mode = mode
        n = len(plan.detectors)
        self._pos = [0] * n
        self._carry = [0] * n
        self._pending: list[_Item] = []
        self._emitted = 0  # absolute offset up to which output was produced
        self._base = 0  # absolute offset of self._text[0]
        self._text = ""
        self._blocker = 0  # the detector that last kept a push from releasing anything
        self.redactions: list[Redaction] = []

    @property
    def held(self) -> int:
        """Characters received but not yet released."""
        return self._base + len(self._text) - self._emitted

    def push(self, chunk: str, *, final: bool) -> str:
        text = self._text + chunk
        base = self._base
        n = len(text)
        pos, carry = self._pos, self._carry
        detectors = self._plan.detectors
        if final:
            limits = [n] * len(detectors)
            horizon = n
        else:
            # Nothing new can be released while any detector has not settled past what
            # was released; skipping is exact, since scanning later sees the same text
            # plus more and detectors resume where they stopped. The detector that
            # blocked last time usually still does (a word or number is growing).
            emitted = self._emitted - base
            if detectors and detectors[self._blocker].settled(text) <= emitted:
                self._text = text
                return ""
            limits = []
            for rank, det in enumerate(detectors):
                limit = det.settled(text)
                if limit <= emitted:
                    self._blocker = rank
                    self._text = text
                    return ""
                limits.append(limit)
            horizon = min(limits, default=n)
        items = self._pending
        # Shared scans start where the earliest detector resumes (see regions.FLOOR).
        cache: dict[str, object] = {FLOOR: min(pos, default=base) - base}
        for rank, det in enumerate(detectors):
            settled = limits[rank]
            start = pos[rank] - base
            if start >= settled:
                continue  # no attempt in the range: nothing to scan
            found, resume, carry[rank] = det.scan(text, start, settled, carry[rank], cache)
            pos[rank] = resume + base
            for f in found:
                items.append((f.start + base, -f.end - base, rank, f))
        decided = base + horizon
        out: list[str] = []
        cursor = self._emitted
        keep: list[_Item] = []
        blocked: set[str] = set()
        if items:
            items.sort()
            for item in items:
                start = item[0]
                if start >= decided:
                    keep.append(item)
                elif start >= cursor:
                    end = -item[1]
                    out.append(text[cursor - base : start - base])
                    value = text[start - base : end - base]
                    out.append(self._replace(item[3], start, end, value, blocked))
                    cursor = end
        if cursor < decided:
            out.append(text[cursor - base : decided - base])
            cursor = decided
        if blocked:
            raise PiiBlockedError(blocked)
        self._emitted = cursor
        self._pending = keep
        if final:
            self._text = ""
            self._base = base + n
        else:
            cut = min(cursor, min(pos, default=cursor) - self._plan.keep_left) - base
            if cut > TRIM_SLACK:
                self._text = text[cut:]
                self._base = base + cut
            else:
                self._text = text
        return "".join(out)

    def _replace(self, f: Finding, start: int, end: int, value: str, blocked: set[str]) -> str:
        state = self._state
        if f.type == PLACEHOLDER:
            if self._mode == "restore":
                # Only the client's values come back; a placeholder standing for PII the
                # model produced (in any block or chunk of the answer) stays as it is.
                restored = state.restore(value)
                return value if restored is None else restored
            if self._mode == "output":
                return value  # left by restore: never issued, or the model's own PII
            # A literal "<EMAIL_1>" in the input must not be confused with one we issue:
            # it gets a placeholder of its own, which restores to the literal.
            entity_type = value[1 : value.rindex("_")]
            if entity_type in self._plan.pseudonymized:
                return state.placeholder(entity_type, value, origin=Origin.REQUEST)
            return value
        action = self._plan.actions[f.type]
        if (
            action is Action.PSEUDONYMIZE
            and self._mode == "output"
            and state.from_client(f.type, value)
        ):
            return value  # the client's own value, restored from its placeholder upstream
        if action is Action.BLOCK:
            blocked.add(f.type)
            return ""
        if f.flags & (OVERLONG | CONTINUATION):
            # Too long to be one value: mask it whole, whatever the action.
            self.redactions.append(Redaction(f.type, Action.MASK, start, end))
            return "" if f.flags & CONTINUATION else f"[{f.type}]"
        self.redactions.append(Redaction(f.type, action, start, end))
        if action is Action.PSEUDONYMIZE:
            origin = Origin.ANSWER if self._mode == "output" else Origin.REQUEST
            return state.placeholder(f.type, value, origin=origin)
        if action is Action.HASH:
            key = self._plan.hash_key or b""
            digest = hmac.new(key, f"{f.type}\0{value}".encode(), hashlib.sha256).hexdigest()
            return f"[{f.type}:{digest[:12]}]"
        return f"[{f.type}]"
