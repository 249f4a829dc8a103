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

from gateway.policy.config import Action
from gateway.policy.detector import CONTINUATION, OVERLONG, Detector, Finding
from gateway.policy.errors import PiiBlockedError
from gateway.policy.pseudonym import PseudonymState

PLACEHOLDER = "PLACEHOLDER"  # internal type of "<EMAIL_1>"-shaped tokens
# Text kept before the earliest resume point: look-behinds and context words need it.
KEEP_LEFT = 96


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


# input: text bound for the model; restore: placeholders back to values (model answer,
# first stage); output: the restored answer, where the client's own values stay.
Mode = Literal["input", "restore", "output"]
_Item = tuple[int, int, int, Finding]  # (start, -end, rank, finding), absolute offsets


class Cursor:
    """Redaction state of one text or stream: where each detector resumes, what is
    detected but not yet decided, and how far output has been produced."""

    __slots__ = (
        "_base",
        "_carry",
        "_emitted",
        "_fresh",
        "_mode",
        "_pending",
        "_plan",
        "_pos",
        "_state",
        "_text",
        "redactions",
    )

    def __init__(
        self, plan: Plan, state: PseudonymState, mode: Mode, fresh: set[str] | None = None
    ) -> None:
        self._plan = plan
        self._state = state
        self._mode = mode
        # Placeholders the output stage issued for this answer's own (model-made) PII.
        # They share the request's state with the client's, but are not the client's:
        # restore leaves them literal (whole-text restore runs before any is issued, so a
        # stream's restore stage, running behind the output stage, must not see them
        # either) and output never treats their values as the client's. A streaming
        # filter shares one set between its two stages.
        self._fresh: set[str] = set() if fresh is None else fresh
        n = len(plan.detectors)
        self._pos = [0] * n
        self._carry = [0] * n
        self._pending: list[_Item] = []
        self._emitted = 0  # absolute offset up to which output was produced
        self._base = 0  # absolute offset of self._text[0]
        self._text = ""
        self.redactions: list[Redaction] = []

    @property
    def held(self) -> int:
        """Characters received but not yet released."""
        return self._base + len(self._text) - self._emitted

    def push(self, chunk: str, *, final: bool) -> str:
        text = self._text + chunk
        base = self._base
        n = len(text)
        horizon = n
        items = self._pending
        pos, carry = self._pos, self._carry
        cache: dict[str, object] = {}
        detectors = self._plan.detectors
        if final:
            limits = [n] * len(detectors)
        else:
            limits = [det.settled(text) for det in detectors]
            horizon = min(limits, default=n)
            if base + horizon <= self._emitted:
                # Nothing new can be released yet; scanning later sees the same text plus
                # more, and detectors resume where they stopped, so skipping is exact.
                self._text = text
                return ""
        for rank, det in enumerate(detectors):
            settled = limits[rank]
            found, resume, carry[rank] = det.scan(
                text, pos[rank] - base, settled, carry[rank], cache
            )
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
            cut = min(cursor, min(pos) - KEEP_LEFT) - base
            if cut > 0:
                self._text = text[cut:]
                self._base = base + cut
            else:
                self._text = text
        return "".join(out)

    def _replace(self, f: Finding, start: int, end: int, value: str, blocked: set[str]) -> str:
        state = self._state
        if f.type == PLACEHOLDER:
            if self._mode == "restore":
                if value in self._fresh:
                    return value
                return state.value(value) or value
            if self._mode == "output":
                return value  # one we never issued: not ours to change
            # A literal "<EMAIL_1>" in the input must not be confused with one we issue:
            # it gets a placeholder of its own, which restores to the literal.
            entity_type = value[1 : value.rindex("_")]
            if entity_type in self._plan.pseudonymized:
                return state.placeholder(entity_type, value)
            return value
        action = self._plan.actions[f.type]
        if (
            action is Action.PSEUDONYMIZE
            and self._mode == "output"
            and state.knows(f.type, value)
            and state.placeholder(f.type, value) not in self._fresh  # known: a lookup only
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
            made = state.placeholder(f.type, value)
            if self._mode == "output":
                self._fresh.add(made)
            return made
        if action is Action.HASH:
            key = self._plan.hash_key or b""
            digest = hmac.new(key, f"{f.type}\0{value}".encode(), hashlib.sha256).hexdigest()
            return f"[{f.type}:{digest[:12]}]"
        return f"[{f.type}]"
