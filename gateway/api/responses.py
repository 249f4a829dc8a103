"""Raw ASGI response writers and the one mapping from GatewayError to an HTTP response."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import msgspec
from litestar.types import Receive, Send

from gateway.errors import GatewayError, InvalidRequestError, PayloadTooLargeError

log = logging.getLogger("gateway.api")

_JSON = (b"content-type", b"application/json")
_encoder = msgspec.json.Encoder()

Headers = list[tuple[bytes, bytes]]


async def send_json(
    send: Send, status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [_JSON, (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


def error_headers(exc: GatewayError) -> Headers:
    return [(k.encode(), v.encode()) for k, v in exc.headers.items()]


def error_body(exc: GatewayError) -> bytes:
    return _encoder.encode(exc.to_dict())


async def send_error(
    send: Send, exc: GatewayError, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    await send_json(send, exc.status, error_body(exc), [*error_headers(exc), *headers])


def internal_error() -> GatewayError:
    # Never a stack trace or exception text in the body; the log has the details.
    return GatewayError("The gateway hit an internal error. Please retry.", code="internal_error")


async def read_body(receive: Receive, content_length: int | None, limit: int) -> bytes:
    """Read the request body; over ``limit`` bytes it is drained (not kept) and refused with 413.

    Draining, up to a bound, lets clients that write the whole body before reading (most of
    them) see the 413 instead of a connection reset.
    """
    chunks: list[bytes] = []
    size = 0
    too_large = content_length is not None and content_length > limit
    drain_cap = limit * 4
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InvalidRequestError("The client disconnected while sending the request.")
        chunk: bytes = message.get("body", b"")  # type: ignore[assignment]
        size += len(chunk)
        if size > limit:
            too_large = True
        if too_large:
            chunks.clear()
            if size > drain_cap:
                break
        elif chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    if too_large:
        raise PayloadTooLargeError(f"The request body exceeds the limit of {limit} bytes.")
    if len(chunks) == 1:
        return chunks[0]
    return b"".join(chunks)
