"""msgspec wire types for OpenAI Chat Completions: the request and the ``chat.completion`` body.

Field lists follow the openai SDK (protocols §5.2-§5.4). Unknown request fields are ignored
so newer clients keep working; unions are tagged on the field OpenAI discriminates on
(``role`` for messages, ``type`` for parts, tools, tool calls and tool choices).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec


class _Wire(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Base for every wire struct; defaults are left off the wire.

    ``omit_defaults`` is inherited but ``kw_only`` applies per class (as with dataclasses),
    so every subclass repeats it.
    """


# --- content parts -------------------------------------------------------------------------


class TextPart(_Wire, kw_only=True, tag_field="type", tag="text"):
    text: str


class RefusalPart(_Wire, kw_only=True, tag_field="type", tag="refusal"):
    refusal: str


class ImageURL(_Wire, kw_only=True):
    url: str
    # auto | low | high | original; ignored by the translation, so kept open for new values.
    detail: str | None = None


class ImagePart(_Wire, kw_only=True, tag_field="type", tag="image_url"):
    image_url: ImageURL


class InputAudio(_Wire, kw_only=True):
    data: str
    format: str


class InputAudioPart(_Wire, kw_only=True, tag_field="type", tag="input_audio"):
    input_audio: InputAudio


class FileRef(_Wire, kw_only=True):
    file_data: str | None = None
    file_id: str | None = None
    filename: str | None = None


class FilePart(_Wire, kw_only=True, tag_field="type", tag="file"):
    file: FileRef


UserPart = TextPart | ImagePart | InputAudioPart | FilePart
AssistantPart = TextPart | RefusalPart


# --- tool calls inside assistant messages --------------------------------------------------


class FunctionCall(_Wire, kw_only=True):
    """``{name, arguments}``: a tool call's function, also the deprecated ``function_call``."""

    name: str
    arguments: str


class FunctionToolCall(_Wire, kw_only=True, tag_field="type", tag="function"):
    id: str
    function: FunctionCall


class CustomCall(_Wire, kw_only=True):
    name: str
    input: str


class CustomToolCall(_Wire, kw_only=True, tag_field="type", tag="custom"):
    id: str
    custom: CustomCall


ToolCallParam = FunctionToolCall | CustomToolCall


# --- messages ------------------------------------------------------------------------------


class SystemMessage(_Wire, kw_only=True, tag_field="role", tag="system"):
    content: str | list[TextPart]
    name: str | None = None


class DeveloperMessage(_Wire, kw_only=True, tag_field="role", tag="developer"):
    content: str | list[TextPart]
    name: str | None = None


class UserMessage(_Wire, kw_only=True, tag_field="role", tag="user"):
    content: str | list[UserPart]
    name: str | None = None


class AssistantAudioRef(_Wire, kw_only=True):
    id: str


class AssistantMessage(_Wire, kw_only=True, tag_field="role", tag="assistant"):
    content: str | list[AssistantPart] | None = None
    refusal: str | None = None
    tool_calls: list[ToolCallParam] | None = None
    function_call: FunctionCall | None = None
    name: str | None = None
    audio: AssistantAudioRef | None = None


class ToolMessage(_Wire, kw_only=True, tag_field="role", tag="tool"):
    content: str | list[TextPart]
    tool_call_id: str


class FunctionMessage(_Wire, kw_only=True, tag_field="role", tag="function"):
    """Deprecated reply to a ``function_call``; matched to it by ``name``."""

    content: str | None
    name: str


Message = (
    SystemMessage
    | DeveloperMessage
    | UserMessage
    | AssistantMessage
    | ToolMessage
    | FunctionMessage
)


# --- tools and tool choice -----------------------------------------------------------------


class FunctionDefinition(_Wire, kw_only=True):
    """A function tool; also an entry of the deprecated ``functions`` list."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionTool(_Wire, kw_only=True, tag_field="type", tag="function"):
    function: FunctionDefinition


class CustomToolDefinition(_Wire, kw_only=True):
    name: str
    description: str | None = None
    format: dict[str, Any] | None = None


class CustomTool(_Wire, kw_only=True, tag_field="type", tag="custom"):
    custom: CustomToolDefinition


Tool = FunctionTool | CustomTool


class NamedFunction(_Wire, kw_only=True):
    name: str


class FunctionChoice(_Wire, kw_only=True, tag_field="type", tag="function"):
    function: NamedFunction


class CustomChoice(_Wire, kw_only=True, tag_field="type", tag="custom"):
    custom: NamedFunction


class AllowedTools(_Wire, kw_only=True):
    mode: Literal["auto", "required"]
    # Entries are tool definitions such as {"type": "function", "function": {"name": ...}}.
    tools: list[dict[str, Any]]


class AllowedToolsChoice(_Wire, kw_only=True, tag_field="type", tag="allowed_tools"):
    allowed_tools: AllowedTools


ToolChoice = (
    Literal["none", "auto", "required"] | FunctionChoice | CustomChoice | AllowedToolsChoice
)
# Deprecated ``function_call``: "none" | "auto" | {"name": ...}.
FunctionCallChoice = Literal["none", "auto"] | NamedFunction


# --- response_format and the other structured parameters -----------------------------------


class TextFormat(_Wire, kw_only=True, tag_field="type", tag="text"):
    pass


class JSONObjectFormat(_Wire, kw_only=True, tag_field="type", tag="json_object"):
    pass


class JSONSchema(_Wire, kw_only=True):
    name: str
    description: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool | None = None


class JSONSchemaFormat(_Wire, kw_only=True, tag_field="type", tag="json_schema"):
    json_schema: JSONSchema


ResponseFormat = TextFormat | JSONObjectFormat | JSONSchemaFormat


class StreamOptions(_Wire, kw_only=True):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None


class AudioOutput(_Wire, kw_only=True):
    format: str
    voice: str | dict[str, Any]


class Prediction(_Wire, kw_only=True):
    type: Literal["content"] = "content"
    content: str | list[TextPart]


ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
ServiceTier = Literal["auto", "default", "flex", "scale", "priority", "fast"]


class ChatCompletionRequest(_Wire, kw_only=True):
    """``POST /v1/chat/completions`` body; every parameter of protocols §5.2."""

    model: str
    messages: list[Message]
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    n: int | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: ReasoningEffort | None = None
    seed: int | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    prompt_cache_options: dict[str, Any] | None = None
    prompt_cache_retention: str | None = None
    metadata: dict[str, str] | None = None
    audio: AudioOutput | None = None
    modalities: list[Literal["text", "audio"]] | None = None
    prediction: Prediction | None = None
    service_tier: ServiceTier | None = None
    store: bool | None = None
    verbosity: Literal["low", "medium", "high"] | None = None
    web_search_options: dict[str, Any] | None = None
    moderation: dict[str, Any] | None = None
    functions: list[FunctionDefinition] | None = None
    function_call: FunctionCallChoice | None = None


# --- the non-streaming response (protocols §5.4) -------------------------------------------
# Fields without defaults are always written, which is how ``content``, ``refusal``,
# ``logprobs`` and ``system_fingerprint`` reach the client as explicit nulls. The constant
# members ``object``, ``role`` and ``type`` are msgspec tags: always written, and no Python
# attribute has to shadow a builtin (so no msgspec.field(name=...) renames are needed).


class ToolCallFunction(_Wire, kw_only=True):
    name: str
    arguments: str


class ToolCall(_Wire, kw_only=True, tag_field="type", tag="function"):
    id: str
    function: ToolCallFunction


class ResponseMessage(_Wire, kw_only=True, tag_field="role", tag="assistant"):
    content: str | None
    refusal: str | None
    tool_calls: list[ToolCall] | None = None


class Choice(_Wire, kw_only=True):
    index: int
    message: ResponseMessage
    # stop | length | tool_calls | content_filter, from gateway.bedrock.mapping.finish_reason.
    finish_reason: str
    logprobs: None


class PromptTokensDetails(_Wire, kw_only=True):
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None
    audio_tokens: int | None = None


class CompletionTokensDetails(_Wire, kw_only=True):
    reasoning_tokens: int | None = None
    audio_tokens: int | None = None
    accepted_prediction_tokens: int | None = None
    rejected_prediction_tokens: int | None = None


class Usage(_Wire, kw_only=True):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None


class ChatCompletion(_Wire, kw_only=True, tag_field="object", tag="chat.completion"):
    id: str
    created: int
    model: str
    choices: list[Choice]
    usage: Usage | None = None
    system_fingerprint: str | None
    service_tier: str | None = None
