"""The scrape side of multiprocess mode: reading every worker's files, forgetting dead workers.

Counters and histograms of a dead worker stay in the scrape (totals never go backwards); its
live gauges (in-flight requests, active streams) go. uvicorn's supervisor restarts a dead worker
but offers no exit hook, so each scrape checks which worker pids are gone; a supervisor that
has such a hook may call :func:`mark_process_dead` itself.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import multiprocess as mp
from prometheus_client.metrics_core import Metric

from gateway.metrics_multiproc import MULTIPROC_ENV


class WorkerFilesCollector(mp.MultiProcessCollector):
    """prometheus_client's multiprocess collector, minus files a starting worker has created
    but not yet sized: the library reads a 4-byte header from each file, and one empty file
    would fail the whole scrape. Once sized, a file never shrinks, so the check cannot race."""

    def __init__(self, path: str) -> None:
        # Not registered here: Metrics registers it, after this constructor has run.
        super().__init__(None, path=path)  # type: ignore[no-untyped-call]
        self._dir = path

    def collect(self) -> Iterable[Metric]:
        files = [str(p) for p in Path(self._dir).glob("*.db") if _sized(p)]
        return self.merge(files, accumulate=True)  # type: ignore[no-any-return,no-untyped-call]


def _sized(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:  # a dead worker's live gauges, removed since the glob
        return False


def mark_process_dead(pid: int, path: str | None = None) -> None:
    """Drop a dead worker's live gauges (in-flight, active streams) from the scrape.

    A supervisor with an exit hook may call this; :meth:`Metrics.render` also does it for any
    worker it finds gone, since uvicorn's supervisor offers no such hook. Counters and
    histograms of dead workers stay: totals must never go backwards.
    """
    directory = path or os.environ.get(MULTIPROC_ENV)
    if directory:
        mp.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


def forget_dead_workers(path: str) -> None:
    """Drop the live gauges of every worker that is gone (called at each scrape)."""
    for pid in live_gauge_pids(path):
        if not pid_alive(pid):
            # Two workers rendering at once may both find the same dead pid.
            with contextlib.suppress(FileNotFoundError):
                mp.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


def live_gauge_pids(path: str) -> set[int]:
    """Process ids that own ``live*`` gauge files (in-flight requests, active streams)."""
    pids: set[int] = set()
    for file in Path(path).glob("gauge_live*_*.db"):
        tail = file.stem.rsplit("_", 1)[-1]
        if tail.isdigit():
            pids.add(int(tail))
    return pids


def pid_alive(pid: int) -> bool:
    """True while ``pid`` names a running process on this host (signal 0 probes, sends nothing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        # It exists but belongs to someone else: alive for our purposes.
        return True
    return True
