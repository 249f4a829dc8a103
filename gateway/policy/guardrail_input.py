"""Which texts of a Converse request a guardrail evaluates, and putting masked texts back.

Works on the boto3-shaped ``ConverseCall.body`` (``messages``/``system`` lists of blocks).
Nothing here mutates its input: changed messages and blocks are copied, the rest shared.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from gateway.policy.model import GuardScope

SYSTEM = -1  # Slot.message for a system block
PLAIN = -1  # Slot.item for a text block (not an item of a toolResult)


class Slot(NamedTuple):
    """Where one guarded text sits: message index (or SYSTEM), block, toolResult item."""

    message: int
    block: int
    item: int
    text: str


def latest_user_index(messages: Sequence[dict[str, Any]]) -> int | None:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            return i
    return None


def _message_slots(index: int, message: dict[str, Any]) -> list[Slot]:
    slots: list[Slot] = []
    for b, block in enumerate(message.get("content", ())):
        text = block.get("text")
        if isinstance(text, str):
            if text:
                slots.append(Slot(index, b, PLAIN, text))
            continue
        result = block.get("toolResult")
        if isinstance(result, dict):
            for k, item in enumerate(result.get("content", ())):
                text = item.get("text")
                if isinstance(text, str) and text:
                    slots.append(Slot(index, b, k, text))
    return slots


def guarded_slots(body: dict[str, Any], scope: GuardScope) -> list[Slot]:
    """The texts an ApplyGuardrail INPUT check covers.

    ``latest_user``: the text blocks and tool-result texts of the latest user message (in a
    tool loop the tool results are that turn's new input). ``all``: every system text and
    every user message's texts; assistant turns are earlier model output, already checked.
    """
    messages: list[dict[str, Any]] = body.get("messages", [])
    if scope == GuardScope.LATEST_USER:
        index = latest_user_index(messages)
        return [] if index is None else _message_slots(index, messages[index])
    slots = [
        Slot(SYSTEM, b, PLAIN, block["text"])
        for b, block in enumerate(body.get("system", ()))
        if isinstance(block.get("text"), str) and block["text"]
    ]
    for m, message in enumerate(messages):
        if message.get("role") == "user":
            slots.extend(_message_slots(m, message))
    return slots


def _replace_in_block(block: dict[str, Any], item: int, text: str) -> dict[str, Any]:
    if item == PLAIN:
        return {**block, "text": text}
    result = block["toolResult"]
    content = list(result["content"])
    content[item] = {**content[item], "text": text}
    return {**block, "toolResult": {**result, "content": content}}


def replace_texts(
    body: dict[str, Any], slots: Sequence[Slot], texts: Sequence[str]
) -> dict[str, Any]:
    """A copy of ``body`` with each slot's text replaced by the matching one of ``texts``."""
    if len(slots) != len(texts):
        raise ValueError("one replacement text per slot")
    out = dict(body)
    messages = list(body.get("messages", ()))
    system = list(body.get("system", ()))
    copied: set[int] = set()
    for slot, text in zip(slots, texts, strict=True):
        if slot.text == text:
            continue
        if slot.message == SYSTEM:
            system[slot.block] = _replace_in_block(system[slot.block], slot.item, text)
            out["system"] = system
            continue
        if slot.message not in copied:
            original = messages[slot.message]
            messages[slot.message] = {**original, "content": list(original["content"])}
            copied.add(slot.message)
        content = messages[slot.message]["content"]
        content[slot.block] = _replace_in_block(content[slot.block], slot.item, text)
        out["messages"] = messages
    return out


def wrap_latest_user(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``messages`` with the latest user message's text blocks turned into ``guardContent``.

    With guardContent present, an inline guardrail evaluates only those blocks. Unchanged
    (so the whole conversation is evaluated, Bedrock's default) when that message has no
    text block (a tool-result turn), or holds a document: Converse wants a plain text block
    beside a document, and whether a guardContent block satisfies that is not documented.
    """
    index = latest_user_index(messages)
    if index is None:
        return messages
    message = messages[index]
    content: list[dict[str, Any]] = message.get("content", [])
    if any("document" in block for block in content):
        return messages
    if not any(isinstance(block.get("text"), str) for block in content):
        return messages
    wrapped = [
        {"guardContent": {"text": {"text": block["text"]}}}
        if isinstance(block.get("text"), str)
        else block
        for block in content
    ]
    return [*messages[:index], {**message, "content": wrapped}, *messages[index + 1 :]]
