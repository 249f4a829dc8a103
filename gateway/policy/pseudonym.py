"""Per-request placeholder ↔ value map for the pseudonymize action."""

from __future__ import annotations


class PseudonymState:
    """Stable numbering per type: the first e-mail seen is ``<EMAIL_1>``, the next new one
    ``<EMAIL_2>``, and a repeated value gets its first placeholder again.

    Lives for one request and holds raw values, so it is never logged: ``repr`` shows
    counts only.
    """

    __slots__ = ("_by_placeholder", "_by_value", "_counts")

    def __init__(self) -> None:
        self._by_value: dict[tuple[str, str], str] = {}
        self._by_placeholder: dict[str, str] = {}
        self._counts: dict[str, int] = {}

    def placeholder(self, entity_type: str, value: str) -> str:
        key = (entity_type, value)
        found = self._by_value.get(key)
        if found is not None:
            return found
        n = self._counts.get(entity_type, 0) + 1
        self._counts[entity_type] = n
        made = f"<{entity_type}_{n}>"
        self._by_value[key] = made
        self._by_placeholder[made] = value
        return made

    def value(self, placeholder: str) -> str | None:
        return self._by_placeholder.get(placeholder)

    def knows(self, entity_type: str, value: str) -> bool:
        return (entity_type, value) in self._by_value

    def __len__(self) -> int:
        return len(self._by_placeholder)

    def __repr__(self) -> str:
        return f"PseudonymState({dict(sorted(self._counts.items()))})"
