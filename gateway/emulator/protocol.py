"""The HTTP/1.1 server protocol: httptools parsing, keep-alive, pipelining and flow control."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, cast

import httptools

from gateway.emulator import responses

logger = logging.getLogger(__name__)

# Bedrock's own body limit is 25,000,000 bytes; a little headroom for JSON framing.
MAX_BODY = 32 * 1024 * 1024


class Request:
    """One parsed request. ``path`` is the raw (still percent-encoded) path, without query."""

    __slots__ = ("body", "headers", "keep_alive", "method", "path", "started")

    def __init__(
        self,
        method: bytes,
        path: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        keep_alive: bool,
    ) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.started = time.monotonic()


class Channel(Protocol):
    """What a long-running (async) response writes to: its connection."""

    def is_closed(self) -> bool: ...

    def write(self, data: bytes) -> bool:
        """Send ``data``; True when the client is slow and the writer should ``drain()``."""
        ...

    async def drain(self) -> None: ...


AsyncResponder = Callable[[Channel], Coroutine[Any, Any, None]]
# An app answers at once with the whole response, or with a coroutine function that writes it.
App = Callable[[Request], bytes | AsyncResponder]


class HttpProtocol(asyncio.Protocol):
    """One client connection. Requests are answered strictly in order."""

    def __init__(self, app: App, connections: set[HttpProtocol]) -> None:
        self._app = app
        self._connections = connections
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._body_size = 0
        self._pending: deque[Request] = deque()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses but have the same API.
        self._transport = cast(asyncio.Transport, transport)
        self._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._connections.discard(self)
        self._pending.clear()
        if self._task is not None:
            # Stops a stream (or a hang) at once; the responder counts the cancellation.
            self._task.cancel()
        self._wake_drain()

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail("protocol upgrades are not supported")
        except httptools.HttpParserError as exc:
            if self._body_size > MAX_BODY:
                self._fail(f"request body exceeds {MAX_BODY} bytes")
            else:
                self._fail(f"malformed HTTP request: {exc}")

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_drain()

    # -- Channel ---------------------------------------------------------------------------

    def is_closed(self) -> bool:
        return self._closed

    def write(self, data: bytes) -> bool:
        if not self._closed and self._transport is not None:
            self._transport.write(data)
        return self._write_paused

    async def drain(self) -> None:
        """Wait while the client reads slower than we write (transport buffer above its mark)."""
        if not self._write_paused or self._closed:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._drain_waiter = waiter
        await waiter

    def _wake_drain(self) -> None:
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- httptools callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._body = []
        self._body_size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        # The length test keeps the lower-casing off the path of every other header.
        if len(name) == 6 and name.lower() == b"expect" and value.lower() == b"100-continue":
            self.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > MAX_BODY:
            raise OverflowError("request body too large")
        self._body.append(body)

    def on_message_complete(self) -> None:
        path, _, _ = self._url.partition(b"?")
        request = Request(
            self._parser.get_method(),
            path,
            self._headers,
            b"".join(self._body),
            self._parser.should_keep_alive(),
        )
        self._body = []
        if self._task is not None or self._pending:
            self._pending.append(request)
            if self._transport is not None:
                # Back-pressure on pipelining clients while a slow response is in flight.
                self._transport.pause_reading()
            return
        self._answer(request)

    # -- dispatch --------------------------------------------------------------------------

    def _answer(self, request: Request) -> None:
        try:
            result = self._app(request)
        except Exception:
            logger.exception("emulator handler failed for %r", request.path)
            result = responses.error(
                "InternalServerException", "emulator handler failed", b"emulator-error", False
            )
            request.keep_alive = False
        if isinstance(result, bytes):
            self.write(result)
            if not request.keep_alive:
                self._close()
            return
        self._task = asyncio.get_running_loop().create_task(self._respond(result, request))

    async def _respond(self, responder: AsyncResponder, request: Request) -> None:
        try:
            await responder(self)
        except asyncio.CancelledError:
            # Only connection_lost (or server shutdown) cancels us; nothing more can be written.
            raise
        except Exception:
            logger.exception("emulator responder failed for %r", request.path)
            self._close()
            return
        finally:
            self._task = None
        if not request.keep_alive:
            self._close()
            return
        while self._pending and self._task is None and not self._closed:
            self._answer(self._pending.popleft())
        if not self._pending and self._transport is not None and not self._closed:
            self._transport.resume_reading()

    def _fail(self, message: str) -> None:
        self.write(responses.error("ValidationException", message, b"emulator-error", False))
        self._close()

    def abort(self) -> asyncio.Task[None] | None:
        """Drop the connection now (server shutdown); returns the responder still to finish."""
        task = self._task
        if self._transport is not None:
            self._transport.abort()
        return task

    def _close(self) -> None:
        if self._transport is not None and not self._closed:
            self._closed = True
            self._transport.close()
