"""Writing a ConverseStream reply event by event, paced, and noticing when the client leaves."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from gateway.emulator import responses, wire
from gateway.emulator.behaviour import Plan
from gateway.emulator.directives import Directives
from gateway.emulator.pacer import Pacer
from gateway.emulator.protocol import AsyncResponder, Channel
from gateway.emulator.state import State

# Most events gathered into one write.
BATCH = 256


class Pacing(NamedTuple):
    """When bytes go out: a delay before the headers, between tokens, and one stall."""

    before_ms: float
    token_delay_ms: float
    stall_after: int | None
    stall_ms: float

    def total_ms(self, tokens: int) -> float:
        """How long the whole reply takes (what a non-streaming reply waits before answering)."""
        total = self.before_ms + self.token_delay_ms * max(0, tokens - 1)
        if self.stall_after is not None and self.stall_after <= tokens:
            total += self.stall_ms
        return total


def delayed(delay_ms: float, build: Callable[[], bytes]) -> AsyncResponder:
    """A responder that waits ``delay_ms`` and then writes ``build()`` (a complete response)."""

    async def respond(channel: Channel) -> None:
        await asyncio.sleep(delay_ms / 1000)
        channel.write(build())

    return respond


class StreamReply(NamedTuple):
    """Everything one ConverseStream response is made of."""

    plan: Plan
    knobs: Directives
    pacing: Pacing
    request_id: bytes
    keep_alive: bool
    started: float  # time.monotonic() when the request arrived, for metrics.latencyMs
    trace: dict[str, Any] | None


def converse_stream(state: State, pacer: Pacer, reply: StreamReply) -> AsyncResponder:
    """The responder for one ConverseStream call whose HTTP status is 200."""

    async def respond(channel: Channel) -> None:
        state.stats.active_streams += 1
        finished = False
        try:
            finished = await _write(channel, pacer, reply)
        finally:
            # The stats object may have been replaced by a reset meanwhile: look it up again.
            stats = state.stats
            stats.active_streams -= 1
            if finished:
                stats.streams_completed += 1
            else:
                stats.streams_cancelled += 1

    return respond


async def _write(channel: Channel, pacer: Pacer, reply: StreamReply) -> bool:
    """Write the stream; False as soon as the client has gone away.

    Events are gathered while they are due at the same moment and written together just
    before the stream waits (or every ``BATCH`` events): each event still leaves as soon as
    it is produced, without one system call per event when nothing separates them in time.
    """
    plan, knobs, pacing = reply.plan, reply.knobs, reply.pacing
    if pacing.before_ms:
        await asyncio.sleep(pacing.before_ms / 1000)
    if channel.is_closed():
        return False
    start, deltas = wire.content_events(plan)
    out = [responses.stream_head(reply.request_id, reply.keep_alive), wire.message_start()]
    if start is not None:
        out.append(start)

    failing = knobs.stream_error is not None or bool(knobs.stream_error_generic)
    error_at = knobs.stream_error_after if failing else -1
    delay = pacing.token_delay_ms / 1000
    stall = pacing.stall_ms / 1000
    timed = bool(delay or stall)
    # Token i is due at base + i * delay: an absolute schedule, so timer lateness never
    # accumulates over a long reply. A stall shifts the rest of the schedule.
    base = asyncio.get_running_loop().time()
    for i, delta in enumerate(deltas):
        if i == pacing.stall_after:
            base += stall
        if timed:
            waiter = pacer.until(base + i * delay)
            if waiter is not None:
                if not await _flush(channel, out):
                    return False
                await waiter
        if i == error_at:
            out.append(_failure(knobs))
            return await _flush(channel, out)
        out.append(delta)
        if len(out) >= BATCH and not await _flush(channel, out):
            return False
    if pacing.stall_after == len(deltas) and stall:
        if not await _flush(channel, out):
            return False
        await asyncio.sleep(stall)
    if failing:
        # Asked to fail after more tokens than the reply has: fail after the last one.
        out.append(_failure(knobs))
        return await _flush(channel, out)
    latency_ms = int((time.monotonic() - reply.started) * 1000)
    out += (
        wire.block_stop(),
        wire.message_stop(plan.stop_reason),
        wire.metadata(plan, knobs, latency_ms, reply.trace),
        responses.LAST_CHUNK,
    )
    return await _flush(channel, out)


async def _flush(channel: Channel, out: list[bytes]) -> bool:
    """Write what is pending; False if the client has gone away."""
    if channel.is_closed():
        return False
    if out:
        slow = channel.write(b"".join(out))
        out.clear()
        if slow:
            await channel.drain()
    return not channel.is_closed()


def _failure(knobs: Directives) -> bytes:
    """The event that ends a failing stream, and the end of the chunked body."""
    if knobs.stream_error is not None:
        return wire.stream_exception(knobs.stream_error) + responses.LAST_CHUNK
    generic = knobs.stream_error_generic
    code = generic if isinstance(generic, str) else "InternalFailure"
    return wire.stream_generic_error(code) + responses.LAST_CHUNK
