"""OpenAI ``messages`` -> Converse ``system`` blocks and alternating ``messages`` (protocols §6.1).

Decisions (protocols [R] rows, plus the gaps they leave):
- system/developer messages become ``system`` text blocks wherever they appear.
- Same-role neighbours are merged; tool (and deprecated function) replies become ``toolResult``
  blocks of a user turn, placed before any other content of that turn.
- Tool calls must be answered in the next user turn and answers must match a call of the
  previous assistant turn, as OpenAI itself requires; otherwise 400 naming the message.
- Tool-call ids are rewritten (deterministically, consistently for call and answer) when they
  break Converse's ``[a-zA-Z0-9_.:-]{1,64}`` or repeat an id of an earlier turn.
- Blank text is dropped. An assistant message left empty is skipped; a user message left empty
  is a 400; an empty tool reply is sent as "(no output)" so agent loops keep working.
- A history that starts with the assistant (a UI greeting) gets a one-line user turn in front,
  because Converse must start with the user; a history of only system messages is a 400.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from gateway.bedrock.translate_media import DocumentNamer, document_block, image_block
from gateway.bedrock.translate_tool_ids import ToolCalls
from gateway.errors import InvalidRequestError
from gateway.openai.types import (
    AssistantMessage,
    AssistantPart,
    CustomToolCall,
    DeveloperMessage,
    FilePart,
    ImagePart,
    Message,
    RefusalPart,
    SystemMessage,
    TextPart,
    ToolMessage,
    UserMessage,
    UserPart,
)

CONTINUES_TEXT = "(conversation continues)"
EMPTY_TOOL_OUTPUT = "(no output)"
DOCUMENT_TEXT = "See the attached document."
MAX_IMAGES_PER_MESSAGE = 20
MAX_DOCUMENTS_PER_MESSAGE = 5


@dataclass(frozen=True, slots=True)
class Conversation:
    system: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    tool_names: tuple[str, ...]  # names of toolUse blocks in the history, first use first
    has_tool_blocks: bool
    ends_with_tool_results: bool


@dataclass(slots=True)
class _Turn:
    role: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    images: int = 0
    documents: int = 0


def _texts(content: str | Sequence[TextPart] | None) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content.strip() else []
    return [{"text": part.text} for part in content if part.text.strip()]


def translate_messages(
    messages: Sequence[Message], *, allow_remote_images: bool = False
) -> Conversation:
    system: list[dict[str, Any]] = []
    turns: list[_Turn] = []
    calls = ToolCalls()
    namer = DocumentNamer()
    for i, message in enumerate(messages):
        if isinstance(message, SystemMessage | DeveloperMessage):
            system.extend(_texts(message.content))
        elif isinstance(message, UserMessage):
            turn = _turn(turns, "user")
            before = len(turn.blocks)
            _add_user_content(turn, message.content, i, allow_remote_images, namer)
            if len(turn.blocks) == before:
                raise InvalidRequestError(
                    f"Invalid 'messages[{i}].content': a user message must not be empty.",
                    param=f"messages[{i}].content",
                )
        elif isinstance(message, AssistantMessage):
            _add_assistant(turns, message, i, calls)
        elif isinstance(message, ToolMessage):
            use_id = calls.answer(message.tool_call_id, f"messages[{i}].tool_call_id")
            _turn(turns, "user").results.append(_result(use_id, _texts(message.content)))
        else:
            use_id = calls.answer_function(message.name, f"messages[{i}].name")
            _turn(turns, "user").results.append(_result(use_id, _texts(message.content)))
    calls.new_turn()  # every call of the last assistant turn must have been answered
    if not turns:
        raise InvalidRequestError(
            "'messages' must contain at least one user, assistant or tool message; "
            "system and developer messages alone cannot start a conversation.",
            param="messages",
        )
    if turns[0].role == "assistant":
        turns.insert(0, _Turn(role="user", blocks=[{"text": CONTINUES_TEXT}]))
    return _finish(system, turns, calls)


def _turn(turns: list[_Turn], role: str) -> _Turn:
    if turns and turns[-1].role == role:
        return turns[-1]
    turn = _Turn(role=role)
    turns.append(turn)
    return turn


def _result(use_id: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "toolResult": {"toolUseId": use_id, "content": content or [{"text": EMPTY_TOOL_OUTPUT}]}
    }


def _add_user_content(
    turn: _Turn,
    content: str | Sequence[UserPart],
    i: int,
    allow_remote_images: bool,
    namer: DocumentNamer,
) -> None:
    if isinstance(content, str):
        turn.blocks.extend(_texts(content))
        return
    for j, part in enumerate(content):
        param = f"messages[{i}].content[{j}]"
        if isinstance(part, TextPart):
            if part.text.strip():
                turn.blocks.append({"text": part.text})
        elif isinstance(part, ImagePart):
            turn.images += 1
            if turn.images > MAX_IMAGES_PER_MESSAGE:
                raise InvalidRequestError(
                    f"At most {MAX_IMAGES_PER_MESSAGE} images fit in one Bedrock message "
                    "(consecutive user messages are merged into one).",
                    param=param,
                )
            turn.blocks.append(
                image_block(
                    part.image_url.url,
                    param=f"{param}.image_url.url",
                    allow_remote=allow_remote_images,
                )
            )
        elif isinstance(part, FilePart):
            turn.documents += 1
            turn.blocks.append(_document(part, param, namer, turn.documents))
        else:
            raise InvalidRequestError(
                "input_audio content parts are not supported by this gateway.",
                param=param,
                code="unsupported_content",
            )


def _document(part: FilePart, param: str, namer: DocumentNamer, count: int) -> dict[str, Any]:
    if count > MAX_DOCUMENTS_PER_MESSAGE:
        raise InvalidRequestError(
            f"At most {MAX_DOCUMENTS_PER_MESSAGE} files fit in one Bedrock message "
            "(consecutive user messages are merged into one).",
            param=param,
        )
    if part.file.file_id is not None:
        raise InvalidRequestError(
            "file_id references are not supported; send the file inline as file_data.",
            param=f"{param}.file.file_id",
            code="unsupported_content",
        )
    if not part.file.file_data:
        raise InvalidRequestError(
            "A file content part must carry file_data.", param=f"{param}.file.file_data"
        )
    return document_block(
        part.file.file_data, part.file.filename, param=f"{param}.file.file_data", namer=namer
    )


def _assistant_text(content: str | Sequence[AssistantPart] | None) -> list[dict[str, Any]]:
    if content is None or isinstance(content, str):
        return _texts(content)
    texts = (part.refusal if isinstance(part, RefusalPart) else part.text for part in content)
    return [{"text": text} for text in texts if text.strip()]


def _add_assistant(turns: list[_Turn], message: AssistantMessage, i: int, calls: ToolCalls) -> None:
    blocks = _assistant_text(message.content)
    if message.refusal and message.refusal.strip():
        blocks.append({"text": message.refusal})
    tool_calls = message.tool_calls or []
    if not blocks and not tool_calls and message.function_call is None:
        return  # nothing to say (null content, no calls): Converse has no empty turns
    if not turns or turns[-1].role != "assistant":
        calls.new_turn()
    turn = _turn(turns, "assistant")
    turn.blocks.extend(blocks)
    for j, call in enumerate(tool_calls):
        param = f"messages[{i}].tool_calls[{j}]"
        if isinstance(call, CustomToolCall):
            raise InvalidRequestError(
                "Custom tool calls are not supported by this gateway.",
                param=param,
                code="unsupported_content",
            )
        arguments = _arguments(call.function.arguments, f"{param}.function.arguments")
        use_id = calls.call(call.id, call.function.name, param)
        turn.blocks.append(
            {"toolUse": {"toolUseId": use_id, "name": call.function.name, "input": arguments}}
        )
    if message.function_call is not None:
        name = message.function_call.name
        arguments = _arguments(message.function_call.arguments, f"messages[{i}].function_call")
        use_id = calls.function_call(name, i)
        turn.blocks.append({"toolUse": {"toolUseId": use_id, "name": name, "input": arguments}})


def _arguments(arguments: str, param: str) -> dict[str, Any]:
    if not arguments.strip():
        return {}
    try:
        value = msgspec.json.decode(arguments)
    except msgspec.DecodeError as exc:
        raise InvalidRequestError(
            f"Invalid '{param}': tool call arguments must be a JSON object.", param=param
        ) from exc
    if not isinstance(value, dict):
        raise InvalidRequestError(
            f"Invalid '{param}': tool call arguments must be a JSON object.", param=param
        )
    return value


def _finish(system: list[dict[str, Any]], turns: list[_Turn], calls: ToolCalls) -> Conversation:
    messages: list[dict[str, Any]] = []
    has_tool_blocks = False
    for turn in turns:
        if turn.documents and not any("text" in block for block in turn.blocks):
            # Converse requires a text block beside any document.
            turn.blocks.append({"text": DOCUMENT_TEXT})
        has_tool_blocks = (
            has_tool_blocks
            or bool(turn.results)
            or any("toolUse" in block for block in turn.blocks)
        )
        messages.append({"role": turn.role, "content": [*turn.results, *turn.blocks]})
    last = turns[-1]
    if last.role == "assistant" and "text" in last.blocks[-1]:
        # A trailing assistant turn is a prefill; Anthropic models refuse trailing whitespace.
        last.blocks[-1]["text"] = last.blocks[-1]["text"].rstrip()
    return Conversation(
        system=system,
        messages=messages,
        tool_names=tuple(calls.names),
        has_tool_blocks=has_tool_blocks,
        ends_with_tool_results=last.role == "user" and bool(last.results),
    )
