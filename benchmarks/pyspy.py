"""Optional py-spy sampling of the gateway during a measured window, summarised as hot spots."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from benchmarks.procs import pin

PY_SPY_MISSING = "py-spy is not installed: run `.venv/bin/pip install py-spy` to use --profile"


def require_py_spy() -> str:
    path = shutil.which("py-spy") or shutil.which(str(Path(".venv/bin/py-spy").resolve()))
    if path is None:
        raise SystemExit(PY_SPY_MISSING)
    return path


@dataclass(slots=True)
class Sampler:
    """A running ``py-spy record`` that writes collapsed stacks (and a flame graph after)."""

    proc: subprocess.Popen[bytes]
    raw: Path

    def wait(self) -> None:
        self.proc.wait(timeout=60)


def start(pid: int, seconds: float, raw: Path, core: int | None) -> Sampler:
    """Sample ``pid`` and its subprocesses (granian's worker) for ``seconds``.

    --nonblocking: the target is not paused per sample, so the profile barely slows it.
    """
    raw.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        require_py_spy(), "record", "--pid", str(pid), "--subprocesses", "--nonblocking",
        "--rate", "250", "--duration", str(max(1, round(seconds))), "--format", "raw",
        "--output", str(raw),
    ]  # fmt: skip
    proc = subprocess.Popen(pin(cmd, core), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return Sampler(proc, raw)


def _frames(raw: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


# Frames every sample passes through (process start-up, the server's run loop): not hot spots.
_BASE = ("<frozen runpy>", "gateway/__main__.py", "gateway/cli.py", "gateway/server.py")


@dataclass(frozen=True, slots=True)
class HotSpots:
    """Shares of all samples: self time per frame and per package, inclusive per project frame."""

    own: list[tuple[str, float]]
    packages: list[tuple[str, float]]
    project: list[tuple[str, float]]


def _package(frame: str) -> str:
    """``f (litestar/app.py:623)`` → ``litestar``; a file with no folder → its module name."""
    where = frame[frame.rfind("(") + 1 :]
    return where.split("/", 1)[0] if "/" in where else where.split(".py", 1)[0]


def hot_spots(raw: Path, top: int = 15) -> HotSpots:
    """Self time where the sample's innermost frame is; inclusive for frames in ``gateway/``.

    Time the event loop spends in C (uvloop, sockets) is charged to the innermost Python frame
    below it, usually ``Runner.run``.
    """
    stacks = _frames(raw)
    total = sum(count for _, count in stacks) or 1
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    project: Counter[str] = Counter()
    for frames, count in stacks:
        # With --subprocesses the first entry labels the process, not a frame.
        frames = [f for f in frames if f.endswith(")") and not f.startswith("process ")]
        if not frames:
            continue
        own[frames[-1]] += count
        packages[_package(frames[-1])] += count
        for frame in set(frames):
            if "(gateway/" in frame and not any(base in frame for base in _BASE):
                project[frame] += count

    def shares(counter: Counter[str], n: int) -> list[tuple[str, float]]:
        return [(key, value / total) for key, value in counter.most_common(n)]

    return HotSpots(shares(own, top), shares(packages, 10), shares(project, top))


def markdown(title: str, raw: Path, top: int = 15) -> list[str]:
    spots = hot_spots(raw, top)
    lines = [f"### {title}", "", f"Collapsed stacks: `{raw.name}` (shares of all samples).", ""]
    for head, rows in (
        ("self % | innermost frame", spots.own),
        ("self % | package", spots.packages),
        ("inclusive % | project frame (gateway/)", spots.project),
    ):
        lines += [f"| {head} |", "|---|---|"]
        lines += [f"| {share * 100:.1f} | `{name}` |" for name, share in rows]
        lines.append("")
    return lines
