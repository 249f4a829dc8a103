"""Flow control and pacing: slow readers, shared tick timers, stream bookkeeping."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from gateway.emulator import stream
from gateway.emulator.behaviour import Plan, word_pieces
from gateway.emulator.directives import NONE, Directives
from gateway.emulator.pacer import Pacer
from gateway.emulator.protocol import HttpProtocol, Request
from gateway.emulator.state import State


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


def protocol(app: Any = None) -> tuple[HttpProtocol, FakeTransport]:
    proto = HttpProtocol(app or (lambda request: b"unused"), set())
    transport = FakeTransport()
    proto.connection_made(transport)  # type: ignore[arg-type]
    return proto, transport


async def test_drain_waits_for_resume_writing() -> None:
    proto, transport = protocol()
    assert proto.write(b"a") is False
    proto.pause_writing()
    assert proto.write(b"b") is True
    waiter = asyncio.create_task(proto.drain())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    proto.resume_writing()
    await asyncio.wait_for(waiter, 5)
    assert transport.written == [b"a", b"b"]


async def test_connection_lost_releases_a_waiting_writer() -> None:
    proto, transport = protocol()
    proto.pause_writing()
    waiter = asyncio.create_task(proto.drain())
    await asyncio.sleep(0.01)
    proto.connection_lost(None)
    await asyncio.wait_for(waiter, 5)
    assert proto.is_closed()
    proto.write(b"late")
    assert transport.written == []


class SlowChannel:
    """Says "slow down" after every write and counts the waits."""

    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.drains = 0

    def is_closed(self) -> bool:
        return False

    def write(self, data: bytes) -> bool:
        self.data.append(data)
        return True

    async def drain(self) -> None:
        self.drains += 1
        await asyncio.sleep(0)


def reply(tokens: int, knobs: Directives = NONE, delay_ms: float = 0.0) -> stream.StreamReply:
    plan = Plan(word_pieces(tokens), None, "end_turn", 1, tokens)
    pacing = stream.Pacing(0.0, delay_ms, knobs.stall_after, knobs.stall_ms)
    return stream.StreamReply(plan, knobs, pacing, b"rid", True, time.monotonic(), None)


async def test_streams_wait_for_slow_readers_between_writes() -> None:
    state = State()
    channel = SlowChannel()
    await stream.converse_stream(state, Pacer(), reply(600))(channel)
    # Unpaced tokens go out in batches, and the stream waits for the reader after each.
    assert channel.drains == len(channel.data) >= 600 // stream.BATCH + 1
    assert b"".join(channel.data).count(b"contentBlockDelta") == 600
    assert state.stats.streams_completed == 1
    assert state.stats.active_streams == 0


class EveryTokenWaits(Pacer):
    """A pacer for which no token is ever due yet: each one waits a loop turn."""

    def until(self, when: float) -> asyncio.Future[None] | None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(future.set_result, None)
        return future


async def test_paced_tokens_leave_one_write_each() -> None:
    # Whatever is pending goes out before every wait, so a waiting token is never held back.
    channel = SlowChannel()
    await stream.converse_stream(State(), EveryTokenWaits(), reply(5, delay_ms=2))(channel)
    # The head, then one write per token (the last one with the closing events).
    assert [chunk.count(b"contentBlockDelta") for chunk in channel.data] == [0, 1, 1, 1, 1, 1]
    assert b"messageStart" in channel.data[0]
    assert b"metadata" in channel.data[-1]


async def test_a_stream_error_ends_the_stream_after_n_tokens() -> None:
    state = State()
    channel = SlowChannel()
    knobs = Directives(stream_error="throttlingException", stream_error_after=3)
    await stream.converse_stream(state, Pacer(), reply(10, knobs))(channel)
    body = b"".join(channel.data)
    assert body.count(b"contentBlockDelta") == 3
    assert b"throttlingException" in body
    assert body.endswith(b"0\r\n\r\n")
    assert b"messageStop" not in body


async def test_cancelled_streams_are_counted() -> None:
    state = State()
    channel = SlowChannel()
    task = asyncio.create_task(
        stream.converse_stream(state, Pacer(), reply(10, delay_ms=1000))(channel)
    )
    await asyncio.sleep(0.05)
    assert state.stats.active_streams == 1
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert (state.stats.active_streams, state.stats.streams_cancelled) == (0, 1)


async def test_pacer_wakes_waiters_on_shared_ticks() -> None:
    pacer = Pacer()
    loop = asyncio.get_running_loop()
    assert pacer.until(loop.time() - 1) is None
    due = loop.time() + 0.02
    first, second = pacer.until(due), pacer.until(due)
    assert first is not None and second is not None and first is not second
    first.cancel()  # one stream going away must not disturb the other
    await asyncio.wait_for(second, 5)
    assert loop.time() >= due


async def test_pipelined_requests_wait_for_the_slow_one() -> None:
    order: list[str] = []

    def app(request: Request) -> Any:
        if request.path == b"/slow":

            async def respond(channel: Any) -> None:
                await asyncio.sleep(0.02)
                order.append("slow")
                channel.write(b"slow-response")

            return respond
        order.append("fast")
        return b"fast-response"

    proto, transport = protocol(app)
    raw = b"GET /slow HTTP/1.1\r\nHost: e\r\n\r\nGET /fast HTTP/1.1\r\nHost: e\r\n\r\n"
    proto.data_received(raw)
    assert order == []
    for _ in range(200):
        if len(transport.written) == 2:
            break
        await asyncio.sleep(0.01)
    assert order == ["slow", "fast"]
    assert transport.written == [b"slow-response", b"fast-response"]
