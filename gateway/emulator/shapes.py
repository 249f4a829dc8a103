"""Wire shapes the emulator reads (Converse / ApplyGuardrail requests) and its error table."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

# Error shape name -> HTTP status, from the service model (protocols §4.1).
ERROR_STATUS: dict[str, int] = {
    "ValidationException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ModelTimeoutException": 408,
    "ModelErrorException": 424,
    "ModelStreamErrorException": 424,
    "ThrottlingException": 429,
    "ModelNotReadyException": 429,
    "ServiceQuotaExceededException": 400,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
    "ConflictException": 400,
}

# Exception members of ConverseStreamOutput (lower camel case) -> their shape names.
STREAM_EXCEPTIONS: dict[str, str] = {
    "internalServerException": "InternalServerException",
    "modelStreamErrorException": "ModelStreamErrorException",
    "validationException": "ValidationException",
    "throttlingException": "ThrottlingException",
    "serviceUnavailableException": "ServiceUnavailableException",
}

STOP_REASONS = frozenset(
    {
        "end_turn",
        "tool_use",
        "max_tokens",
        "stop_sequence",
        "guardrail_intervened",
        "content_filtered",
        "malformed_model_output",
        "malformed_tool_use",
        "model_context_window_exceeded",
    }
)


class ToolResult(msgspec.Struct):
    toolUseId: str = ""
    content: list[dict[str, Any]] = []


class GuardText(msgspec.Struct):
    text: str = ""


class GuardContent(msgspec.Struct):
    text: GuardText | None = None


class ContentBlock(msgspec.Struct):
    """One content block; members the emulator never reads are skipped by the decoder."""

    text: str | None = None
    toolUse: dict[str, Any] | None = None
    toolResult: ToolResult | None = None
    guardContent: GuardContent | None = None


class Message(msgspec.Struct):
    role: str
    content: list[ContentBlock]


class SystemBlock(msgspec.Struct):
    text: str | None = None
    guardContent: GuardContent | None = None


class InferenceConfig(msgspec.Struct):
    maxTokens: int | None = None
    stopSequences: list[str] = []


class InputSchema(msgspec.Struct):
    json: Any = None


class ToolSpec(msgspec.Struct):
    name: str
    inputSchema: InputSchema = msgspec.field(default_factory=InputSchema)


class Tool(msgspec.Struct):
    toolSpec: ToolSpec | None = None


class SpecificTool(msgspec.Struct):
    name: str


class ToolChoice(msgspec.Struct):
    tool: SpecificTool | None = None


class ToolConfig(msgspec.Struct):
    tools: list[Tool]
    toolChoice: ToolChoice | None = None


class GuardrailConfig(msgspec.Struct):
    guardrailIdentifier: str = ""
    guardrailVersion: str = ""
    trace: str | None = None


class ConverseRequest(msgspec.Struct):
    messages: list[Message]
    system: list[SystemBlock] = []
    inferenceConfig: InferenceConfig | None = None
    toolConfig: ToolConfig | None = None
    guardrailConfig: GuardrailConfig | None = None


class GuardrailTextBlock(msgspec.Struct):
    text: str


class GuardrailContentBlock(msgspec.Struct):
    text: GuardrailTextBlock | None = None


class ApplyGuardrailRequest(msgspec.Struct):
    source: Literal["INPUT", "OUTPUT"]
    content: list[GuardrailContentBlock]


converse_decoder = msgspec.json.Decoder(ConverseRequest)
apply_guardrail_decoder = msgspec.json.Decoder(ApplyGuardrailRequest)
