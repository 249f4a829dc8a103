"""OpenAI request parameters -> Converse inference, thinking and request options (§6.1, §6.5, §6.6).

Tools live in translate_tools.py; messages in translate_messages.py. Every refusal here is a
400 whose ``param`` names the OpenAI parameter, raised before anything is sent to Bedrock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec

from gateway.errors import InvalidRequestError
from gateway.openai.types import ChatCompletionRequest, JSONObjectFormat, JSONSchemaFormat
from gateway.routing import Route

BEDROCK_MAX_TEMPERATURE = 1.0
# reasoning_effort -> Anthropic thinking budget (protocols §6.5 [R]; not documented by AWS).
THINKING_BUDGETS: dict[str, int] = {
    "low": 1024,
    "medium": 4096,
    "high": 16384,
    "xhigh": 32000,
    "max": 32000,
}
MIN_THINKING_BUDGET = 1024
# Room kept for the visible answer when a budget is clamped to fit under maxTokens.
ANSWER_RESERVE = 1024
_SERVICE_TIERS = frozenset({"default", "flex", "priority"})
_METADATA_MAX = 256
_METADATA_TEXT = re.compile(r"[A-Za-z0-9 \t\n\x0b\f\r:_@$#=/+,\-.]*")


@dataclass(frozen=True, slots=True)
class Inference:
    config: dict[str, Any]  # inferenceConfig
    max_tokens: int
    thinking_budget: int | None  # None: extended thinking stays off


def refuse_unsupported(req: ChatCompletionRequest) -> None:
    """400 for parameters Converse cannot honour (§6.6); harmless values pass."""
    if req.n is not None and req.n > 1:
        _refuse("n", "Only n=1 is supported.")
    if req.logprobs:
        _refuse("logprobs", "logprobs are not available from Bedrock.")
    if req.top_logprobs:
        _refuse("top_logprobs", "logprobs are not available from Bedrock.")
    for name in ("presence_penalty", "frequency_penalty"):
        if getattr(req, name):
            _refuse(name, f"'{name}' is not supported by Bedrock; send 0 or omit it.")
    if req.logit_bias:
        _refuse("logit_bias", "logit_bias is not supported by Bedrock.")
    if req.audio is not None:
        _refuse("audio", "Audio output is not supported.")
    if req.modalities and "audio" in req.modalities:
        _refuse("modalities", "Audio output is not supported.")
    for name in ("prediction", "web_search_options", "moderation"):
        if getattr(req, name) is not None:
            _refuse(name, f"'{name}' is not supported by this gateway.")
    if isinstance(req.response_format, JSONObjectFormat):
        # Converse has no JSON mode; a prompt instruction could not guarantee valid JSON,
        # and json_schema (which Converse enforces) covers the need.
        _refuse(
            "response_format",
            "response_format 'json_object' is not supported; use 'json_schema' with a schema.",
        )


def _refuse(param: str, message: str) -> None:
    raise InvalidRequestError(message, param=param, code="unsupported_parameter")


def inference(req: ChatCompletionRequest, route: Route, *, tool_loop: bool) -> Inference:
    """inferenceConfig plus the thinking budget; ``tool_loop``: history ends in tool results."""
    given, param = (
        (req.max_completion_tokens, "max_completion_tokens")
        if req.max_completion_tokens is not None
        else (req.max_tokens, "max_tokens")
    )
    if given is not None and given > route.max_output_tokens:
        raise InvalidRequestError(
            f"'{param}' is too large: model '{route.name}' allows at most "
            f"{route.max_output_tokens} output tokens.",
            param=param,
            code="invalid_value",
        )
    # No client value: the route's cap, never a smaller hard-coded default (peers truncated).
    max_tokens = given if given is not None else route.max_output_tokens
    if req.temperature is not None and req.temperature > BEDROCK_MAX_TEMPERATURE:
        raise InvalidRequestError(
            "Bedrock accepts 'temperature' between 0 and 1.",
            param="temperature",
            code="invalid_value",
        )
    budget = _thinking_budget(req, route, max_tokens, tool_loop=tool_loop)
    config: dict[str, Any] = {"maxTokens": max_tokens}
    # Extended thinking rejects sampling changes, so with thinking on they are left out.
    if budget is None:
        if (
            route.exclusive_temperature_top_p
            and req.temperature is not None
            and req.top_p is not None
        ):
            raise InvalidRequestError(
                f"Model '{route.name}' accepts 'temperature' or 'top_p', not both.",
                param="top_p",
            )
        if req.temperature is not None:
            config["temperature"] = req.temperature
        if req.top_p is not None:
            config["topP"] = req.top_p
    stops = _stop_sequences(req.stop)
    if stops:
        config["stopSequences"] = stops
    return Inference(config=config, max_tokens=max_tokens, thinking_budget=budget)


def _thinking_budget(
    req: ChatCompletionRequest, route: Route, max_tokens: int, *, tool_loop: bool
) -> int | None:
    if not route.thinking or req.reasoning_effort is None:
        return None  # reasoning_effort means nothing to models without thinking
    wanted = THINKING_BUDGETS.get(req.reasoning_effort)
    # Chat Completions cannot carry reasoning signatures back, and Anthropic requires them
    # on the assistant turn that issued tool calls, so a tool loop continues without thinking.
    if wanted is None or tool_loop or max_tokens <= MIN_THINKING_BUDGET:
        return None
    return max(MIN_THINKING_BUDGET, min(wanted, max_tokens - ANSWER_RESERVE))


def _stop_sequences(stop: str | list[str] | None) -> list[str]:
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop] if stop else []
    return [s for s in stop if s]


def request_options(req: ChatCompletionRequest) -> dict[str, Any]:
    """outputConfig, requestMetadata and serviceTier members of the Converse body."""
    options: dict[str, Any] = {}
    if isinstance(req.response_format, JSONSchemaFormat):
        spec = req.response_format.json_schema
        if spec.schema is None:
            raise InvalidRequestError(
                "response_format json_schema needs a 'schema' for Bedrock.",
                param="response_format.json_schema.schema",
            )
        definition: dict[str, Any] = {
            "schema": msgspec.json.encode(spec.schema).decode(),
            "name": spec.name,
        }
        if spec.description:
            definition["description"] = spec.description
        options["outputConfig"] = {
            "textFormat": {"type": "json_schema", "structure": {"jsonSchema": definition}}
        }
    if req.metadata:
        options["requestMetadata"] = _metadata(req.metadata)
    if req.service_tier in _SERVICE_TIERS:
        options["serviceTier"] = {"type": req.service_tier}
    return options


def _metadata(metadata: dict[str, str]) -> dict[str, str]:
    for key, value in metadata.items():
        if (
            len(value) > _METADATA_MAX
            or not key
            or _METADATA_TEXT.fullmatch(key) is None
            or _METADATA_TEXT.fullmatch(value) is None
        ):
            raise InvalidRequestError(
                "Bedrock request metadata allows values of at most 256 characters drawn from "
                "letters, digits, whitespace and : _ @ $ # = / + , - .",
                param="metadata",
            )
    return metadata
