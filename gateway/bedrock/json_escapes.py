"""Streamed JSON text with hiding escapes spelled out: what output filters must see.

A model streams tool-call arguments as raw JSON text. JSON lets any character of a string
be written as ``\\uXXXX`` (and ``/`` as ``\\/``), so ``"bob\\u0040example.com"`` is an
e-mail address to the client's JSON decoder but no e-mail to a pattern scanning the text.
``JsonEscapes`` rewrites those escapes of printable ASCII into the characters themselves —
the JSON stays equivalent — before the text reaches the PII filter. ``"`` and ``\\`` keep
their escapes (unescaped they would end or break the string), as do control characters
and everything outside ASCII, which no built-in detector matches.

Escapes may be split across chunks; at most the 5 characters of an unfinished escape are
held back. Outside strings valid JSON has no backslash, so the rewrite never applies there.
"""

from __future__ import annotations

from typing import Final, Protocol

_HEX: Final = frozenset("0123456789abcdefABCDEF")
_KEEP_ESCAPED: Final = frozenset((0x22, 0x5C))  # '"' and '\\'
_ESCAPE_LEN: Final = 6  # \uXXXX


class JsonEscapes:
    """``feed(chunk) -> str`` returns the rewritten text that is complete; ``flush()`` the
    rest (an unfinished escape at the end of the stream, left as it was)."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, chunk: str) -> str:
        text = self._pending + chunk if self._pending else chunk
        self._pending = ""
        start = text.find("\\")
        if start < 0:
            return text
        out: list[str] = [text[:start]]
        i, size = start, len(text)
        while True:
            if i + 1 >= size:
                self._pending = text[i:]
                break
            kind = text[i + 1]
            if kind == "u":
                if i + _ESCAPE_LEN > size:
                    self._pending = text[i:]
                    break
                digits = text[i + 2 : i + _ESCAPE_LEN]
                code = int(digits, 16) if all(c in _HEX for c in digits) else -1
                if 0x20 <= code < 0x7F and code not in _KEEP_ESCAPED:
                    out.append(chr(code))
                else:
                    out.append(text[i : i + _ESCAPE_LEN])
                i += _ESCAPE_LEN
            else:
                out.append("/" if kind == "/" else text[i : i + 2])
                i += 2
            found = text.find("\\", i)
            if found < 0:
                out.append(text[i:])
                break
            out.append(text[i:found])
            i = found
        return "".join(out)

    def flush(self) -> str:
        rest, self._pending = self._pending, ""
        return rest


class _Filter(Protocol):
    def feed(self, chunk: str) -> str: ...

    def flush(self) -> str: ...


class JsonTextFilter:
    """A text filter for streamed JSON: escapes spelled out first, then ``inner``."""

    __slots__ = ("_escapes", "_inner")

    def __init__(self, inner: _Filter) -> None:
        self._escapes = JsonEscapes()
        self._inner = inner

    def feed(self, chunk: str) -> str:
        text = self._escapes.feed(chunk)
        return self._inner.feed(text) if text else ""

    def flush(self) -> str:
        rest = self._escapes.flush()
        return (self._inner.feed(rest) if rest else "") + self._inner.flush()
