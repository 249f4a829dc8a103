"""Deterministic reply generation: word tokens, stop rules, tool use and usage counts."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import msgspec

from gateway.emulator import directives as emu_directives
from gateway.emulator.directives import Directives
from gateway.emulator.guardrail import GuardrailPolicy, Verdict
from gateway.emulator.shapes import ContentBlock, ConverseRequest, Message
from gateway.emulator.toolinput import synthesise

# The reply's word cycle: 21 distinct words, one token each.
WORDS: tuple[str, ...] = (
    "The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "while",
    "seven", "bright", "zebras", "calmly", "watch", "purple", "kites", "drift", "across",
    "silent", "hills.",
)  # fmt: skip

TOOL_RESULT_PREFIX = "Tool result received: "
TOOL_RESULT_CHARS = 40


@dataclass(frozen=True, slots=True)
class ToolCall:
    tool_use_id: str
    name: str
    input: dict[str, Any]
    input_json: str  # compact JSON of ``input``, what the stream's deltas concatenate to


class Plan(NamedTuple):
    """Everything a reply consists of, decided before a byte is sent.

    A NamedTuple rather than a frozen dataclass: one is built per request, and this is cheaper.
    """

    pieces: tuple[str, ...]  # text deltas; "".join(pieces) is the reply text
    tool: ToolCall | None
    stop_reason: str
    input_tokens: int
    output_tokens: int
    verdict: Verdict | None = None  # set when the guardrail intervened
    model_output: str = ""  # the text the guardrail replaced, for its trace


def words(n: int) -> list[str]:
    """The first ``n`` tokens of the word cycle."""
    full, rest = divmod(n, len(WORDS))
    return list(WORDS) * full + list(WORDS[:rest])


def tokenise(text: str) -> list[str]:
    """Split on single spaces so that joining with spaces gives ``text`` back exactly."""
    return text.split(" ") if text else []


def pieces(tokens: Sequence[str]) -> tuple[str, ...]:
    """Stream deltas for ``tokens``: the first as is, the others with a leading space."""
    return tuple(tok if i == 0 else " " + tok for i, tok in enumerate(tokens))


@lru_cache(maxsize=256)
def word_pieces(n: int) -> tuple[str, ...]:
    """``pieces(words(n))``, cached: most replies are the plain word cycle."""
    return pieces(words(n))


def cut_at_stop(parts: tuple[str, ...], stops: Sequence[str]) -> tuple[tuple[str, ...], bool]:
    """Cut the reply before the earliest occurrence of any stop sequence; True if one occurred."""
    if not stops:
        return parts, False
    text = "".join(parts)
    found = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    if not found:
        return parts, False
    cut = min(found)
    out: list[str] = []
    used = 0
    for part in parts:
        if used + len(part) <= cut:
            out.append(part)
            used += len(part)
            continue
        if cut > used:
            out.append(part[: cut - used])
        break
    return tuple(out), True


def _guarded(block: ContentBlock) -> str | None:
    """The text of a ``guardContent`` block: model input like any other text."""
    guard = block.guardContent
    return guard.text.text if guard is not None and guard.text is not None else None


def _texts(blocks: Sequence[ContentBlock]) -> Iterator[str]:
    for block in blocks:
        if block.text is not None:
            yield block.text
        elif (guarded := _guarded(block)) is not None:
            yield guarded
        elif block.toolResult is not None:
            for item in block.toolResult.content:
                text = item.get("text")
                if isinstance(text, str):
                    yield text


def prompt_texts(request: ConverseRequest) -> Iterator[str]:
    """Every text the prompt holds: system, message, guardContent and tool-result texts."""
    for sys_block in request.system:
        if sys_block.text is not None:
            yield sys_block.text
        elif sys_block.guardContent is not None and sys_block.guardContent.text is not None:
            yield sys_block.guardContent.text.text
    for message in request.messages:
        yield from _texts(message.content)


def count_input_tokens(texts: Iterator[str], has_directives: bool) -> int:
    """ceil(characters / 4), at least 1; directives are not part of the prompt."""
    if has_directives:
        chars = sum(emu_directives.visible_length(t) for t in texts)
    else:
        chars = sum(len(t) for t in texts)
    return max(1, -(-chars // 4))


def last_user(request: ConverseRequest) -> Message | None:
    for message in reversed(request.messages):
        if message.role == "user":
            return message
    return None


def directive_texts(request: ConverseRequest) -> Iterator[str]:
    """Where directives may appear: system text blocks and the last user message's text blocks."""
    for sys_block in request.system:
        if sys_block.text is not None:
            yield sys_block.text
    user = last_user(request)
    if user is not None:
        # An inline guardrail's latest_user scope wraps the turn's text in guardContent.
        for block in user.content:
            text = block.text if block.text is not None else _guarded(block)
            if text is not None:
                yield text


def guarded_texts(request: ConverseRequest, has_directives: bool) -> list[str]:
    """What an inline guardrail checks: guardContent blocks if any are present, else all text."""
    guard: list[str] = []
    for sys_block in request.system:
        if sys_block.guardContent is not None and sys_block.guardContent.text is not None:
            guard.append(sys_block.guardContent.text.text)
    for message in request.messages:
        for block in message.content:
            if block.guardContent is not None and block.guardContent.text is not None:
                guard.append(block.guardContent.text.text)
    texts = guard or list(prompt_texts(request))
    if has_directives:
        return [emu_directives.strip(t) for t in texts]
    return texts


def _tool_result_text(message: Message) -> str | None:
    for block in message.content:
        if block.toolResult is None:
            continue
        for item in block.toolResult.content:
            if isinstance(item.get("text"), str):
                return str(item["text"])
            if "json" in item:
                return msgspec.json.encode(item["json"]).decode()
        return ""
    return None


def _tool_call(request: ConverseRequest, input_tokens: int) -> ToolCall | None:
    config = request.toolConfig
    if config is None:
        return None
    specs = [t.toolSpec for t in config.tools if t.toolSpec is not None]
    if not specs:
        return None
    spec = specs[0]
    if config.toolChoice is not None and config.toolChoice.tool is not None:
        wanted = config.toolChoice.tool.name
        spec = next((s for s in specs if s.name == wanted), spec)
    tool_input = synthesise(spec.inputSchema.json)
    seed = f"{spec.name}:{len(request.messages)}:{input_tokens}".encode()
    tool_use_id = "tooluse_" + hashlib.blake2b(seed, digest_size=11).hexdigest()
    return ToolCall(tool_use_id, spec.name, tool_input, msgspec.json.encode(tool_input).decode())


def plan(
    request: ConverseRequest,
    knobs: Directives,
    default_tokens: int,
    policy: GuardrailPolicy,
    has_directives: bool,
) -> Plan:
    """Decide the reply to ``request`` from its content, its directives and the defaults."""
    input_tokens = count_input_tokens(prompt_texts(request), has_directives)
    guarded = request.guardrailConfig is not None and policy.active
    if guarded:
        verdict = policy.evaluate("INPUT", guarded_texts(request, has_directives))
        # Only a block changes the reply: the emulated model never echoes its prompt, so
        # anonymising the input would leave nothing visible.
        if verdict.blocked:
            parts = pieces(tokenise(policy.blocked_input_message))
            reason = knobs.stop_reason or "guardrail_intervened"
            return Plan(parts, None, reason, input_tokens, len(parts), verdict)

    user = last_user(request)
    result_text = _tool_result_text(user) if user is not None else None
    if result_text is None and not knobs.no_tool:
        call = _tool_call(request, input_tokens)
        if call is not None:
            out_tokens = max(1, -(-len(call.input_json) // 4))
            return Plan((), call, knobs.stop_reason or "tool_use", input_tokens, out_tokens)

    n = default_tokens if knobs.tokens is None else knobs.tokens
    if knobs.reply is not None:
        parts = pieces(tokenise(knobs.reply))
    elif result_text is not None:
        tokens = tokenise(TOOL_RESULT_PREFIX + result_text[:TOOL_RESULT_CHARS])
        parts = pieces(tokens + words(max(0, n - len(tokens))))
    else:
        parts = word_pieces(n)
    config = request.inferenceConfig
    limit = config.maxTokens if config is not None else None
    truncated = limit is not None and len(parts) > limit
    if truncated:
        parts = parts[:limit]
    parts, stopped = cut_at_stop(parts, config.stopSequences if config else ())
    reason = "stop_sequence" if stopped else "max_tokens" if truncated else "end_turn"

    if guarded:
        text = "".join(parts)
        verdict = policy.evaluate("OUTPUT", (text,))
        if verdict.blocked:
            blocked = pieces(tokenise(policy.blocked_output_message))
            reason = knobs.stop_reason or "guardrail_intervened"
            return Plan(blocked, None, reason, input_tokens, len(blocked), verdict, text)
        if verdict.masked is not None:
            # Anonymised, not blocked: the reply goes out with {TYPE} placeholders and keeps
            # the model's own stop reason.
            masked = pieces(tokenise(verdict.masked[0]))
            reason = knobs.stop_reason or reason
            return Plan(masked, None, reason, input_tokens, len(masked), verdict, text)
    return Plan(parts, None, knobs.stop_reason or reason, input_tokens, len(parts))
