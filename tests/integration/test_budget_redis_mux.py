"""The auto-pipelined Redis connection: replies to the right caller, outages, recovery."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import hiredis
import pytest
import redis
from redis.asyncio.connection import ConnectionPool
from redis.exceptions import ResponseError

from gateway.budgets import BudgetStoreUnavailableError
from gateway.budgets.redis_mux import RedisMux
from gateway.budgets.resp import Script, command
from tests.fixtures.redis import RedisServer

pytestmark = pytest.mark.integration


def unavailable() -> BudgetStoreUnavailableError:
    return BudgetStoreUnavailableError("The budget store is unavailable.")


def mux_for(url: str, timeout_s: float = 5.0) -> RedisMux:
    return RedisMux.from_url(url, timeout_s=timeout_s, unavailable=unavailable)


def raw(reply: Any) -> Any:
    return reply


@pytest.fixture
async def mux(redis_url: str) -> AsyncIterator[RedisMux]:
    built = mux_for(redis_url)
    yield built
    await built.close()


def reads_processed(server: RedisServer) -> int:
    with server.client() as client:
        return int(client.info("stats")["total_reads_processed"])


async def test_concurrent_callers_each_get_their_own_reply(mux: RedisMux) -> None:
    futures = [mux.submit(command("ECHO", f"caller-{i}"), raw) for i in range(500)]
    replies = await asyncio.gather(*futures)
    assert replies == [f"caller-{i}".encode() for i in range(500)]


async def test_commands_of_one_loop_turn_reach_redis_together(redis_server: RedisServer) -> None:
    mux = mux_for(redis_server.url)
    try:
        assert await mux.submit(command("PING"), raw) == b"PONG"  # connected and idle
        before = reads_processed(redis_server)
        # While one command is in flight, everything submitted in the same turn waits
        # for the end of the turn and goes out in one write.
        replies = await asyncio.gather(
            *(mux.submit(command("INCRBY", "mux:count", i), raw) for i in range(1, 201))
        )
        after = reads_processed(redis_server)
    finally:
        await mux.close()
    assert sorted(replies) == sorted(sum(range(1, i + 1)) for i in range(1, 201))
    assert replies == sorted(replies)  # answered in the order they were submitted
    # Redis read 200 commands in a handful of socket reads (plus our own INFO call).
    assert after - before <= 10, after - before


async def test_an_error_reply_fails_only_its_own_caller(mux: RedisMux) -> None:
    first = mux.submit(command("SET", "mux:str", "x"), raw)
    wrong = mux.submit(command("HGET", "mux:str", "field"), raw)
    last = mux.submit(command("GET", "mux:str"), raw)
    assert await first == b"OK"
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await wrong
    assert await last == b"x"


async def test_a_not_now_error_reply_is_an_outage(mux: RedisMux) -> None:
    readonly = Script("return redis.error_reply('READONLY You cannot write against a replica.')")
    with pytest.raises(BudgetStoreUnavailableError):
        await mux.submit(readonly.call(1, command("0")[4:]), raw, script=readonly)
    assert await mux.submit(command("PING"), raw) == b"PONG"  # the connection is fine


async def test_a_cancelled_caller_does_not_shift_the_replies_of_others(mux: RedisMux) -> None:
    await mux.submit(command("PING"), raw)
    doomed = asyncio.ensure_future(mux.submit(command("ECHO", "doomed"), raw))
    kept = mux.submit(command("ECHO", "kept"), raw)
    doomed.cancel()
    assert await kept == b"kept"
    assert await mux.submit(command("ECHO", "next"), raw) == b"next"


async def test_parse_errors_reach_the_caller(mux: RedisMux) -> None:
    def refuse(reply: Any) -> Any:
        raise ValueError(f"unexpected {reply!r}")

    with pytest.raises(ValueError, match="unexpected"):
        await mux.submit(command("PING"), refuse)
    assert await mux.submit(command("PING"), raw) == b"PONG"


async def test_noscript_is_answered_by_resending_the_source(redis_server: RedisServer) -> None:
    script = Script("return 'ran ' .. ARGV[1]")
    mux = mux_for(redis_server.url)
    try:
        tail = command("0", "x")[4:]  # numkeys 0, ARGV[1] = x (without the array header)
        replies = await asyncio.gather(
            *(mux.submit(script.call(2, tail), raw, script=script) for _ in range(5))
        )
        assert replies == [b"ran x"] * 5
        with redis_server.client() as admin:
            stats = admin.info("commandstats")
        # Every EVALSHA of the burst met NOSCRIPT and was re-sent once as EVAL.
        assert stats["cmdstat_evalsha"]["failed_calls"] == 5
        assert stats["cmdstat_eval"]["calls"] == 5
        assert await mux.submit(script.call(2, tail), raw, script=script) == b"ran x"
    finally:
        await mux.close()


async def test_a_hung_redis_fails_every_waiter_after_the_timeout(
    redis_server: RedisServer,
) -> None:
    mux = mux_for(redis_server.url, timeout_s=0.4)
    try:
        assert await mux.submit(command("PING"), raw) == b"PONG"
        redis_server.freeze()
        started = time.monotonic()
        outcomes = await asyncio.gather(
            *(mux.submit(command("PING"), raw, retries=1) for _ in range(50)),
            return_exceptions=True,
        )
        waited = time.monotonic() - started
        assert all(isinstance(o, BudgetStoreUnavailableError) for o in outcomes), outcomes
        # Nobody failed early, nobody hung: all at the timeout (no retry after a timeout).
        assert 0.35 < waited < 3.0, waited
        redis_server.thaw()
        assert await mux.submit(command("PING"), raw) == b"PONG"
    finally:
        redis_server.thaw()
        await mux.close()


async def test_calls_fail_fast_while_redis_is_down_and_work_once_it_is_back(
    redis_server: RedisServer,
) -> None:
    mux = mux_for(redis_server.url, timeout_s=5.0)
    try:
        assert await mux.submit(command("PING"), raw) == b"PONG"
        redis_server.stop()
        started = time.monotonic()
        for _ in range(3):
            with pytest.raises(BudgetStoreUnavailableError):
                await mux.submit(command("PING"), raw, retries=1)
        assert time.monotonic() - started < 2.5  # refused, not timed out
        redis_server.start()
        assert await mux.submit(command("PING"), raw) == b"PONG"
    finally:
        await mux.close()


class Proxy:
    """A TCP relay in front of Redis that can stall and cut its client connections."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.forwarding = asyncio.Event()
        self.forwarding.set()
        self.accepted = 0
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, gate: bool) -> None:
            try:
                while data := await src.read(65536):
                    if gate:
                        await self.forwarding.wait()
                    dst.write(data)
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))


async def test_a_lost_connection_resends_retryable_commands_once(
    redis_server: RedisServer,
) -> None:
    proxy = Proxy(redis_server.port)
    await proxy.start()
    mux = mux_for(f"redis://127.0.0.1:{proxy.port}/0")
    try:
        assert await mux.submit(command("PING"), raw) == b"PONG"
        proxy.forwarding.clear()  # the next commands are written but never reach Redis
        retried = mux.submit(command("ECHO", "again"), raw, retries=1)
        once = mux.submit(command("ECHO", "once"), raw)
        await asyncio.sleep(0.05)
        proxy.cut()  # as if Redis restarted under the idle-looking socket
        proxy.forwarding.set()
        assert await retried == b"again"
        with pytest.raises(BudgetStoreUnavailableError):
            await once
        assert proxy.accepted == 2  # one new connection carried the retry
    finally:
        await mux.close()
        await proxy.stop()


async def test_a_connection_that_goes_away_fails_every_waiter_at_once(
    redis_server: RedisServer,
) -> None:
    proxy = Proxy(redis_server.port)
    await proxy.start()
    mux = mux_for(f"redis://127.0.0.1:{proxy.port}/0", timeout_s=5.0)
    try:
        assert await mux.submit(command("PING"), raw) == b"PONG"
        proxy.forwarding.clear()
        waiting = [mux.submit(command("PING"), raw, retries=1) for _ in range(20)]
        await asyncio.sleep(0.05)  # written, unanswered
        started = time.monotonic()
        await proxy.stop()  # the connection drops and nothing listens any more
        outcomes = await asyncio.gather(*waiting, return_exceptions=True)
        assert all(isinstance(o, BudgetStoreUnavailableError) for o in outcomes), outcomes
        # Well before the 5 s timeout: the lost socket, then the refused retry, say so.
        assert time.monotonic() - started < 2.5
    finally:
        await mux.close()
        await proxy.stop()


async def test_sent_returns_once_queued_commands_are_written(redis_url: str) -> None:
    mux = mux_for(redis_url)
    watcher = redis.asyncio.Redis.from_url(redis_url)
    try:
        await mux.submit(command("DEL", "mux:sent"), raw)
        await asyncio.wait_for(mux.sent(), 1)  # nothing queued: at once
        pending = mux.submit(command("ECHO", "busy"), raw)  # in flight: the next one waits
        later = mux.submit(command("SET", "mux:sent", "1"), raw)  # coalesced to the turn's end
        await mux.sent()
        # Written before its answer was read: another client sees it without waiting for it.
        for _ in range(100):
            if await watcher.get("mux:sent") == b"1":
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("the write never arrived")
        assert (await pending, await later) == (b"busy", b"OK")
    finally:
        await watcher.aclose()
        await mux.close()


async def test_close_fails_what_waits_and_refuses_new_commands(redis_server: RedisServer) -> None:
    mux = mux_for(redis_server.url)
    assert await mux.submit(command("PING"), raw) == b"PONG"
    redis_server.freeze()
    try:
        waiting = mux.submit(command("PING"), raw, retries=1)
        await asyncio.sleep(0.05)
        await mux.close()
        with pytest.raises(BudgetStoreUnavailableError):
            await waiting
        with pytest.raises(BudgetStoreUnavailableError):
            await mux.submit(command("PING"), raw)
    finally:
        redis_server.thaw()


async def test_connecting_to_nothing_fails_fast() -> None:
    mux = mux_for("redis://127.0.0.1:1/0", timeout_s=5.0)
    try:
        started = time.monotonic()
        with pytest.raises(BudgetStoreUnavailableError):
            await mux.submit(command("PING"), raw, retries=1)
        assert time.monotonic() - started < 2.0
    finally:
        await mux.close()


async def test_redis_py_still_exposes_the_stream_batches_are_written_to(redis_url: str) -> None:
    conn = ConnectionPool.from_url(redis_url).make_connection()
    await conn.connect()
    try:
        assert isinstance(conn._writer, asyncio.StreamWriter)
    finally:
        await conn.disconnect()


async def test_replies_split_across_reads_and_packed_into_one_reach_their_callers(
    redis_server: RedisServer,
) -> None:
    opened: list[asyncio.StreamWriter] = []

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", redis_server.port)
        opened.extend([writer, up_writer])

        async def upstream() -> None:
            while data := await reader.read(65536):
                up_writer.write(data)
            up_writer.close()

        async def downstream() -> None:
            # Replies one byte at a time, each byte its own read on the other side.
            while data := await up_reader.read(65536):
                for i in range(len(data)):
                    writer.write(data[i : i + 1])
                    await writer.drain()
                    await asyncio.sleep(0.0005)
            writer.close()

        await asyncio.gather(upstream(), downstream(), return_exceptions=True)

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    mux = mux_for(f"redis://127.0.0.1:{port}/0")
    try:
        texts = [f"reply-{i}" * (i % 3 + 1) for i in range(12)]
        replies = await asyncio.gather(*(mux.submit(command("ECHO", t), raw) for t in texts))
        assert replies == [t.encode() for t in texts]
        text = mux.submit(command("SET", "mux:split", "text"), raw)
        bad = mux.submit(command("INCR", "mux:split"), raw)
        after = mux.submit(command("ECHO", "after"), raw)
        assert await text == b"OK"
        with pytest.raises(ResponseError):
            await bad  # an error reply still fails its caller alone
        assert await after == b"after"
    finally:
        await mux.close()
        for writer in opened:
            writer.transport.abort()
        server.close()
        await server.wait_closed()


async def test_a_malformed_reply_drops_the_link_and_the_next_call_reconnects() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Plays Redis: OK to the handshake, garbage for ECHO, PONG for PING.
        accepted.append(writer)
        parser = hiredis.Reader()
        while data := await reader.read(65536):
            parser.feed(data)
            while (request := parser.gets()) is not False:
                name = request[0].upper()
                writer.write(
                    b"?garbage\r\n"
                    if name == b"ECHO"
                    else b"+PONG\r\n"
                    if name == b"PING"
                    else b"+OK\r\n"
                )
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    mux = mux_for(f"redis://127.0.0.1:{port}/0")
    try:
        assert await mux.submit(command("PING"), raw) == b"PONG"
        with pytest.raises(BudgetStoreUnavailableError) as caught:
            await mux.submit(command("ECHO", "x"), raw)
        assert isinstance(caught.value.__cause__, redis.exceptions.InvalidResponse)
        assert await mux.submit(command("PING"), raw) == b"PONG"
        assert len(accepted) == 2
    finally:
        await mux.close()
        for writer in accepted:
            writer.transport.abort()
        server.close()
        await server.wait_closed()
