"""Real worker processes share one PROMETHEUS_MULTIPROC_DIR; any one scrape sums them all."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.metrics_multiproc import MULTIPROC_ENV, prepare_multiprocess_dir

pytestmark = pytest.mark.integration

MODEL = "claude-3-haiku"
WORKERS = 3
REPLY_TIMEOUT = 60.0  # generous: a loaded 2-core machine starts interpreters slowly

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def worker(conn: Connection, index: int) -> None:
    """One gateway worker: records ``index + 1`` requests, keeps one request and one stream
    open, then answers commands until told to stop. Runs in a spawned interpreter, so
    prometheus_client is imported here for the first time, with the directory already set."""
    from gateway.metrics import Metrics

    metrics = Metrics([MODEL], team_cap=10)
    n = index + 1
    for _ in range(n):
        metrics.record_request(
            model=MODEL, team="team-a", stream=False, status=200, duration_s=0.2, upstream_s=0.19
        )
        metrics.record_tokens(model=MODEL, team="team-a", input_tokens=100, output_tokens=10)
    metrics.record_upstream(MODEL, "converse", 0.19)
    metrics.set_budget("team-a", "day", limit=1000, remaining=900)
    metrics.request_started()
    metrics.stream_started()
    conn.send(("ready", os.getpid()))
    while True:
        command, arg = conn.recv()
        if command == "render":
            conn.send(metrics.render())
        elif command == "remaining":
            metrics.set_budget("team-a", "day", limit=1000, remaining=int(arg))
            conn.send("ok")
        elif command == "stop":
            return


class Worker:
    def __init__(self, proc: Any, conn: Connection) -> None:
        self.proc = proc
        self.conn = conn

    def ask(self, command: str, arg: object = None) -> Any:
        self.conn.send((command, arg))
        if not self.conn.poll(REPLY_TIMEOUT):
            raise AssertionError(f"worker {self.proc.pid} did not answer {command!r}")
        return self.conn.recv()


@contextmanager
def workers(directory: str, count: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Worker]]:
    # Spawned children inherit the environment at start(), as uvicorn's workers do.
    monkeypatch.setenv(MULTIPROC_ENV, directory)
    ctx = multiprocessing.get_context("spawn")
    started: list[Worker] = []
    try:
        for index in range(count):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker, args=(child, index), daemon=True)
            proc.start()
            started.append(Worker(proc, parent))
        for w in started:
            if not w.conn.poll(REPLY_TIMEOUT):
                raise AssertionError(f"worker {w.proc.pid} did not start")
            assert w.conn.recv() == ("ready", w.proc.pid)
        yield started
    finally:
        for w in started:
            if w.proc.is_alive():
                # It may die between the check and the send; then there is nothing to stop.
                with contextlib.suppress(OSError):
                    w.conn.send(("stop", None))
                w.proc.join(timeout=10)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join()


def parse(body: bytes) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def get(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


@pytest.fixture
def directory(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    env = prepare_multiprocess_dir(WORKERS, {})
    path = env[MULTIPROC_ENV]
    yield path
    for file in Path(path).iterdir():
        file.unlink()
    Path(path).rmdir()


def test_any_worker_scrape_sums_every_worker(
    directory: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with workers(directory, WORKERS, monkeypatch) as procs:
        expected_requests = sum(i + 1 for i in range(WORKERS))  # 1 + 2 + 3
        for scraper in procs:
            body, content_type = scraper.ask("render")
            assert content_type.startswith("text/plain; version=0.0.4")
            s = parse(body)
            labels = {"model": MODEL, "team": "team-a", "stream": "false", "status_class": "2xx"}
            assert get(s, "gateway_requests_total", **labels) == expected_requests
            tokens = {"model": MODEL, "team": "team-a"}
            assert get(s, "gateway_tokens_total", **tokens, kind="input") == 100 * expected_requests
            assert get(s, "gateway_tokens_total", **tokens, kind="output") == 10 * expected_requests
            duration = {"model": MODEL, "stream": "false"}
            assert get(s, "gateway_request_duration_seconds_count", **duration) == expected_requests
            bucket = get(s, "gateway_request_duration_seconds_bucket", **duration, le="+Inf")
            assert bucket == expected_requests
            assert get(s, "gateway_overhead_seconds_count", stream="false") == expected_requests
            op = {"model": MODEL, "operation": "converse"}
            assert get(s, "gateway_upstream_duration_seconds_count", **op) == WORKERS
            # Live gauges add up over the workers; build info stays a single series at 1.
            assert get(s, "gateway_in_flight_requests") == WORKERS
            assert get(s, "gateway_active_streams") == WORKERS
            info = [v for (name, _), v in s.items() if name == "gateway_build_info"]
            assert info == [1.0]
            assert not [labels for (_, labels) in s if any(k == "pid" for k, _ in labels)]


def test_budget_gauges_report_the_newest_value_from_any_worker(
    directory: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with workers(directory, WORKERS, monkeypatch) as procs:
        assert procs[1].ask("remaining", 123) == "ok"
        s = parse(procs[0].ask("render")[0])
        assert get(s, "gateway_budget_remaining_tokens", team="team-a", window="day") == 123
        assert get(s, "gateway_budget_limit_tokens", team="team-a", window="day") == 1000
        assert procs[2].ask("remaining", 77) == "ok"
        s = parse(procs[1].ask("render")[0])
        assert get(s, "gateway_budget_remaining_tokens", team="team-a", window="day") == 77


def test_a_dead_worker_leaves_its_totals_but_not_its_live_gauges(
    directory: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with workers(directory, WORKERS, monkeypatch) as procs:
        crashed = procs[2]
        crashed.proc.kill()  # no clean shutdown, as in a crash
        crashed.proc.join(timeout=10)
        assert not crashed.proc.is_alive()
        s = parse(procs[0].ask("render")[0])
        labels = {"model": MODEL, "team": "team-a", "stream": "false", "status_class": "2xx"}
        assert get(s, "gateway_requests_total", **labels) == 6  # totals never go backwards
        assert get(s, "gateway_in_flight_requests") == WORKERS - 1
        assert get(s, "gateway_active_streams") == WORKERS - 1
        assert not list(Path(directory).glob(f"gauge_live*_{crashed.proc.pid}.db"))
