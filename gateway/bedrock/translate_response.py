"""Converse response -> OpenAI ``chat.completion`` (protocols §6.2-§6.3), and its JSON encoding."""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.bedrock.mapping import finish_reason, openai_usage
from gateway.errors import UpstreamError
from gateway.openai.types import (
    ChatCompletion,
    Choice,
    ResponseMessage,
    ToolCall,
    ToolCallFunction,
    Usage,
)

# Built once: an Encoder is pure and reusable, and keeps its buffer between calls.
_ENCODER = msgspec.json.Encoder()


def from_converse(
    resp: dict[str, Any], *, model: str, completion_id: str, created: int
) -> ChatCompletion:
    """Build the completion; ids and the timestamp are passed in so this stays pure."""
    finish = finish_reason(resp.get("stopReason"))
    if finish is None:
        raise UpstreamError(
            "The model produced malformed output; retrying the request may help.",
            code="malformed_model_output",
        )
    blocks = ((resp.get("output") or {}).get("message") or {}).get("content") or []
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in blocks:
        if "text" in block:
            texts.append(block["text"])
        elif "toolUse" in block:
            use = block["toolUse"]
            arguments = _ENCODER.encode(use.get("input", {})).decode()
            calls.append(
                ToolCall(
                    id=use["toolUseId"],
                    function=ToolCallFunction(name=use["name"], arguments=arguments),
                )
            )
        # reasoningContent and other block kinds have no Chat Completions field: dropped.
    message = ResponseMessage(
        content="".join(texts) if texts else None, refusal=None, tool_calls=calls or None
    )
    usage = resp.get("usage")
    return ChatCompletion(
        id=completion_id,
        created=created,
        model=model,
        choices=[Choice(index=0, message=message, finish_reason=finish, logprobs=None)],
        usage=msgspec.convert(openai_usage(usage), Usage) if usage is not None else None,
        system_fingerprint=None,
    )


def encode_completion(completion: ChatCompletion) -> bytes:
    return _ENCODER.encode(completion)
