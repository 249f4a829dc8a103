"""ConverseStream events -> OpenAI chat.completion.chunk SSE bytes: a per-stream state machine.

Pure: ids and timestamps come in, bytes go out, nothing is read from a clock or the network.
Rules are protocols §5.5 and §6.4. Every chunk of a stream shares its id/created/model, so
everything but the delta is encoded once in ``__init__``; per token only the text itself is
JSON-encoded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, Protocol

import msgspec

from gateway.bedrock.eventstream import PROTOCOL_ERROR_CODE
from gateway.bedrock.json_escapes import JsonTextFilter
from gateway.bedrock.mapping import finish_reason as map_finish_reason
from gateway.bedrock.mapping import openai_usage
from gateway.errors import GatewayError, UpstreamError
from gateway.openai.sse import DONE, error_event

MALFORMED_OUTPUT_CODE: Final = "malformed_model_output"


# Typed views of the event payloads (§3.1); unknown members are ignored by msgspec, so
# reasoningContent, citations and future delta kinds decode to "nothing we emit".
class _ToolUseStart(msgspec.Struct, gc=False):
    toolUseId: str | None = None
    name: str | None = None


class _Start(msgspec.Struct, gc=False):
    toolUse: _ToolUseStart | None = None


class _BlockStart(msgspec.Struct, gc=False):
    contentBlockIndex: int = 0
    start: _Start | None = None


class _ToolUseDelta(msgspec.Struct, gc=False):
    input: str = ""


class _Delta(msgspec.Struct, gc=False):
    text: str | None = None
    toolUse: _ToolUseDelta | None = None


class _BlockDelta(msgspec.Struct, gc=False):
    contentBlockIndex: int = 0
    delta: _Delta | None = None


class _MessageStop(msgspec.Struct, gc=False):
    stopReason: str | None = None


class _Metadata(msgspec.Struct):
    usage: dict[str, Any] | None = None


class TextFilter(Protocol):
    """Rewrites streamed text (PII redaction, placeholder restore) with bounded hold-back."""

    def feed(self, chunk: str) -> str: ...

    def flush(self) -> str: ...


_ENCODE: Final = msgspec.json.Encoder().encode
_DECODE_DELTA: Final = msgspec.json.Decoder(_BlockDelta).decode
_DECODE_START: Final = msgspec.json.Decoder(_BlockStart).decode
_DECODE_STOP: Final = msgspec.json.Decoder(_MessageStop).decode
_DECODE_METADATA: Final = msgspec.json.Decoder(_Metadata).decode


class ChunkTranslator:
    """Feed it the events of one ConverseStream; write out whatever each call returns.

    Read-only state for budgets, metrics and logs: ``usage`` (Converse usage from the
    metadata event), ``stop_reason``/``finish_reason``, ``output_chars`` (content plus tool
    arguments emitted), ``content_deltas``, ``error`` (the in-band error, if any) and
    ``done`` ([DONE] written). ``usage`` is still recorded if metadata arrives after
    [DONE], so callers should read the upstream body to its end.
    """

    __slots__ = (
        "_completion_id",
        "_content_filter",
        "_filters",
        "_finish_head",
        "_finish_tail",
        "_head",
        "_include_usage",
        "_metadata_seen",
        "_role_chunk",
        "_role_sent",
        "_stopped",
        "_tail",
        "_text_head",
        "_text_tail",
        "_tool_filters",
        "_tool_heads",
        "_tool_tail",
        "_usage_head",
        "_usage_json",
        "content_deltas",
        "done",
        "error",
        "finish_reason",
        "output_chars",
        "stop_reason",
        "usage",
    )

    def __init__(
        self,
        *,
        completion_id: str,
        created: int,
        model: str,
        include_usage: bool,
        filters: Callable[[], TextFilter] | None = None,
    ) -> None:
        common = (
            b'data: {"id":'
            + _ENCODE(completion_id)
            + b',"object":"chat.completion.chunk","created":'
            + _ENCODE(created)
            + b',"model":'
            + _ENCODE(model)
            + b',"system_fingerprint":null,"choices":'
        )
        # OpenAI puts "usage": null on every choice chunk only when usage was requested.
        usage_null = b',"usage":null' if include_usage else b""
        self._head = common + b'[{"index":0,"delta":'
        self._tail = b',"logprobs":null,"finish_reason":null}]' + usage_null + b"}\n\n"
        self._text_head = self._head + b'{"content":'
        self._text_tail = b"}" + self._tail
        self._tool_tail = b"}}]}" + self._tail
        self._role_chunk = self._head + b'{"role":"assistant","content":""}' + self._tail
        self._finish_head = self._head + b'{},"logprobs":null,"finish_reason":'
        self._finish_tail = b"}]" + usage_null + b"}\n\n"
        self._usage_head = common + b'[],"usage":'
        self._completion_id = completion_id
        self._include_usage = include_usage
        # contentBlockIndex -> chunk prefix for that tool's argument fragments; the
        # OpenAI tool index is the order of insertion, never contentBlockIndex.
        self._tool_heads: dict[int, bytes] = {}
        # One filter for the content and one per tool call's arguments, made on demand.
        self._filters = filters
        self._content_filter: TextFilter | None = None
        self._tool_filters: dict[int, TextFilter] = {}
        self._role_sent = False
        self._stopped = False
        self._metadata_seen = False
        self._usage_json: bytes | None = None
        self.usage: dict[str, Any] | None = None
        self.stop_reason: str | None = None
        self.finish_reason: str | None = None
        self.output_chars = 0
        self.content_deltas = 0
        self.error: GatewayError | None = None
        self.done = False

    @property
    def first_token(self) -> bool:
        """True once any content or tool-argument delta was emitted (time to first token)."""
        return self.content_deltas > 0

    def feed(self, event_type: str, payload: bytes) -> bytes:
        """Translate one event; returns the SSE bytes to write now (often b"")."""
        if self.done:
            if event_type == "metadata":
                # After [DONE] a malformed metadata event has nowhere to be reported;
                # usage then stays None, which budgets treat as "not reported".
                self._record_metadata(payload)
            return b""
        try:
            # Ordered by frequency: deltas are nearly every event of a stream.
            if event_type == "contentBlockDelta":
                return self._on_delta(_DECODE_DELTA(payload))
            if event_type == "contentBlockStart":
                return self._on_start(_DECODE_START(payload))
            if event_type == "messageStart":
                return self._role()
            if event_type == "messageStop":
                return self._on_stop(_DECODE_STOP(payload))
            if event_type == "metadata":
                return self._on_metadata(payload)
        except msgspec.DecodeError:
            return self.fail(_malformed_event(event_type))
        # contentBlockStop and event types newer than this code carry nothing for the client.
        return b""

    def fail(self, error: GatewayError, *, flush: bool = False) -> bytes:
        """In-band error event then [DONE]; nothing if [DONE] was already written.

        ``flush`` first releases (fully filtered) text the output filters still hold, so the
        client keeps everything generated before an upstream failure.
        """
        if self.done:
            return b""
        held = b""
        if flush and not self._stopped:
            try:
                held = self._flush_filters()
            except GatewayError:
                held = b""
        self.done = True
        self.error = error
        return held + error_event(error) + DONE

    def finish(self) -> bytes:
        """At the normal end of the upstream body: write whatever is still owed."""
        if self.done:
            return b""
        if not self._stopped:
            return self.fail(
                UpstreamError(
                    "Bedrock ended the stream before the message was complete",
                    code=PROTOCOL_ERROR_CODE,
                )
            )
        return self._close()

    def _role(self) -> bytes:
        if self._role_sent:
            return b""
        self._role_sent = True
        return self._role_chunk

    def _on_delta(self, event: _BlockDelta) -> bytes:
        delta = event.delta
        # Content after messageStop would trail the finish chunk; peers break on that.
        if delta is None or self._stopped:
            return b""
        text = delta.text
        if text is not None:
            if self._filters is not None:
                if self._content_filter is None:
                    self._content_filter = self._filters()
                text = self._content_filter.feed(text)
            if not text:
                return b""
            self.output_chars += len(text)
            self.content_deltas += 1
            chunk = self._text_head + _ENCODE(text) + self._text_tail
            return chunk if self._role_sent else self._role() + chunk
        tool = delta.toolUse
        if tool is None:
            return b""
        head = self._tool_heads.get(event.contentBlockIndex)
        opened = b""
        if head is None:
            # contentBlockStart went missing: open the call with what we have.
            opened = self._open_tool(event.contentBlockIndex, None, None)
            head = self._tool_heads[event.contentBlockIndex]
        fragment = tool.input
        if self._filters is not None and fragment:
            tool_filter = self._tool_filters.get(event.contentBlockIndex)
            if tool_filter is None:
                # Arguments are raw JSON: the filter must see \u0040 as "@".
                tool_filter = JsonTextFilter(self._filters())
                self._tool_filters[event.contentBlockIndex] = tool_filter
            fragment = tool_filter.feed(fragment)
        if not fragment:
            return opened
        self.output_chars += len(fragment)
        self.content_deltas += 1
        return opened + head + _ENCODE(fragment) + self._tool_tail

    def _on_start(self, event: _BlockStart) -> bytes:
        start = event.start
        if start is None or start.toolUse is None or self._stopped:
            return b""
        if event.contentBlockIndex in self._tool_heads:
            return b""  # a repeated start must not open a second call
        return self._open_tool(event.contentBlockIndex, start.toolUse.toolUseId, start.toolUse.name)

    def _open_tool(self, block: int, tool_id: str | None, name: str | None) -> bytes:
        index = len(self._tool_heads)
        self._tool_heads[block] = (
            self._head + b'{"tool_calls":[{"index":' + _ENCODE(index) + b',"function":{"arguments":'
        )
        call = {
            "index": index,
            # Clients need some id to answer the call; without a start we have none.
            "id": tool_id if tool_id is not None else f"call_{self._completion_id}_{index}",
            "type": "function",
            "function": {"name": name if name is not None else "", "arguments": ""},
        }
        return self._role() + self._head + _ENCODE({"tool_calls": [call]}) + self._tail

    def _on_stop(self, event: _MessageStop) -> bytes:
        if self._stopped:
            return b""
        self._stopped = True
        self.stop_reason = event.stopReason
        reason = map_finish_reason(event.stopReason)
        if reason is None:
            return self.fail(
                UpstreamError(
                    f"The model produced malformed output (stopReason {event.stopReason})",
                    code=MALFORMED_OUTPUT_CODE,
                )
            )
        self.finish_reason = reason
        chunk = self._role() + self._flush_filters()
        chunk += self._finish_head + _ENCODE(reason) + self._finish_tail
        # Metadata normally follows messageStop; if it came first, close now.
        return chunk + self._close() if self._metadata_seen else chunk

    def _flush_filters(self) -> bytes:
        """Release what the filters still hold, before the finish chunk."""
        out = b""
        if self._content_filter is not None:
            text = self._content_filter.flush()
            if text:
                self.output_chars += len(text)
                out += self._text_head + _ENCODE(text) + self._text_tail
        for block, tool_filter in self._tool_filters.items():
            fragment = tool_filter.flush()
            if fragment:
                self.output_chars += len(fragment)
                out += self._tool_heads[block] + _ENCODE(fragment) + self._tool_tail
        return out

    def _on_metadata(self, payload: bytes) -> bytes:
        if not self._record_metadata(payload):
            return self.fail(_malformed_event("metadata"))
        return self._close() if self._stopped else b""

    def _record_metadata(self, payload: bytes) -> bool:
        """Keep usage for budgets and the usage chunk; False if the event is malformed."""
        self._metadata_seen = True
        try:
            usage = _DECODE_METADATA(payload).usage
            # Encoded now so a bad token count is caught here, not while closing.
            usage_json = None if usage is None else _ENCODE(openai_usage(usage))
        except (TypeError, ValueError):  # msgspec.DecodeError is a ValueError
            return False
        self.usage = usage
        self._usage_json = usage_json
        return True

    def _close(self) -> bytes:
        self.done = True
        if self._include_usage and self._usage_json is not None:
            return self._usage_head + self._usage_json + b"}\n\n" + DONE
        return DONE


def _malformed_event(event_type: str) -> UpstreamError:
    return UpstreamError(f"Bedrock sent a malformed {event_type} event", code=PROTOCOL_ERROR_CODE)
