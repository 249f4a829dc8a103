"""The conditions a run was measured under: machine, pinning, background load, settings."""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import payloads
from benchmarks.load import require_wrk
from benchmarks.procs import cores_available, machine_busy_seconds

# Other processes using more than this share of a core make the figures unreliable.
BACKGROUND_OK = 0.1


def background_load(seconds: float = 1.0) -> float:
    """Cores' worth of CPU used by other processes before we start anything."""
    before = machine_busy_seconds()
    time.sleep(seconds)
    return (machine_busy_seconds() - before) / seconds


def describe(
    args: argparse.Namespace,
    gateway_core: int | None,
    load_core: int | None,
    started: str,
    background: float,
) -> dict[str, object]:
    """The run's conditions, listed at the top of the report."""
    wrk = subprocess.run([require_wrk(), "-v"], capture_output=True, text=True, check=False)
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    pinning = (
        f"gateway on core {gateway_core}, emulator and load generators on core "
        f"{load_core} (taskset); for direct rows the emulator is moved to core "
        f"{gateway_core}"
        if load_core is not None
        else "none"
    )
    return {
        "started": started,
        "command": " ".join(["python -m benchmarks.run", *sys.argv[1:]]),
        "machine": f"{cores_available()} cores ({cpu}), Linux {platform.release()}",
        "python": platform.python_version(),
        "load generators": f"{(wrk.stdout or wrk.stderr).splitlines()[0]} (plain), "
        "benchmarks.streamload, asyncio + httptools (streams)",
        "pinning": pinning,
        "per scenario": f"{args.warmup:g} s warm-up, then {args.duration:g} s measured",
        "prompt": f"~{payloads.PROMPT_BYTES} bytes, model {payloads.GATEWAY_MODEL}",
        "priority": f"nice {args.nice}",
        "profiling": "py-spy sampling the gateway at 250 Hz (figures slightly lower than without)"
        if args.profile
        else "off",
        "background load at start": f"{background * 100:.0f}% of one core"
        + (" — the machine was not idle; figures are noisy" if background > BACKGROUND_OK else ""),
    }
