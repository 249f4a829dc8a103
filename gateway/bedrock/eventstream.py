"""Incremental AWS event-stream decoder: response bytes in, ConverseStream events or errors out."""

from __future__ import annotations

import struct
from typing import Any, Final, TypeAlias

import msgspec
from botocore.eventstream import EventStreamBuffer, EventStreamHeaderParser, ParserError

from gateway.bedrock.errors import map_bedrock_error
from gateway.errors import GatewayError, UpstreamError

# (":event-type", raw JSON payload) for events; a mapped error for exception/error messages.
StreamItem: TypeAlias = tuple[str, bytes] | GatewayError

PROTOCOL_ERROR_CODE: Final = "upstream_protocol_error"

# botocore re-slices its whole buffer after every message, so one huge read (a slow
# consumer lets the socket buffer fill) would cost O(n^2) copying; bounded slices keep
# each re-slice short.
_FEED_SLICE: Final = 16 * 1024
# The smallest well-formed message: 12-byte prelude + 4-byte message CRC.
_MIN_MESSAGE: Final = 16
# Header values that are malformed despite valid CRCs surface from botocore's header
# parser as these plain Python errors rather than as ParserError.
_HEADER_ERRORS: Final = (struct.error, KeyError, UnicodeDecodeError, IndexError)


class _ExceptionBody(msgspec.Struct):
    # Bedrock sends ``message``; botocore also accepts ``Message``, so do we.
    message: str | None = None
    Message: str | None = None


_EXCEPTION_DECODER: Final = msgspec.json.Decoder(_ExceptionBody)


class _BadLength(Exception):
    """A prelude whose total length cannot hold its own headers and CRCs."""


def _protocol_error(detail: str) -> UpstreamError:
    return UpstreamError(
        f"Bedrock sent a malformed event stream ({detail})", code=PROTOCOL_ERROR_CODE
    )


def _bedrock_error(code: str | None, message: str | None) -> GatewayError:
    error = map_bedrock_error(code, message)
    # The raw member name (e.g. ``throttlingException``) is for logs only; the client sees
    # the mapped OpenAI code. Drop this ignore once GatewayError declares the attribute.
    error.bedrock_code = code
    return error


def _exception_message(payload: bytes) -> str | None:
    try:
        body = _EXCEPTION_DECODER.decode(payload)
    except msgspec.DecodeError:
        # The code alone still maps the error; map_bedrock_error supplies a default text.
        return None
    return body.message if body.message is not None else body.Message


class _CachingHeaderParser(EventStreamHeaderParser):  # type: ignore[misc]
    """botocore's header parser, memoised: a stream repeats a handful of identical header
    blocks (one per event type), and parsing them was the decoder's main cost."""

    _MAX_ENTRIES = 256
    # Shared by every stream: the parsed value is a pure function of the header bytes.
    _cache: dict[bytes, dict[str, Any]] = {}  # noqa: RUF012

    def parse(self, data: bytes) -> dict[str, Any]:
        key = bytes(data)
        headers = self._cache.get(key)
        if headers is None:
            headers = super().parse(data)
            cache = _CachingHeaderParser._cache
            if len(cache) >= self._MAX_ENTRIES:
                cache.clear()
            cache[key] = headers
        return headers


class _Buffer(EventStreamBuffer):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self._header_parser = _CachingHeaderParser()


class EventStreamDecoder:
    """Turns arbitrarily split response bytes into stream items, in stream order.

    Framing, both CRCs and the size limits are checked by botocore's own decoder. After a
    corrupt frame the stream cannot be resynchronised, so the decoder reports one protocol
    error and ignores everything after it.
    """

    __slots__ = ("_buffer", "_failed", "_pending")

    def __init__(self) -> None:
        self._buffer: Any = _Buffer()
        # Bytes fed but not yet consumed by a complete message (to detect truncation).
        self._pending = 0
        self._failed = False

    @property
    def failed(self) -> bool:
        """True once a corrupt frame was seen; later input is ignored."""
        return self._failed

    def feed(self, data: bytes) -> list[StreamItem]:
        """Add response bytes; return every item completed by them."""
        if self._failed or not data:
            return []
        items: list[StreamItem] = []
        if len(data) <= _FEED_SLICE:
            self._drain(data, items)
        else:
            view = memoryview(data)
            for start in range(0, len(data), _FEED_SLICE):
                if not self._drain(view[start : start + _FEED_SLICE], items):
                    break
        return items

    def end(self) -> list[StreamItem]:
        """Call at end of body: a partial message left in the buffer is a protocol error."""
        if self._failed or self._pending == 0:
            return []
        self._failed = True
        return [_protocol_error(f"stream ended inside a message, {self._pending} bytes left")]

    def _drain(self, data: bytes | memoryview, items: list[StreamItem]) -> bool:
        """Decode what ``data`` completes into ``items``; False once the stream is corrupt."""
        self._buffer.add_data(data)
        self._pending += len(data)
        try:
            for message in self._buffer:
                prelude = message.prelude
                if prelude.total_length < _MIN_MESSAGE + prelude.headers_length:
                    raise _BadLength(prelude.total_length)
                self._pending -= prelude.total_length
                item = self._item(message.headers, message.payload)
                if item is not None:
                    items.append(item)
        except (ParserError, _BadLength, *_HEADER_ERRORS) as exc:
            self._failed = True
            items.append(_protocol_error(type(exc).__name__))
            return False
        return True

    @staticmethod
    def _item(headers: dict[str, Any], payload: bytes) -> StreamItem | None:
        kind = headers.get(":message-type")
        if kind == "exception":
            code = headers.get(":exception-type")
            return _bedrock_error(
                code if isinstance(code, str) else None, _exception_message(payload)
            )
        if kind == "error":
            code = headers.get(":error-code")
            message = headers.get(":error-message")
            return _bedrock_error(
                code if isinstance(code, str) else None,
                message if isinstance(message, str) else None,
            )
        event_type = headers.get(":event-type")
        # Like botocore, a message without an event type carries nothing we can route.
        if not isinstance(event_type, str):
            return None
        return (event_type, payload)
