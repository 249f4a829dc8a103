"""Per-request placeholder ↔ value map for the pseudonymize action, with each value's origin."""

from __future__ import annotations

import enum


class Origin(enum.Enum):
    """Where a pseudonymised value was first seen in the request."""

    REQUEST = "request"  # the client sent it: it may be given back to the client
    ANSWER = "answer"  # only the model produced it: it must never reach the client


class PseudonymState:
    """Stable numbering per type: the first e-mail seen is ``<EMAIL_1>``, the next new one
    ``<EMAIL_2>``, and a repeated value gets its first placeholder again, whichever side
    it appears on.

    Restoring yields only values the client sent. A value first seen in the model's answer
    keeps its placeholder everywhere — other content blocks, tool arguments, later chunks,
    the model writing the placeholder itself — because the client never had it. A
    placeholder's origin is fixed when it is issued and never changes.

    Lives for one request and holds raw values, so it is never logged: ``repr`` shows
    counts only.
    """

    __slots__ = ("_by_placeholder", "_by_value", "_counts")

    def __init__(self) -> None:
        self._by_value: dict[tuple[str, str], str] = {}
        self._by_placeholder: dict[str, tuple[str, Origin]] = {}
        self._counts: dict[str, int] = {}

    def placeholder(self, entity_type: str, value: str, *, origin: Origin) -> str:
        """The value's placeholder, issued with ``origin`` if the value is new."""
        key = (entity_type, value)
        found = self._by_value.get(key)
        if found is not None:
            return found
        n = self._counts.get(entity_type, 0) + 1
        self._counts[entity_type] = n
        made = f"<{entity_type}_{n}>"
        self._by_value[key] = made
        self._by_placeholder[made] = (value, origin)
        return made

    def restore(self, placeholder: str) -> str | None:
        """The client's value behind ``placeholder``; None for a placeholder this request
        never issued and for one standing for a value only the model produced."""
        entry = self._by_placeholder.get(placeholder)
        if entry is None or entry[1] is not Origin.REQUEST:
            return None
        return entry[0]

    def from_client(self, entity_type: str, value: str) -> bool:
        """Whether the client sent this value (so the answer may carry it unchanged)."""
        made = self._by_value.get((entity_type, value))
        return made is not None and self._by_placeholder[made][1] is Origin.REQUEST

    def __len__(self) -> int:
        return len(self._by_placeholder)

    def __repr__(self) -> str:
        return f"PseudonymState({dict(sorted(self._counts.items()))})"
