"""``policies check`` as a real command, and SIGHUP reloads in a real process."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.processes import ROOT

pytestmark = pytest.mark.integration

LINE_TIMEOUT_S = 60.0  # generous: a loaded 2-core machine; a healthy run takes well under 1 s

# Loads a registry, reloads it on SIGHUP and prints the names in force after each reload.
SCRIPT = """
import asyncio
import sys
from pathlib import Path

from gateway.policy.registry import PolicyRegistry


async def main() -> None:
    registry = PolicyRegistry.load(Path(sys.argv[1]))

    def report(ok: bool) -> None:
        names = ",".join(sorted(registry.names))
        print("reload", "ok" if ok else "rejected", names, flush=True)

    registry.install_sighup(asyncio.get_running_loop(), report)
    print("ready", ",".join(sorted(registry.names)), flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
"""


def check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.policy.cli", "check", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_passes_the_shipped_policies() -> None:
    done = check("policies")
    assert (done.returncode, done.stdout, done.stderr) == (0, "ok: 4 policies\n", "")


def test_check_reports_path_line_field_and_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\npii:\n  output: true\n  actions: {SSN: block}\n")
    done = check(str(ROOT / "policies" / "strict.yaml"), str(bad))
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"{bad}:4: pii.actions.SSN: unknown entity type 'SSN'; did you mean"
        " US_SOCIAL_SECURITY_NUMBER?"
    ]


def test_check_json(tmp_path: Path) -> None:
    (tmp_path / "other.yaml").write_text("version: 1\n")
    done = check("--json", str(tmp_path))
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert (report["ok"], report["policies"]) == (False, ["other"])
    assert [(e["path"], e["line"], e["field"]) for e in report["errors"]] == [
        (str(tmp_path), None, "(directory)")
    ]


class Lines:
    """Lines a process prints, read on a thread so a test can wait with a timeout."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        stream = proc.stdout

        def pump() -> None:
            for line in stream:
                self._lines.put(line)

        threading.Thread(target=pump, daemon=True).start()

    def next(self) -> str:
        return self._lines.get(timeout=LINE_TIMEOUT_S).rstrip("\n")


@pytest.fixture
def reloader(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Lines, Path]]:
    directory = tmp_path / "policies"
    directory.mkdir()
    (directory / "default.yaml").write_text("version: 1\n")
    script = tmp_path / "reloader.py"
    script.write_text(textwrap.dedent(SCRIPT))
    proc = subprocess.Popen(
        [sys.executable, str(script), str(directory)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc, Lines(proc), directory
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_sighup_swaps_on_good_files_and_keeps_the_old_set_on_a_bad_one(
    reloader: tuple[subprocess.Popen[str], Lines, Path],
) -> None:
    proc, lines, directory = reloader
    assert lines.next() == "ready default"

    (directory / "team-a.yaml").write_text("version: 1\npii: {default_action: block}\n")
    proc.send_signal(signal.SIGHUP)
    assert lines.next() == "reload ok default,team-a"

    (directory / "team-b.yaml").write_text("version: 1\npii: {input: perhaps}\n")
    proc.send_signal(signal.SIGHUP)
    assert lines.next() == "reload rejected default,team-a"

    (directory / "team-b.yaml").write_text("version: 1\npii: {input: false}\n")
    proc.send_signal(signal.SIGHUP)
    assert lines.next() == "reload ok default,team-a,team-b"
    assert proc.poll() is None
