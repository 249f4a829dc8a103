"""Asyncio load client for streamed replies: time to first token, total latency, errors.

Runs as its own process (``python -m benchmarks.streamload ...``) so it never shares an event
loop with what it measures. ``--concurrency`` workers each send one request after another for
``--warmup`` + ``--duration`` seconds; only requests that finish inside the measured window count
towards rate and latency, but every error counts. It prints ``PHASE measure`` / ``PHASE done`` at
the window's edges (the runner samples server CPU there) and one ``STREAM_RESULT {json}`` line.

To stay cheap it fully decodes events only until the first content token; after that it only
watches for an error event and for the stream's last event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec

from benchmarks.httpconn import Connection, connect, request_bytes

_DONE = b"[DONE]"


class SseReader:
    """OpenAI server-sent events: the first chunk with non-empty ``delta.content`` is the token."""

    __slots__ = ("_buf", "error", "finished", "first")

    def __init__(self) -> None:
        self._buf = b""
        self.first = False
        self.finished = False
        self.error = False

    def feed(self, data: bytes) -> None:
        events = (self._buf + data).split(b"\n\n")
        self._buf = events.pop()
        for event in events:
            if not event.startswith(b"data:"):
                continue  # comments and keep-alives
            payload = event[5:].strip()
            if payload.startswith(b'{"error"'):
                self.error = True
            elif payload == _DONE:
                self.finished = True
            elif not self.first:
                self.first = _has_content(payload)


def _has_content(payload: bytes) -> bool:
    try:
        chunk = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return False
    choices = chunk.get("choices") if isinstance(chunk, dict) else None
    if not choices:
        return False
    delta = choices[0].get("delta") or {}
    return bool(delta.get("content"))


class EventStreamReader:
    """AWS event stream (emulator direct): the first ``contentBlockDelta`` event is the token.

    CRCs are not checked: the emulator's encoder is verified elsewhere and this must stay cheap.
    """

    __slots__ = ("_buf", "error", "finished", "first")

    def __init__(self) -> None:
        self._buf = bytearray()
        self.first = False
        self.finished = False
        self.error = False

    def feed(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        while len(buf) >= 12:
            total = int.from_bytes(buf[0:4], "big")
            if len(buf) < total:
                break
            heads = bytes(buf[12 : 12 + int.from_bytes(buf[4:8], "big")])
            del buf[:total]
            if b"exception" in heads or b":error-code" in heads:
                self.error = True
            elif b"contentBlockDelta" in heads:
                self.first = True
            elif b"\x08metadata" in heads:  # metadata is the last event of a stream
                self.finished = True


@dataclass(slots=True)
class Stats:
    measure_start: float = math.inf
    measure_end: float = math.inf
    latencies: list[float] = field(default_factory=list)
    ttfts: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    inflight: int = 0
    peak_inflight: int = 0


async def _one(conn: Connection, raw: bytes, wire: str, timeout: float, stats: Stats) -> bool:
    """One request on ``conn``; False when the connection cannot be used again."""
    reader: SseReader | EventStreamReader = SseReader() if wire == "sse" else EventStreamReader()
    start = time.perf_counter()
    stats.inflight += 1
    if start >= stats.measure_start:
        stats.peak_inflight = max(stats.peak_inflight, stats.inflight)
    try:
        async with asyncio.timeout(timeout):
            status = await conn.exchange(raw, reader)
    except (TimeoutError, OSError) as exc:
        stats.errors[type(exc).__name__] += 1
        return False
    finally:
        stats.inflight -= 1
    end = time.perf_counter()
    if status != 200:
        stats.errors[f"status_{status}"] += 1
    elif reader.error:
        stats.errors["stream_error"] += 1
    elif not reader.finished:
        stats.errors["incomplete"] += 1
    elif not conn.first_at:
        stats.errors["no_token"] += 1
    elif stats.measure_start <= end < stats.measure_end:
        stats.latencies.append(end - start)
        stats.ttfts.append(conn.first_at - start)
    return not conn.closed


async def _worker(args: argparse.Namespace, raw: bytes, stats: Stats, delay: float) -> None:
    """Requests one after another on a kept-alive connection, reconnecting when it breaks."""
    host, port = args.host, args.port
    await asyncio.sleep(delay)
    conn: Connection | None = None
    while time.perf_counter() < stats.measure_end:
        if conn is None or conn.closed:
            try:
                conn = await connect(host, port)
            except OSError as exc:
                stats.errors[f"connect_{type(exc).__name__}"] += 1
                await asyncio.sleep(0.1)  # don't spin on a refusing server
                continue
        if not await _one(conn, raw, args.wire, args.request_timeout, stats):
            conn.close()
            conn = None
    if conn is not None:
        conn.close()


def _pct(values: Sequence[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1000


async def _main(args: argparse.Namespace) -> dict[str, object]:
    with open(args.body_file, "rb") as f:
        body = f.read()
    args.host, args.port, raw = request_bytes(args.url, body, args.authorization)
    stats = Stats()
    t0 = time.perf_counter()
    stats.measure_start = t0 + args.warmup
    stats.measure_end = stats.measure_start + args.duration
    # Open connections gradually during warm-up rather than as one burst of SYNs.
    ramp = min(1.0, args.warmup / 2)
    workers = [
        asyncio.create_task(_worker(args, raw, stats, ramp * i / args.concurrency))
        for i in range(args.concurrency)
    ]
    await asyncio.sleep(max(0.0, stats.measure_start - time.perf_counter()))
    print("PHASE measure", flush=True)
    cpu0 = time.process_time()
    await asyncio.sleep(max(0.0, stats.measure_end - time.perf_counter()))
    cpu = time.process_time() - cpu0
    print("PHASE done", flush=True)
    await asyncio.gather(*workers)
    return {
        "completed": len(stats.latencies),
        "seconds": args.duration,
        "p50_ms": _pct(stats.latencies, 50),
        "p99_ms": _pct(stats.latencies, 99),
        "ttft_p50_ms": _pct(stats.ttfts, 50),
        "ttft_p99_ms": _pct(stats.ttfts, 99),
        "errors": sum(stats.errors.values()),
        "error_kinds": dict(stats.errors),
        "peak_inflight": stats.peak_inflight,
        "cpu_s": cpu,  # this client's own CPU time inside the window
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--wire", choices=("sse", "eventstream"), required=True)
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--authorization", default="")
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--request-timeout", type=float, default=60.0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        import uvloop
    except ImportError:  # plain asyncio still works, just costs more CPU per event
        result = asyncio.run(_main(args))
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            result = runner.run(_main(args))
    print("STREAM_RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
