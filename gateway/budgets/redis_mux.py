"""One shared Redis connection for every task of a process: commands auto-pipelined, replies
matched to their callers in order.

How it works: ``submit`` takes a command already encoded as RESP bytes and returns a future
for its reply. On an idle connection the command is written at once (no added latency when
traffic is light); while replies are outstanding, everything submitted during one event-loop
turn is written together (one ``write``) at the end of that turn. Replies are parsed by
hiredis as bytes arrive (``data_received``), and every complete one resolves the oldest
future at once, which is the order Redis answers them: no coroutine or task wake per
reply. A call costs one future and a share of one write and one read, instead of a pool
checkout, a retry wrapper and a per-argument encoder. ``sent`` returns once everything
submitted so far has been written.

The connection is a redis-py asyncio ``Connection`` built from the URL (TCP, TLS or a Unix
socket; AUTH, SELECT and the client handshake are redis-py's). After the handshake the
connection's transport is taken over (``set_protocol``, on asyncio and uvloop transports
alike): redis-py reads only through a coroutine per reply and writes only through one
(``send_packed_command``, which with a socket timeout runs every write in a task of its
own). The one private attribute used is its stream writer (``_writer``, for the
transport; tests pin it); error replies become redis-py's exceptions through its own
``parse_error``. A multiplexer belongs to the event loop of its first call.

Guarantees:

* Timeouts: connecting (handshake included) is bounded by ``timeout_s``, and so is every
  command from the moment it is written. When the oldest written command has no reply
  after ``timeout_s`` the connection is dropped and every command waiting on it fails at
  once; a stalled Redis never holds a caller longer than that.
* Failures surface as the error ``unavailable()`` builds (chained to the cause). An error
  reply that means "not now" (READONLY during a failover, OOM, TRYAGAIN, CLUSTERDOWN) is
  an outage too; any other error reply (WRONGTYPE, a script error) is raised as redis-py's
  ``ResponseError``: it is a bug, not an outage.
* Recovery: nothing about a failure is kept. The next command after a drop connects
  afresh, so the service resumes by itself when Redis does.
* A command lost with its connection (Redis restarted or closed the socket while the reply
  was due) is written once more on a new connection when it allows a retry (``retries``);
  only idempotent commands may allow one.
* Scripts: the ``scripts`` given are loaded (SCRIPT LOAD) first thing on every new
  connection, so a restarted Redis never answers their calls with NOSCRIPT. A script
  call (``script=``) still answered with NOSCRIPT (SCRIPT FLUSH on a live connection) is
  re-sent as EVAL with the source, which also caches it for the next EVALSHA.
* A command is written when submitted, at the end of the loop turn or once connected,
  whoever awaits its future: cancelling the caller abandons the reply, never the command.
  Commands whose future was cancelled before they were written are not sent.
* ``close`` fails whatever is still waiting and closes the connection; the multiplexer
  refuses commands afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

import hiredis
from redis import exceptions as rx
from redis._parsers import BaseParser
from redis.asyncio.connection import AbstractConnection, ConnectionPool

from gateway.budgets.resp import Script, command

log = logging.getLogger("gateway.budgets")

T = TypeVar("T")

# Error replies that mean "the store cannot serve right now"; the rest are bugs to surface.
_NOT_NOW: Final = (rx.ReadOnlyError, rx.OutOfMemoryError, rx.TryAgainError, rx.ClusterDownError)
# What hiredis returns while a reply is still incomplete.
_INCOMPLETE: Final = object()


class _Command:
    __slots__ = ("future", "parse", "payload", "retries", "script", "sent_at")

    def __init__(
        self,
        payload: bytes,
        future: asyncio.Future[Any],
        parse: Callable[[Any], Any],
        script: Script | None,
        retries: int,
    ) -> None:
        self.payload = payload
        self.future = future
        self.parse = parse
        self.script = script
        self.retries = retries
        self.sent_at = 0.0


class _Link:
    """One connection and the commands written to it that still wait for their reply."""

    __slots__ = ("conn", "dead", "inflight", "loop", "parser", "timer", "transport")

    def __init__(
        self,
        conn: AbstractConnection,
        transport: asyncio.WriteTransport,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.conn = conn
        self.transport = transport
        self.loop = loop
        self.inflight: deque[_Command] = deque()
        # Error replies become redis-py's exceptions (NoScriptError, ReadOnlyError...),
        # returned in the reply's place; LOADING and NOAUTH become ConnectionErrors.
        self.parser = hiredis.Reader(
            protocolError=rx.InvalidResponse,
            replyError=BaseParser.parse_error,
            notEnoughData=_INCOMPLETE,
        )
        self.timer: asyncio.TimerHandle | None = None
        self.dead = False


class _Replies(asyncio.Protocol):
    """The connection's protocol once the multiplexer owns it: bytes in, futures out."""

    __slots__ = ("link", "mux")

    def __init__(self, mux: RedisMux, link: _Link) -> None:
        self.mux = mux
        self.link = link

    def data_received(self, data: bytes) -> None:
        self.mux._received(self.link, data)

    def eof_received(self) -> bool:
        return False  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        cause = rx.ConnectionError("Connection closed by server.")
        cause.__cause__ = exc
        self.mux._drop(self.link, cause, retry=True)


class RedisMux:
    """Auto-pipelined commands over one lazily made, self-healing redis-py connection."""

    def __init__(
        self,
        connect: Callable[[], AbstractConnection],
        *,
        timeout_s: float,
        unavailable: Callable[[], Exception],
        scripts: Sequence[Script] = (),
    ) -> None:
        if not timeout_s > 0:
            raise ValueError("timeout_s must be positive")
        self._new_connection = connect
        self._timeout = timeout_s
        self._unavailable = unavailable
        # Loaded first thing on every connection, so calls made on it keep their order
        # (a NOSCRIPT re-send would overtake nothing but would itself come late).
        self._preamble = [command("SCRIPT", "LOAD", script.source) for script in scripts]
        self._link: _Link | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._outbox: list[_Command] = []  # submitted, not yet written
        self._flush_scheduled = False
        self._sent_waiters: list[asyncio.Future[None]] = []
        # redis-py's goodbyes to dropped connections (its disconnect is a coroutine).
        self._closing: set[asyncio.Task[None]] = set()
        # The loop of the first call; the multiplexer belongs to it from then on. Kept
        # because asyncio.get_running_loop() costs a getpid() system call per call.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        timeout_s: float,
        unavailable: Callable[[], Exception],
        scripts: Sequence[Script] = (),
    ) -> RedisMux:
        """No I/O here: the first command connects."""
        pool = ConnectionPool.from_url(url, socket_connect_timeout=timeout_s)

        def connection() -> AbstractConnection:
            conn = pool.connection_class(**pool.connection_kwargs)
            # No socket timeout of its own (a URL may set one): redis-py would then time
            # out idle reads. Connecting is bounded here, replies by the watchdog.
            conn.socket_timeout = None
            return conn

        return cls(connection, timeout_s=timeout_s, unavailable=unavailable, scripts=scripts)

    def submit(
        self,
        payload: bytes,
        parse: Callable[[Any], T],
        *,
        script: Script | None = None,
        retries: int = 0,
    ) -> asyncio.Future[T]:
        """Queue one encoded command; the future gets ``parse(reply)`` or the failure."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if self._closed:
            future.set_exception(self._error(rx.ConnectionError("the store is closed")))
            return future
        self._enqueue(_Command(payload, future, parse, script, retries))
        return future

    async def sent(self) -> None:
        """Return once every command submitted so far is written (or has failed); at once
        when nothing waits or no connection is up (then no promise is made)."""
        if self._link is None or not self._outbox:
            return
        waiter: asyncio.Future[None] = self._link.loop.create_future()
        self._sent_waiters.append(waiter)
        await waiter

    async def close(self) -> None:
        self._closed = True
        connecting, self._connecting = self._connecting, None
        if connecting is not None:
            connecting.cancel()
            await asyncio.gather(connecting, return_exceptions=True)
        link = self._link
        if link is not None:
            self._drop(link, rx.ConnectionError("the store is closed"), retry=False)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        self._fail_outbox(rx.ConnectionError("the store is closed"))

    # -- writing ---------------------------------------------------------------------------

    def _enqueue(self, cmd: _Command) -> None:
        self._outbox.append(cmd)
        self._kick()

    def _kick(self) -> None:
        """Get the outbox written: after connecting; at once on an idle connection (no
        latency added when traffic is light); else at the end of this loop turn, together
        with whatever else this turn submits (one write for many callers under load)."""
        link = self._link
        if link is None:
            if self._connecting is None and self._outbox and not self._closed:
                loop = self._loop or asyncio.get_running_loop()
                self._connecting = loop.create_task(self._connect())
        elif not link.inflight:
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            link.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        link = self._link
        if link is None or not self._outbox:
            return  # the connect task writes the outbox once it is connected
        if link.transport.is_closing():
            # Its loss is not reported yet; what was written there is lost with it.
            self._drop(link, rx.ConnectionError("connection closed"), retry=True)
            self._kick()
            return
        batch = [cmd for cmd in self._outbox if not cmd.future.cancelled()]
        self._outbox = []
        self._release_sent_waiters()
        if not batch:
            return
        now = link.loop.time()
        for cmd in batch:
            cmd.sent_at = now
        link.inflight.extend(batch)
        link.transport.write(b"".join([cmd.payload for cmd in batch]))
        if link.timer is None:
            link.timer = link.loop.call_at(now + self._timeout, self._check, link)

    async def _connect(self) -> None:
        conn = self._new_connection()
        try:
            async with asyncio.timeout(self._timeout):
                await conn.connect()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
        except asyncio.CancelledError:
            await _quietly_disconnect(conn)
            raise
        except Exception as exc:
            self._connecting = None
            await _quietly_disconnect(conn)
            self._fail_outbox(exc)
            return
        self._connecting = None
        # The transport is ours from here on (module docstring).
        writer = conn._writer
        if self._closed or writer is None:
            await _quietly_disconnect(conn)
            self._fail_outbox(rx.ConnectionError("the store is closed"))
            return
        loop = asyncio.get_running_loop()
        transport = writer.transport
        link = _Link(conn, transport, loop)
        transport.set_protocol(_Replies(self, link))
        self._link = link
        preamble = []
        for payload in self._preamble:
            loaded: asyncio.Future[None] = loop.create_future()
            loaded.add_done_callback(_consume)
            preamble.append(_Command(payload, loaded, ignore_reply, None, 0))
        self._outbox[:0] = preamble
        self._flush()

    # -- reading ---------------------------------------------------------------------------

    def _received(self, link: _Link, data: bytes) -> None:
        """Resolve every reply that ``data`` completes, oldest command first."""
        if link.dead:
            return
        parser = link.parser
        inflight = link.inflight
        try:
            parser.feed(data)
            while (reply := parser.gets()) is not _INCOMPLETE:
                # As redis-py's parser: LOADING, NOAUTH... are about the link, not a command.
                if isinstance(reply, rx.ConnectionError):
                    raise reply
                if not inflight:
                    raise rx.ConnectionError("Redis sent a reply nobody asked for")
                self._deliver(inflight.popleft(), reply)
                if self._link is not link:
                    return  # a re-send found the link closing and dropped it
        except Exception as exc:
            # A protocol error or a link-level error reply: try a new link.
            self._drop(link, exc, retry=True)

    def _deliver(self, cmd: _Command, reply: Any) -> None:
        future = cmd.future
        if future.done():
            return  # the caller gave up (cancelled); the command still ran
        if isinstance(reply, rx.ResponseError):
            if isinstance(reply, rx.NoScriptError) and cmd.script is not None:
                cmd.payload, cmd.script = cmd.script.as_eval(cmd.payload), None
                self._enqueue(cmd)
            elif isinstance(reply, _NOT_NOW):
                future.set_exception(self._error(reply))
            else:
                future.set_exception(reply)
            return
        try:
            future.set_result(cmd.parse(reply))
        except Exception as exc:
            future.set_exception(exc)

    # -- failures --------------------------------------------------------------------------

    def _check(self, link: _Link) -> None:
        """The watchdog: the oldest command written must be answered within the timeout."""
        link.timer = None
        if link.dead or not link.inflight:
            return
        due = link.inflight[0].sent_at + self._timeout
        if link.loop.time() >= due:
            log.warning("redis did not answer within %.3gs; dropping the connection", self._timeout)
            self._drop(link, rx.TimeoutError("Redis did not answer in time"), retry=False)
        else:
            link.timer = link.loop.call_at(due, self._check, link)

    def _drop(self, link: _Link, cause: BaseException, *, retry: bool) -> None:
        """Forget a connection and settle the fate of every command waiting on it."""
        if link.dead:
            return
        link.dead = True
        if self._link is link:
            self._link = None
        if link.timer is not None:
            link.timer.cancel()
            link.timer = None
        link.transport.close()
        goodbye = link.loop.create_task(_quietly_disconnect(link.conn))
        self._closing.add(goodbye)
        goodbye.add_done_callback(self._closing.discard)
        stranded = list(link.inflight)
        link.inflight.clear()
        for cmd in stranded:
            if cmd.future.done():
                continue
            if retry and cmd.retries > 0 and not self._closed:
                cmd.retries -= 1
                self._enqueue(cmd)
            else:
                cmd.future.set_exception(self._error(cause))

    def _fail_outbox(self, cause: BaseException) -> None:
        waiting, self._outbox = self._outbox, []
        for cmd in waiting:
            if not cmd.future.done():
                cmd.future.set_exception(self._error(cause))
        self._release_sent_waiters()

    def _release_sent_waiters(self) -> None:
        waiters, self._sent_waiters = self._sent_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _error(self, cause: BaseException) -> Exception:
        error = self._unavailable()
        error.__cause__ = cause
        return error


def ignore_reply(reply: Any) -> None:
    """A ``parse`` for commands whose reply carries nothing (PING, SCRIPT LOAD)."""


def _consume(future: asyncio.Future[None]) -> None:
    # A failed script load only costs a NOSCRIPT round trip later; nobody awaits it.
    if not future.cancelled():
        future.exception()


async def _quietly_disconnect(conn: AbstractConnection) -> None:
    # Closing a socket that is already gone can only fail in uninteresting ways.
    with contextlib.suppress(Exception):
        await conn.disconnect(nowait=True)
