"""OpenAI ``tools``/``tool_choice`` (and deprecated ``functions``/``function_call``) -> toolConfig.

Converse has no "none" choice and insists on a ``toolConfig`` whenever the history holds tool
blocks, so: "none" drops the tools unless the history needs them (then "auto", as "none" cannot
be enforced); with tool history and no tools, minimal specs are made from the names used.
"auto" is sent by leaving ``toolChoice`` out (its default), because some Bedrock models refuse
an explicit ``toolChoice`` while accepting tools.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.errors import InvalidRequestError
from gateway.openai.types import (
    AllowedToolsChoice,
    ChatCompletionRequest,
    CustomChoice,
    CustomTool,
    FunctionChoice,
    FunctionDefinition,
    NamedFunction,
)

EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


def tool_config(
    req: ChatCompletionRequest, *, history_tools: Sequence[str] | None, thinking: bool
) -> dict[str, Any] | None:
    """The Converse ``toolConfig``; ``history_tools``: toolUse names when history has tool blocks.

    translate_messages guarantees that tool history always names at least one tool.
    """
    definitions = _definitions(req)
    mode, only = _choice(req)
    if mode == "none" or not definitions:
        if mode != "none" and (mode != "auto" or only is not None):
            which = "tool_choice" if req.tool_choice is not None else "function_call"
            raise InvalidRequestError(f"'{which}' requires tools to be specified.", param=which)
        if history_tools is None:
            return None
        if definitions:
            return {"tools": [_spec(d, prefix) for d, prefix in definitions]}
        return {"tools": [_history_spec(name) for name in history_tools]}
    specs: dict[str, dict[str, Any]] = {}
    for definition, prefix in definitions:
        if definition.name in specs:
            raise InvalidRequestError("Tool names must be unique.", param=f"{prefix}.name")
        specs[definition.name] = _spec(definition, prefix)
    if only is not None:
        if any(name not in specs for name in only):
            raise InvalidRequestError(
                "'tool_choice' names a tool that is not in 'tools'.", param=_choice_param(req)
            )
        if mode != "tool":  # allowed_tools restricts the list; a named choice picks from it
            specs = {name: spec for name, spec in specs.items() if name in only}
    if thinking and mode in ("any", "tool"):
        raise InvalidRequestError(
            "Forcing a tool call is not possible with reasoning_effort on this model; "
            "use tool_choice 'auto' or drop reasoning_effort.",
            param="tool_choice",
        )
    config: dict[str, Any] = {"tools": list(specs.values())}
    if mode == "any":
        config["toolChoice"] = {"any": {}}
    elif mode == "tool" and only is not None:
        config["toolChoice"] = {"tool": {"name": only[0]}}
    return config


def _definitions(req: ChatCompletionRequest) -> list[tuple[FunctionDefinition, str]]:
    """Function definitions, each with the OpenAI path it came from (for error params)."""
    if req.tools and req.functions:
        raise InvalidRequestError(
            "Send either 'tools' or the deprecated 'functions', not both.", param="functions"
        )
    if req.functions:
        return [(d, f"functions[{k}]") for k, d in enumerate(req.functions)]
    definitions: list[tuple[FunctionDefinition, str]] = []
    for k, tool in enumerate(req.tools or ()):
        if isinstance(tool, CustomTool):
            raise InvalidRequestError(
                "Custom tools are not supported by this gateway; use function tools.",
                param=f"tools[{k}]",
                code="unsupported_parameter",
            )
        definitions.append((tool.function, f"tools[{k}].function"))
    return definitions


def _choice(req: ChatCompletionRequest) -> tuple[str, list[str] | None]:
    """(mode, names): mode is none | auto | any | tool; names picks (tool) or restricts tools."""
    choice = req.tool_choice
    if choice is None:
        # The deprecated function_call applies only when tool_choice is absent.
        legacy = req.function_call
        if isinstance(legacy, NamedFunction):
            return "tool", [legacy.name]
        return (legacy or "auto"), None
    if isinstance(choice, str):
        return {"none": "none", "auto": "auto", "required": "any"}[choice], None
    if isinstance(choice, FunctionChoice):
        return "tool", [choice.function.name]
    if isinstance(choice, CustomChoice):
        raise InvalidRequestError(
            "Custom tools are not supported by this gateway.",
            param="tool_choice",
            code="unsupported_parameter",
        )
    return _allowed(choice)


def _allowed(choice: AllowedToolsChoice) -> tuple[str, list[str]]:
    names: list[str] = []
    for k, entry in enumerate(choice.allowed_tools.tools):
        function = entry.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if entry.get("type", "function") != "function" or not isinstance(name, str):
            raise InvalidRequestError(
                "allowed_tools entries must be function tools with a name.",
                param=f"tool_choice.allowed_tools.tools[{k}]",
            )
        names.append(name)
    if not names:
        raise InvalidRequestError(
            "allowed_tools must list at least one tool.", param="tool_choice.allowed_tools.tools"
        )
    return ("any" if choice.allowed_tools.mode == "required" else "auto"), names


def _choice_param(req: ChatCompletionRequest) -> str:
    if isinstance(req.tool_choice, FunctionChoice):
        return "tool_choice.function.name"
    if isinstance(req.tool_choice, AllowedToolsChoice):
        return "tool_choice.allowed_tools.tools"
    return "function_call.name" if req.tool_choice is None else "tool_choice"


def _spec(definition: FunctionDefinition, prefix: str) -> dict[str, Any]:
    schema = definition.parameters
    if not schema:
        schema = EMPTY_SCHEMA
    elif "type" not in schema:
        schema = {"type": "object", **schema}
    elif schema["type"] != "object":
        raise InvalidRequestError(
            "Tool parameters must be a JSON Schema whose top-level type is 'object'.",
            param=f"{prefix}.parameters",
        )
    spec: dict[str, Any] = {"name": definition.name, "inputSchema": {"json": schema}}
    if definition.description:
        spec["description"] = definition.description
    if definition.strict is not None:
        spec["strict"] = definition.strict
    return {"toolSpec": spec}


def _history_spec(name: str) -> dict[str, Any]:
    return {"toolSpec": {"name": name, "inputSchema": {"json": EMPTY_SCHEMA}}}
