"""Decoding and OpenAI-level validation of a Chat Completions request body.

Everything wrong with a body becomes an ``InvalidRequestError`` (HTTP 400, never 422) whose
``param`` names the offending field the way OpenAI does (``messages[0].content``). Limits here
are OpenAI's own; what Bedrock cannot do is refused later, by the translator.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypeVar

import msgspec

from gateway.errors import InvalidRequestError
from gateway.openai.types import (
    AssistantMessage,
    ChatCompletionRequest,
    CustomTool,
    FunctionChoice,
    FunctionToolCall,
    NamedFunction,
    ToolCallParam,
    ToolMessage,
)

# Built once: a Decoder holds the compiled type information and no per-request state.
_DECODER = msgspec.json.Decoder(ChatCompletionRequest)

_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_AT_PATH = re.compile(r"^(?P<what>.*) - at `\$(?P<path>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`$")
_EXPECTED = re.compile(r"^Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`$")
_TYPE_WORDS = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "array": "array",
    "object": "object",
    "null": "null",
}

T = TypeVar("T")

MAX_STOP = 4
MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512


def decode_chat_request(body: bytes) -> ChatCompletionRequest:
    """Decode and validate a request body; raise ``InvalidRequestError`` on any problem."""
    req = decode_json(body, _DECODER, "the Chat Completions parameters")
    validate_request(req)
    return req


def decode_json(body: bytes, decoder: msgspec.json.Decoder[T], what: str) -> T:
    """Decode a JSON body with ``decoder``; errors are 400s naming the field, never 422."""
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise _schema_error(str(exc)) from exc
    except msgspec.DecodeError as exc:
        raise InvalidRequestError(
            "We could not parse the JSON body of your request. The body must be a JSON object "
            f"with {what}.",
            code="invalid_json",
        ) from exc


def _schema_error(text: str) -> InvalidRequestError:
    """Turn a msgspec validation message into an OpenAI-style message and ``param``."""
    path = ""
    what = text
    found = _AT_PATH.match(text)
    if found is not None:
        what = found["what"]
        # "[...]" is how msgspec marks a dict value; OpenAI names the dict itself.
        path = found["path"].replace("[...]", "").lstrip(".")
    missing = _MISSING.match(what)
    if missing is not None:
        param = f"{path}.{missing['field']}" if path else missing["field"]
        return InvalidRequestError(f"Missing required parameter: '{param}'.", param=param)
    if not path:
        return InvalidRequestError("The request body must be a JSON object.", code="invalid_json")
    expected = _EXPECTED.match(what)
    if expected is not None:
        want = " or ".join(_TYPE_WORDS.get(w, w) for w in expected["want"].split(" | "))
        got = _TYPE_WORDS.get(expected["got"], expected["got"])
        message = f"Invalid type for '{path}': expected {want}, but got {got}."
    elif what.startswith(("Invalid value", "Invalid enum value")):
        # The offending value is not echoed: errors never repeat client content.
        message = f"Invalid value for '{path}': not one of the supported values."
    else:
        message = f"Invalid value for '{path}': {what}."
    return InvalidRequestError(message, param=path, code="invalid_type")


def validate_request(req: ChatCompletionRequest) -> None:
    """Checks msgspec cannot express: ranges, counts, lengths, names (OpenAI's limits)."""
    if not req.model:
        raise InvalidRequestError("You must provide a model parameter.", param="model")
    if not req.messages:
        raise InvalidRequestError("'messages' must contain at least one message.", param="messages")
    _check_range(req.temperature, "temperature", 0.0, 2.0)
    _check_range(req.top_p, "top_p", 0.0, 1.0)
    _check_range(req.frequency_penalty, "frequency_penalty", -2.0, 2.0)
    _check_range(req.presence_penalty, "presence_penalty", -2.0, 2.0)
    _check_range(req.top_logprobs, "top_logprobs", 0, 20)
    _check_at_least_one(req.n, "n")
    _check_at_least_one(req.max_tokens, "max_tokens")
    _check_at_least_one(req.max_completion_tokens, "max_completion_tokens")
    if isinstance(req.stop, list) and len(req.stop) > MAX_STOP:
        raise InvalidRequestError(
            f"'stop' accepts at most {MAX_STOP} sequences, got {len(req.stop)}.", param="stop"
        )
    if req.metadata is not None:
        _check_metadata(req.metadata)
    _check_tools(req)
    _check_messages(req)


def _check_range(value: float | None, param: str, low: float, high: float) -> None:
    # Written as "not inside" so that a NaN, should one ever arrive, is refused too.
    if value is not None and not low <= value <= high:
        raise InvalidRequestError(
            f"Invalid '{param}': must be between {low:g} and {high:g}, got {value:g}.",
            param=param,
            code="invalid_value",
        )


def _check_at_least_one(value: int | None, param: str) -> None:
    if value is not None and value < 1:
        raise InvalidRequestError(
            f"Invalid '{param}': must be at least 1, got {value}.",
            param=param,
            code="invalid_value",
        )


def _check_metadata(metadata: dict[str, str]) -> None:
    if len(metadata) > MAX_METADATA_PAIRS:
        raise InvalidRequestError(
            f"'metadata' accepts at most {MAX_METADATA_PAIRS} key-value pairs.", param="metadata"
        )
    for key, value in metadata.items():
        if len(key) > MAX_METADATA_KEY or len(value) > MAX_METADATA_VALUE:
            raise InvalidRequestError(
                f"'metadata' keys are limited to {MAX_METADATA_KEY} characters and values to "
                f"{MAX_METADATA_VALUE} characters.",
                param="metadata",
            )


def _check_name(name: str, param: str) -> None:
    if _TOOL_NAME.fullmatch(name) is None:
        raise InvalidRequestError(
            f"Invalid '{param}': tool names must be 1-64 characters of a-z, A-Z, 0-9, "
            "underscores and dashes.",
            param=param,
            code="invalid_value",
        )


def _check_tools(req: ChatCompletionRequest) -> None:
    for i, tool in enumerate(req.tools or ()):
        if isinstance(tool, CustomTool):
            _check_name(tool.custom.name, f"tools[{i}].custom.name")
        else:
            _check_name(tool.function.name, f"tools[{i}].function.name")
    for i, function in enumerate(req.functions or ()):
        _check_name(function.name, f"functions[{i}].name")
    if isinstance(req.tool_choice, FunctionChoice):
        _check_name(req.tool_choice.function.name, "tool_choice.function.name")
    if isinstance(req.function_call, NamedFunction):
        _check_name(req.function_call.name, "function_call.name")


def _check_messages(req: ChatCompletionRequest) -> None:
    for i, message in enumerate(req.messages):
        if isinstance(message, ToolMessage):
            if not message.tool_call_id:
                raise InvalidRequestError(
                    f"Invalid 'messages[{i}].tool_call_id': a tool message must name the tool "
                    "call it answers.",
                    param=f"messages[{i}].tool_call_id",
                )
        elif isinstance(message, AssistantMessage):
            _check_tool_calls(message.tool_calls or (), i)
            if message.function_call is not None:
                _check_name(message.function_call.name, f"messages[{i}].function_call.name")


def _check_tool_calls(calls: Sequence[ToolCallParam], i: int) -> None:
    for j, call in enumerate(calls):
        if isinstance(call, FunctionToolCall):
            if not call.id:
                raise InvalidRequestError(
                    f"Invalid 'messages[{i}].tool_calls[{j}].id': tool call ids must not be empty.",
                    param=f"messages[{i}].tool_calls[{j}].id",
                )
            _check_name(call.function.name, f"messages[{i}].tool_calls[{j}].function.name")
