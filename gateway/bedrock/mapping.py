"""Converse stopReason -> OpenAI finish_reason, and Converse usage -> OpenAI usage (§6.2-§6.3)."""

from __future__ import annotations

from typing import Any

# None means "no good match": the caller turns it into an upstream error (§6.2).
_FINISH: dict[str, str | None] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
    "malformed_model_output": None,
    "malformed_tool_use": None,
}


def finish_reason(stop_reason: str | None) -> str | None:
    """Mapped finish_reason; None for malformed output; unknown future values -> "stop"."""
    if stop_reason is None:
        return "stop"
    return _FINISH.get(stop_reason, "stop")


def is_known_stop_reason(stop_reason: str) -> bool:
    return stop_reason in _FINISH


def openai_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """OpenAI ``usage`` from Converse ``usage``; prompt counts include cache reads/writes."""
    cache_read = int(usage.get("cacheReadInputTokens") or 0)
    cache_write = int(usage.get("cacheWriteInputTokens") or 0)
    prompt = int(usage.get("inputTokens") or 0) + cache_read + cache_write
    completion = int(usage.get("outputTokens") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cache_read, "cache_write_tokens": cache_write},
    }
