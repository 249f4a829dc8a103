"""HTTP/1.1 response bytes: status lines, header blocks, chunk framing and AWS error bodies."""

from __future__ import annotations

from functools import lru_cache

import msgspec

from gateway.emulator.shapes import ERROR_STATUS

_REASONS: dict[int, bytes] = {
    200: b"OK",
    400: b"Bad Request",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    408: b"Request Timeout",
    413: b"Payload Too Large",
    424: b"Failed Dependency",
    429: b"Too Many Requests",
    500: b"Internal Server Error",
    503: b"Service Unavailable",
}

JSON = b"application/json"
EVENT_STREAM = b"application/vnd.amazon.eventstream"
LAST_CHUNK = b"0\r\n\r\n"


@lru_cache(maxsize=64)
def _head(status: int, content_type: bytes, keep_alive: bool) -> bytes:
    # A %-template per (status, type, keep-alive): one format call per response.
    reason = _REASONS.get(status, b"Unknown")
    connection = b"" if keep_alive else b"Connection: close\r\n"
    return (
        b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\n" % (status, reason, content_type)
        + b"Content-Length: %d\r\nx-amzn-RequestId: %s\r\n"
        + connection.replace(b"%", b"%%")
        + b"%s\r\n%s"
    )


def response(
    status: int,
    body: bytes,
    request_id: bytes,
    keep_alive: bool,
    content_type: bytes = JSON,
    extra: bytes = b"",
) -> bytes:
    """A complete response with ``Content-Length``; ``extra`` is preformatted header lines."""
    return _head(status, content_type, keep_alive) % (len(body), request_id, extra, body)


def stream_head(request_id: bytes, keep_alive: bool) -> bytes:
    """Headers of a 200 event-stream response sent with chunked transfer encoding."""
    connection = b"" if keep_alive else b"Connection: close\r\n"
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n"
        b"x-amzn-RequestId: %s\r\n%s\r\n" % (EVENT_STREAM, request_id, connection)
    )


def chunk(data: bytes) -> bytes:
    """One HTTP chunk holding ``data``."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def error(
    shape: str,
    message: str,
    request_id: bytes,
    keep_alive: bool,
    extra: dict[str, object] | None = None,
    status: int | None = None,
) -> bytes:
    """An AWS rest-json error: status from the shape, ``x-amzn-ErrorType`` and ``{"message"}``."""
    if status is None:
        status = ERROR_STATUS.get(shape, 400)
    body: dict[str, object] = {"message": message}
    if extra:
        body.update(extra)
    header = b"x-amzn-ErrorType: " + shape.encode() + b"\r\n"
    return response(status, msgspec.json.encode(body), request_id, keep_alive, extra=header)
