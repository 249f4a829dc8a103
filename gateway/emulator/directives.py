"""Per-request ``[[emu {...}]]`` directives: finding, parsing, validating and stripping them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any

import msgspec

MARK = "[[emu"
MARK_BYTES = MARK.encode()

NonNegInt = Annotated[int, msgspec.Meta(ge=0)]
NonNegFloat = Annotated[float, msgspec.Meta(ge=0)]
# A reply length cap: far beyond any test's needs, small enough that a typo cannot exhaust memory.
MAX_TOKENS = 100_000
TokenCount = Annotated[int, msgspec.Meta(ge=0, le=MAX_TOKENS)]


class DirectiveError(ValueError):
    """A directive that is not valid JSON or names an unknown key or a bad value."""


class Directives(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Every knob a request may set; ``None`` means "use the emulator's configured default"."""

    reply: str | None = None
    tokens: TokenCount | None = None
    ttfb_ms: NonNegFloat | None = None
    token_delay_ms: NonNegFloat | None = None
    error: str | None = None
    error_times: NonNegInt | None = None
    error_key: str = ""
    stream_error: str | None = None
    stream_error_after: NonNegInt = 0
    stream_error_generic: bool | str = False
    stop_reason: str | None = None
    hang_ms: NonNegFloat | None = None
    stall_after: NonNegInt | None = None
    stall_ms: NonNegFloat = 0.0
    cache_read: NonNegInt | None = None
    cache_write: NonNegInt | None = None
    no_tool: bool = False


NONE = Directives()

_object_decoder = msgspec.json.Decoder(dict[str, Any])

# Prompts repeat (benchmarks send one body over and over): scans of short texts are cached.
_CACHE_TEXT_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class Scan:
    """The directives in one text: where they are, and their keys merged in order."""

    spans: tuple[tuple[int, int], ...]  # (start, end) with ``end`` just past the ``]]``
    knobs: dict[str, Any]  # shared by cache hits: read it, never change it
    chars: int  # characters taken by the directives


def _scan(text: str) -> Scan:
    spans: list[tuple[int, int]] = []
    knobs: dict[str, Any] = {}
    pos = text.find(MARK)
    while pos >= 0:
        body_start = pos + len(MARK)
        # The JSON may itself contain "]]" (nested arrays), so try each closing candidate
        # until one leaves a valid JSON object before it.
        close = text.find("]]", body_start)
        while close >= 0:
            try:
                knobs.update(_object_decoder.decode(text[body_start:close]))
            except msgspec.DecodeError:
                close = text.find("]]", close + 1)
                continue
            spans.append((pos, close + 2))
            break
        else:
            raise DirectiveError(f"unterminated or invalid directive at offset {pos}")
        pos = text.find(MARK, close + 2)
    return Scan(tuple(spans), knobs, sum(end - start for start, end in spans))


_scan_cached = lru_cache(maxsize=256)(_scan)


def scan(text: str) -> Scan:
    """Find and decode every directive in ``text`` (raises DirectiveError on a broken one)."""
    return _scan_cached(text) if len(text) <= _CACHE_TEXT_LIMIT else _scan(text)


def parse(texts: Iterable[str]) -> Directives:
    """Merge the directives found in ``texts`` (later keys win) into one validated set."""
    merged: dict[str, Any] = {}
    for text in texts:
        # A cached scan is cheaper than searching the text again.
        merged.update(scan(text).knobs)
    if not merged:
        return NONE
    try:
        return msgspec.convert(merged, Directives)
    except msgspec.ValidationError as exc:
        raise DirectiveError(f"invalid emulator directive: {exc}") from exc


def strip(text: str) -> str:
    """``text`` without its directives, so they count neither as tokens nor as guarded text."""
    if MARK not in text:
        return text
    parts: list[str] = []
    last = 0
    for start, end in scan(text).spans:
        parts.append(text[last:start])
        last = end
    parts.append(text[last:])
    return "".join(parts)


def visible_length(text: str) -> int:
    """``len(strip(text))`` without building the stripped string."""
    return len(text) - scan(text).chars
