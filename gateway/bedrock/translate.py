"""Pure OpenAI Chat Completions <-> Bedrock Converse translation: the import surface.

``to_converse`` builds the boto3 ``converse(**kwargs)`` members (minus ``modelId``) from a
decoded request and its route; ``from_converse`` builds the ``chat.completion`` body. No clock,
no I/O, no globals: ids and timestamps come from the caller. The pieces live beside this
module (translate_messages, translate_tool_ids, translate_tools, translate_params, translate_media,
translate_response).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.bedrock.translate_messages import translate_messages
from gateway.bedrock.translate_params import inference, refuse_unsupported, request_options
from gateway.bedrock.translate_response import encode_completion, from_converse
from gateway.bedrock.translate_tools import tool_config
from gateway.openai.types import ChatCompletionRequest
from gateway.routing import Route

__all__ = ["ConverseCall", "encode_completion", "from_converse", "to_converse"]


@dataclass(frozen=True, slots=True)
class ConverseCall:
    model_id: str  # route.bedrock_id
    # Exactly the boto3 ``converse(**kwargs)`` members minus modelId; blobs are raw bytes
    # (the HTTP client base64-encodes them).
    body: dict[str, Any]
    stream: bool
    include_usage: bool  # stream_options.include_usage (only meaningful when streaming)
    max_tokens: int  # the effective maxTokens sent; budgets reserve against it


def to_converse(
    req: ChatCompletionRequest, route: Route, *, allow_remote_images: bool = False
) -> ConverseCall:
    refuse_unsupported(req)
    conversation = translate_messages(req.messages, allow_remote_images=allow_remote_images)
    settings = inference(req, route, tool_loop=conversation.ends_with_tool_results)
    tools = tool_config(
        req,
        history_tools=conversation.tool_names if conversation.has_tool_blocks else None,
        thinking=settings.thinking_budget is not None,
    )
    body: dict[str, Any] = {"messages": conversation.messages}
    if conversation.system:
        body["system"] = conversation.system
    body["inferenceConfig"] = settings.config
    if tools is not None:
        body["toolConfig"] = tools
    if settings.thinking_budget is not None:
        body["additionalModelRequestFields"] = {
            "thinking": {"type": "enabled", "budget_tokens": settings.thinking_budget}
        }
    body.update(request_options(req))
    stream = bool(req.stream)
    # stream_options without stream is ignored rather than refused: harmless, and some
    # clients always send it.
    include_usage = bool(stream and req.stream_options and req.stream_options.include_usage)
    return ConverseCall(
        model_id=route.bedrock_id,
        body=body,
        stream=stream,
        include_usage=include_usage,
        max_tokens=settings.max_tokens,
    )
