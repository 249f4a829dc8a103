"""Streaming output filter: redacts PII and restores placeholders split across chunks."""

from __future__ import annotations

from gateway.policy.cursor import Cursor, Redaction


class OutputFilter:
    """``feed(chunk) -> str`` releases what can no longer change; ``flush() -> str``
    releases the rest at the end of the stream.

    The concatenated output equals whole-text redaction of the concatenated input for
    every chunking. At most ``Redactor.hold_back`` characters are held at any time;
    usually only the trailing word or number is (see README.md for the bound and cost).

    With a ``restorer`` (the policy pseudonymizes), placeholders are first turned back
    into the client's values and the result is then redacted, exactly as
    ``Redactor.redact_output`` does with a whole answer.
    """

    __slots__ = ("_cursor", "_restorer")

    def __init__(self, cursor: Cursor, restorer: Cursor | None = None) -> None:
        self._cursor = cursor
        self._restorer = restorer

    def feed(self, chunk: str) -> str:
        if self._restorer is not None:
            chunk = self._restorer.push(chunk, final=False)
            if not chunk:
                return ""
        return self._cursor.push(chunk, final=False)

    def flush(self) -> str:
        if self._restorer is not None:
            return self._cursor.push(self._restorer.push("", final=True), final=True)
        return self._cursor.push("", final=True)

    @property
    def held(self) -> int:
        """Characters received but not yet released (both stages)."""
        return self._cursor.held + (self._restorer.held if self._restorer else 0)

    @property
    def redactions(self) -> list[Redaction]:
        return self._cursor.redactions
