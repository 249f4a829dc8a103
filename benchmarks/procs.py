"""Start, pin, watch and stop the processes under test; read their CPU time and RSS from /proc."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pin(cmd: Sequence[str], core: int | None) -> list[str]:
    """Prefix ``cmd`` with ``taskset -c core``; unchanged when core is None or taskset is absent."""
    if core is None or shutil.which("taskset") is None:
        return list(cmd)
    return ["taskset", "-c", str(core), *cmd]


def cores_available() -> int:
    return len(os.sched_getaffinity(0))


def repin(pids: Sequence[int], core: int | None) -> None:
    """Move every thread of the given running processes onto ``core`` (None: leave them)."""
    if core is None:
        return
    for pid in pids:
        try:
            tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:  # the process has exited
            continue
        for tid in tids:
            try:
                os.sched_setaffinity(tid, {core})
            except OSError:  # the thread has exited
                continue


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # the process ended while we walked /proc
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def tree(root: int) -> list[int]:
    """``root`` and all its live descendants (a server's supervisor plus its workers)."""
    children = _children_map()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def cpu_seconds(pids: Sequence[int]) -> float:
    """utime + stime of the given processes (all their threads), in seconds."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        # Fields 14 and 15 of stat(5); index 0 here is field 3 (state).
        ticks += int(fields[11]) + int(fields[12])
    return ticks / _TICK


def machine_busy_seconds() -> float:
    """CPU seconds spent by all processes on the machine (everything but idle and iowait)."""
    with open("/proc/stat", "rb") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    # guest time (fields 8+) is already counted in user; steal is time we did not get.
    return (sum(fields[:8]) - idle) / _TICK


def peak_rss_bytes(pids: Sequence[int]) -> list[int]:
    """VmHWM (peak resident set) of each of the given processes that is still alive."""
    peaks = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"VmHWM:"):
                        peaks.append(int(line.split()[1]) * 1024)
                        break
        except OSError:
            continue
    return peaks


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The status a GET on ``url`` answers with, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return None


def post_json(url: str, body: bytes, timeout: float = 5.0) -> int:
    req = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return int(resp.status)


@dataclass(slots=True)
class Service:
    """A running ``python -m gateway ...`` process group."""

    name: str
    proc: subprocess.Popen[bytes]
    url: str

    @property
    def pid(self) -> int:
        return self.proc.pid

    def pids(self) -> list[int]:
        return tree(self.proc.pid)


def _wait_ready(proc: subprocess.Popen[bytes], url: str, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").splitlines()[-5:]
            raise RuntimeError(
                f"{url}: process exited with {proc.returncode}; see {log}:\n" + "\n".join(tail)
            )
        if http_status(url, timeout=1.0) == 200:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f}s; see {log}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    # The service runs in its own session, so its process group holds exactly its workers.
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextmanager
def service(
    name: str,
    args: Sequence[str],
    *,
    base_url: str,
    ready_path: str,
    core: int | None,
    env: Mapping[str, str],
    log: Path,
    timeout: float = 30.0,
) -> Iterator[Service]:
    """Run ``python -m gateway <args>`` pinned to ``core``; yield once ``ready_path`` says 200."""
    full_env = {**os.environ, **env}
    full_env.pop("AWS_BEARER_TOKEN_BEDROCK", None)
    cmd = pin([sys.executable, "-m", "gateway", *args], core)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_ready(proc, base_url + ready_path, timeout, log)
            yield Service(name, proc, base_url)
        finally:
            _stop(proc)
