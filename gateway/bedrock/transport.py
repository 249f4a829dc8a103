"""A lean HTTP/1.1 client for one origin: keep-alive connection pool, asyncio Protocol + httptools.

Bedrock calls are POSTs of a small JSON body to one host, answered with JSON or a chunked event
stream, so a general-purpose client's machinery (cookies, redirects, proxies, multipart, tracing,
header multidicts) is pure cost on the request path: against the same loopback emulator aiohttp's
``post()`` took ~180 µs of CPU and ~240 µs until the headers, this one ~80 and ~140. Body bytes
go from ``data_received`` straight into the response's buffer; a reader is woken only when it
waits for them.

Errors are this module's own (``TransportError`` and subclasses); the Bedrock client maps them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections import deque
from collections.abc import Mapping
from typing import Final, cast
from urllib.parse import urlsplit

import httptools

__all__ = [
    "BadResponse",
    "ConnectTimeout",
    "ConnectionFailed",
    "ConnectionPool",
    "Response",
    "TransportError",
]

# A reader that falls this far behind pauses the socket (the server then blocks on its send
# buffer) instead of letting a slow client's stream pile up in gateway memory.
_PAUSE_READING_AT: Final = 64 * 1024
# Bedrock's header blocks are well under 1 KiB; anything near this is not Bedrock.
_MAX_HEADER_BYTES: Final = 64 * 1024
# How long a DNS answer is reused when opening new connections (aiohttp's default too).
_DNS_TTL: Final = 10.0


class TransportError(Exception):
    """The HTTP exchange failed below the HTTP status level."""


class ConnectTimeout(TransportError):
    """No connection (TCP + TLS) within the connect timeout."""


class ConnectionFailed(TransportError):
    """Refused, reset, TLS failure, or closed before the response was complete."""


class BadResponse(TransportError):
    """The peer's bytes are not a valid HTTP/1.1 response."""


class Response:
    """One response: status and headers once ``ConnectionPool.post`` returns, then the body.

    Read the body with ``read()`` (all of it) or ``read_some()`` (what has arrived). Call
    ``release()`` or ``close()`` when done: a complete response gives its connection back to
    the pool, an incomplete one closes it.
    """

    __slots__ = (
        "_chunks",
        "_conn",
        "_done",
        "_error",
        "_paused",
        "_size",
        "_waiter",
        "headers",
        "status",
    )

    def __init__(self, conn: _Connection) -> None:
        self._conn: _Connection | None = conn
        self.status = 0
        # Lower-case names; a repeated header keeps its last value (Bedrock sends none twice).
        self.headers: dict[str, str] = {}
        self._chunks: list[bytes] = []
        self._size = 0
        self._done = False  # the whole body has arrived
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False

    @property
    def complete(self) -> bool:
        """True once the whole body has arrived (it may still be buffered here)."""
        return self._done

    async def read_some(self) -> bytes:
        """Whatever body bytes have arrived, waiting if there are none; b"" at the end.

        A failure (connection lost mid-body, ``fail()``) is raised once the bytes that came
        before it have been returned.
        """
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._done:
                return b""
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        chunks = self._chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._size = 0
        if self._paused:
            self._paused = False
            conn = self._conn
            if conn is not None:
                conn.resume_reading()
        return data

    async def read(self) -> bytes:
        """The whole body; the connection then goes back to the pool."""
        parts: list[bytes] = []
        while data := await self.read_some():
            parts.append(data)
        self.release()
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def fail(self, error: BaseException) -> None:
        """Make the pending or next ``read_some()`` raise ``error`` (e.g. an idle timeout)."""
        if self._error is None and not self._done:
            self._error = error
            self._wake()

    def release(self) -> None:
        """Done with this response: its connection is reused if the whole body arrived."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.finished(reusable=self._done and self._error is None)

    def close(self) -> None:
        """Like ``release()``; an incomplete body's connection is closed, never reused."""
        self.release()

    # Called by the connection.

    def _feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)
        if self._size > _PAUSE_READING_AT and not self._paused:
            conn = self._conn
            if conn is not None:
                self._paused = True
                conn.pause_reading()
        self._wake()

    def _end(self) -> None:
        self._done = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class _Connection(asyncio.Protocol):
    """One pooled connection; carries at most one request at a time (no pipelining)."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._response: Response | None = None
        self._head: asyncio.Future[None] | None = None
        self._header_bytes = 0
        # How the current body ends: Content-Length / chunked, or (neither) at connection close.
        self._framed = False
        self._headers_done = False
        self._keep_alive = False
        self.closed = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses but have the same API.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._response is None:
            # Nothing was asked: a server talking out of turn cannot be trusted with the next
            # request on this connection.
            self.abort()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._lost(BadResponse(f"invalid HTTP response: {exc}"))
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        aborted = self.closed  # we closed it ourselves: nothing after this is a clean end
        self.closed = True
        self._pool.discard(self)
        response = self._response
        if response is not None and not response.complete:
            if self._headers_done and not self._framed and not aborted:
                response._end()  # a body delimited by the end of the connection
            else:
                self._lost(ConnectionFailed("the connection closed before the response ended"))

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > _MAX_HEADER_BYTES:
            raise BadResponse("response headers too large")
        response = self._response
        if response is not None:
            key = name.decode("latin-1").lower()
            response.headers[key] = value.decode("latin-1")
            if key in ("content-length", "transfer-encoding"):
                self._framed = True

    def on_headers_complete(self) -> None:
        self._headers_done = True
        response = self._response
        if response is not None:
            response.status = self._parser.get_status_code()
        head = self._head
        if head is not None and not head.done():
            head.set_result(None)

    def on_body(self, body: bytes) -> None:
        response = self._response
        if response is not None:
            response._feed(body)

    def on_message_complete(self) -> None:
        self._keep_alive = self._parser.should_keep_alive()
        response = self._response
        if response is not None:
            response._end()

    # used by the pool and the response

    async def exchange(self, request: bytes) -> Response:
        """Send one request; return once the response's headers have arrived."""
        transport = self._transport
        if transport is None or self.closed:
            raise ConnectionFailed("the connection is closed")
        response = self._response = Response(self)
        self._header_bytes = 0
        self._framed = self._headers_done = self._keep_alive = False
        head = self._head = asyncio.get_running_loop().create_future()
        transport.write(request)
        try:
            await head
        finally:
            self._head = None
        return response

    def _lost(self, error: TransportError) -> None:
        head = self._head
        if head is not None and not head.done():
            head.set_exception(error)
        response = self._response
        if response is not None:
            response.fail(error)

    def pause_reading(self) -> None:
        if self._transport is not None and not self.closed:
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if self._transport is not None and not self.closed:
            self._transport.resume_reading()

    def finished(self, *, reusable: bool) -> None:
        """The response is done with: back to the pool, or closed."""
        self._response = None
        if reusable and self._keep_alive and not self.closed:
            self._pool.put_back(self)
        else:
            self.abort()

    def abort(self) -> None:
        """Close at once (unsent data dropped); the pool forgets the connection."""
        if not self.closed:
            self.closed = True
            if self._transport is not None:
                self._transport.abort()
            self._pool.discard(self)


class ConnectionPool:
    """Keep-alive connections to one ``http(s)://host[:port][/prefix]`` origin.

    At most ``limit`` connections are open; a request that finds none free waits for one (its
    caller's timeout bounds the wait). The most recently used idle connection is reused first,
    and idle connections are closed after ``keepalive_timeout`` seconds.
    """

    def __init__(
        self,
        base_url: str,
        *,
        limit: int,
        keepalive_timeout: float,
        connect_timeout: float,
        user_agent: str,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._prefix = parts.path.rstrip("/")
        if parts.scheme == "https":
            self._ssl: ssl.SSLContext | None = ssl_context or ssl.create_default_context()
        else:
            self._ssl = None
        host = f"[{self._host}]" if ":" in self._host else self._host
        default_port = self._port == (443 if self._ssl else 80)
        self.host_header = host if default_port else f"{host}:{self._port}"
        self._fixed = f"User-Agent: {user_agent}\r\n".encode("latin-1")
        self._limit = limit
        self._keepalive = keepalive_timeout
        self._connect_timeout = connect_timeout
        # Idle connections -> when they became idle; insertion order is oldest first, and
        # popitem() hands out the most recently used one.
        self._idle: dict[_Connection, float] = {}
        self._open: set[_Connection] = set()
        self._connecting = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._cleanup: asyncio.TimerHandle | None = None
        self._addresses: list[tuple[str, int]] = []
        self._resolved_at = float("-inf")
        self._resolving: asyncio.Task[list[tuple[str, int]]] | None = None
        # An IP address needs no lookup, ever.
        self._literal = _is_ip(self._host)
        if self._literal:
            self._addresses, self._resolved_at = [(self._host, self._port)], float("inf")
        self._closed = False

    async def post(self, path: str, headers: Mapping[str, str], body: bytes) -> Response:
        """POST ``body`` to ``prefix + path``; returns once the response headers are in.

        ``path`` must already be percent-encoded. A ``Host`` header is added unless given.
        Cancelling (a caller's timeout) closes the connection: its response may still come.
        """
        lines = [f"POST {self._prefix}{path} HTTP/1.1\r\n".encode("latin-1"), self._fixed]
        has_host = False
        for name, value in headers.items():
            if "\r" in value or "\n" in value:
                raise ValueError(f"header {name!r} has a line break")
            has_host = has_host or name.lower() == "host"
            lines.append(f"{name}: {value}\r\n".encode("latin-1"))
        if not has_host:
            lines.append(f"Host: {self.host_header}\r\n".encode("latin-1"))
        lines.append(b"Content-Length: %d\r\n\r\n" % len(body))
        lines.append(body)
        request = b"".join(lines)
        conn = await self._acquire()
        try:
            return await conn.exchange(request)
        except BaseException:
            conn.abort()
            raise

    async def close(self) -> None:
        """Close every connection; waiting requests fail."""
        self._closed = True
        if self._cleanup is not None:
            self._cleanup.cancel()
            self._cleanup = None
        for conn in list(self._open):
            conn.abort()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(ConnectionFailed("the connection pool is closed"))

    @property
    def open_connections(self) -> int:
        """Connections open or being opened (busy and idle)."""
        return len(self._open) + self._connecting

    @property
    def idle_connections(self) -> int:
        return len(self._idle)

    # connection bookkeeping

    async def _acquire(self) -> _Connection:
        loop = asyncio.get_running_loop()
        while True:
            if self._closed:
                raise ConnectionFailed("the connection pool is closed")
            idle = self._idle
            while idle:
                conn, since = idle.popitem()
                if conn.closed:
                    continue
                if loop.time() - since < self._keepalive:
                    return conn
                conn.abort()
            if self.open_connections < self._limit:
                return await self._connect()
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # we were handed a slot we will not use: pass it on
                else:
                    self._waiters.remove(waiter)
                raise

    async def _connect(self) -> _Connection:
        self._connecting += 1
        try:
            try:
                async with asyncio.timeout(self._connect_timeout):
                    conn = await self._open_connection()
            except TimeoutError:
                raise ConnectTimeout(
                    f"no connection to {self.host_header} within {self._connect_timeout:g}s"
                ) from None
        except BaseException:
            self._connecting -= 1
            self._wake_one()  # the slot we held is free again
            raise
        self._connecting -= 1
        if self._closed:
            conn.abort()
            raise ConnectionFailed("the connection pool is closed")
        self._open.add(conn)
        return conn

    async def _open_connection(self) -> _Connection:
        loop = asyncio.get_running_loop()
        server_hostname = self._host if self._ssl is not None else None
        error: OSError | None = None
        try:
            for host, port in await self._resolve():
                try:
                    _, conn = await loop.create_connection(
                        lambda: _Connection(self),
                        host,
                        port,
                        ssl=self._ssl,
                        server_hostname=server_hostname,
                    )
                except OSError as exc:  # refused, unreachable, TLS failure (SSLError)
                    error = exc
                    continue
                return conn
        except OSError as exc:  # name resolution
            error = exc
        self._forget_addresses()
        raise ConnectionFailed(f"cannot connect to {self.host_header}: {error}") from error

    async def _resolve(self) -> list[tuple[str, int]]:
        """The origin's addresses, cached briefly: a burst of new connections resolves once."""
        loop = asyncio.get_running_loop()
        if self._addresses and loop.time() - self._resolved_at < _DNS_TTL:
            return self._addresses
        lookup = self._resolving
        if lookup is None:
            lookup = self._resolving = loop.create_task(self._lookup())
            # Retrieved here too, so a lookup whose callers all gave up logs nothing.
            lookup.add_done_callback(lambda t: t.cancelled() or t.exception())
        # Shielded: one caller's timeout must not cancel the lookup the others wait for.
        return await asyncio.shield(lookup)

    async def _lookup(self) -> list[tuple[str, int]]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(
                self._host, self._port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        finally:
            self._resolving = None
        addresses = [(str(info[4][0]), int(info[4][1])) for info in infos]
        if not addresses:
            raise OSError(f"no address for {self._host}")
        if not self._literal:
            self._addresses, self._resolved_at = addresses, loop.time()
        return addresses

    def _forget_addresses(self) -> None:
        """After a failed connect, look the name up again (the host may have moved)."""
        if not self._literal:
            self._addresses, self._resolved_at = [], float("-inf")

    def put_back(self, conn: _Connection) -> None:
        if self._closed:
            conn.abort()
            return
        loop = asyncio.get_running_loop()
        self._idle[conn] = loop.time()
        if self._cleanup is None:
            self._cleanup = loop.call_later(self._keepalive, self._close_expired)
        self._wake_one()

    def discard(self, conn: _Connection) -> None:
        """``conn`` is closed: forget it and let a waiting request open another."""
        if conn in self._open:
            self._open.discard(conn)
            self._idle.pop(conn, None)
            self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _close_expired(self) -> None:
        self._cleanup = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        expired = [c for c, since in self._idle.items() if now - since >= self._keepalive]
        for conn in expired:
            conn.abort()
        if self._idle:
            oldest = next(iter(self._idle.values()))
            self._cleanup = loop.call_at(oldest + self._keepalive, self._close_expired)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
