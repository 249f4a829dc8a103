"""A minimal keep-alive HTTP/1.1 client connection for the stream load client.

An asyncio Protocol fed straight into ``httptools``: body chunks reach the reply reader from
``data_received`` without a task wake-up per chunk, which is what makes a general-purpose client
cost more CPU per streamed event than the gateway spends producing it (see the README).
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, cast
from urllib.parse import urlsplit

import httptools


class ReplyReader(Protocol):
    """Consumes a 200 reply's body; ``first`` turns true at the first content token."""

    first: bool

    def feed(self, data: bytes) -> None: ...


def request_bytes(url: str, body: bytes, authorization: str) -> tuple[str, int, bytes]:
    """(host, port, the whole request) — built once and sent as-is for every request."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        "Accept: */*",
        f"Content-Length: {len(body)}",
    ]
    if authorization:
        head.append(f"Authorization: {authorization}")
    return host, port, ("\r\n".join(head) + "\r\n\r\n").encode() + body


class Connection(asyncio.Protocol):
    """One client connection; ``exchange`` sends a request and waits for the whole reply."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._done: asyncio.Future[int] | None = None
        self._reader: ReplyReader | None = None
        self._status = 0
        self.first_at = 0.0
        self.closed = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport is not an asyncio.Transport subclass, so cast, don't check.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"bad HTTP response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionResetError("server closed the connection"))

    # httptools callbacks
    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        reader = self._reader
        if self._status != 200 or reader is None:
            return
        reader.feed(body)
        if reader.first and not self.first_at:
            self.first_at = time.perf_counter()

    def on_message_complete(self) -> None:
        if not self._parser.should_keep_alive():
            self.close()
        if self._done is not None and not self._done.done():
            self._done.set_result(self._status)

    def _fail(self, exc: BaseException) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_exception(exc)

    async def exchange(self, raw: bytes, reader: ReplyReader) -> int:
        """Send ``raw``; return the status once the reply has ended (body fed to ``reader``)."""
        if self.closed or self._transport is None:
            raise ConnectionResetError("connection already closed")
        self._reader, self._status, self.first_at = reader, 0, 0.0
        self._done = asyncio.get_running_loop().create_future()
        self._transport.write(raw)
        return await self._done

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()


async def connect(host: str, port: int) -> Connection:
    _, conn = await asyncio.get_running_loop().create_connection(Connection, host, port)
    return conn
