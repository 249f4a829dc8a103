"""The two load generators as the runner sees them: wrk (plain calls), the stream client.

Each runs as its own process (pinned to the load core) and calls ``mark("measure")`` /
``mark("done")`` around its measured window so the runner can read the server's CPU time there.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.payloads import Request
from benchmarks.procs import ROOT, pin

LUA_SCRIPT = Path(__file__).with_name("plain.lua")
WRK_MISSING = "wrk is not installed: run `apt-get install wrk` (see benchmarks/README.md)"


@dataclass(slots=True)
class LoadResult:
    """What one load-generator run measured inside its window."""

    completed: int
    seconds: float
    p50_ms: float | None  # None when nothing completed in the window
    p99_ms: float | None
    errors: int
    ttft_p50_ms: float | None = None
    ttft_p99_ms: float | None = None
    error_kinds: dict[str, int] = field(default_factory=dict)
    loadgen_cpu_s: float = 0.0
    loadgen_wall_s: float = 0.0
    peak_inflight: int | None = None

    @property
    def rps(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else 0.0

    @property
    def loadgen_util(self) -> float | None:
        """The load generator's CPU seconds per wall second: near 1.0 means it may be the cap."""
        return self.loadgen_cpu_s / self.loadgen_wall_s if self.loadgen_wall_s > 0 else None


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit(WRK_MISSING)
    return path


def _clocks() -> tuple[float, float]:
    """(wall, CPU of reaped children): deltas around one load process give its own CPU use."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.monotonic(), usage.ru_utime + usage.ru_stime


def _wrk(
    req: Request, body_file: str, concurrency: int, seconds: float, core: int | None
) -> tuple[dict[str, float], tuple[float, float]]:
    cmd = pin(
        [
            require_wrk(),
            "-t1",  # one thread: the load core is a single core
            f"-c{concurrency}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "30s",
            "-s",
            str(LUA_SCRIPT),
            req.url,
        ],
        core,
    )
    env = {**os.environ, "BENCH_BODY_FILE": body_file, "BENCH_AUTH": req.authorization}
    wall0, cpu0 = _clocks()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall1, cpu1 = _clocks()
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            return json.loads(line.removeprefix("BENCH_RESULT ")), (cpu1 - cpu0, wall1 - wall0)
    raise RuntimeError(f"wrk gave no result (exit {done.returncode}): {done.stderr or done.stdout}")


def run_plain(
    req: Request,
    concurrency: int,
    seconds: float,
    warmup: float,
    core: int | None,
    mark: Callable[[str], None],
) -> LoadResult:
    """Warm up, then one measured wrk run bracketed by ``mark`` calls."""
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as f:
        f.write(req.body)
        body_file = f.name
    try:
        if warmup > 0:
            _wrk(req, body_file, concurrency, warmup, core)
        mark("measure")
        raw, (cpu, wall) = _wrk(req, body_file, concurrency, seconds, core)
        mark("done")
    finally:
        os.unlink(body_file)
    kinds = {k: int(raw[k]) for k in ("connect", "read", "write", "status", "timeout") if raw[k]}
    return LoadResult(
        completed=int(raw["requests"]),
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        errors=sum(kinds.values()),
        error_kinds=kinds,
        loadgen_cpu_s=cpu,
        loadgen_wall_s=wall,
    )


def run_streams(
    req: Request,
    concurrency: int,
    seconds: float,
    warmup: float,
    core: int | None,
    mark: Callable[[str], None],
) -> LoadResult:
    """Run benchmarks.streamload in its own process; it prints phase lines, then one JSON line."""
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as f:
        f.write(req.body)
        body_file = f.name
    cmd = pin(
        [
            sys.executable,
            "-m",
            "benchmarks.streamload",
            "--url",
            req.url,
            "--wire",
            req.wire,
            "--body-file",
            body_file,
            "--authorization",
            req.authorization,
            "--concurrency",
            str(concurrency),
            "--duration",
            str(seconds),
            "--warmup",
            str(warmup),
        ],
        core,
    )
    result: dict[str, object] | None = None
    try:
        with subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("PHASE "):
                    mark(line.split()[1])
                elif line.startswith("STREAM_RESULT "):
                    result = json.loads(line.removeprefix("STREAM_RESULT "))
        if proc.returncode != 0 or result is None:
            raise RuntimeError(f"stream client failed (exit {proc.returncode})")
    finally:
        os.unlink(body_file)
    return _stream_result(result)


def _stream_result(raw: dict[str, object]) -> LoadResult:
    def num(key: str) -> float:
        value = raw[key]
        assert isinstance(value, int | float)
        return float(value)

    def maybe(key: str) -> float | None:
        return None if raw[key] is None else num(key)

    kinds = raw["error_kinds"]
    assert isinstance(kinds, dict)
    return LoadResult(
        completed=int(num("completed")),
        seconds=num("seconds"),
        p50_ms=maybe("p50_ms"),
        p99_ms=maybe("p99_ms"),
        errors=int(num("errors")),
        ttft_p50_ms=maybe("ttft_p50_ms"),
        ttft_p99_ms=maybe("ttft_p99_ms"),
        error_kinds={str(k): int(v) for k, v in kinds.items()},
        loadgen_cpu_s=num("cpu_s"),
        loadgen_wall_s=num("seconds"),
        peak_inflight=int(num("peak_inflight")),
    )
