"""The real Prometheus tools accept our exposition: promtool lints it, a server scrapes it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gateway.metrics import Metrics
from gateway.metrics_multiproc import MULTIPROC_ENV
from tests.fixtures.processes import ROOT, free_port

pytestmark = pytest.mark.integration

MODELS = ("claude-3-haiku", "claude-sonnet")
SCRAPE_DEADLINE = 30.0  # bounded wait for start-up plus a few 1 s scrapes on a loaded machine


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} not found on PATH: install Debian's 'prometheus' package "
            "(apt-get install -y prometheus), which ships promtool and the prometheus server"
        )
    return path


def populated() -> Metrics:
    """Every family with at least one series."""
    m = Metrics(MODELS, team_cap=5)
    m.record_request(
        model="claude-3-haiku", team="team-a", stream=True, status=200, duration_s=1.5,
        upstream_s=1.4996,
    )  # fmt: skip
    m.record_request(model="gpt-typo", team="team-b", stream=False, status=404, duration_s=0.001)
    m.record_tokens(
        model="claude-3-haiku", team="team-a", input_tokens=1234, output_tokens=567,
        cache_read_tokens=89, cache_write_tokens=10,
    )  # fmt: skip
    m.record_ttft("claude-3-haiku", 0.42)
    m.record_upstream("claude-3-haiku", "converse_stream", 1.4996)
    m.record_upstream("claude-3-haiku", "apply_guardrail", 0.05)
    m.record_upstream_error("claude-sonnet", "rate_limit_exceeded")
    m.record_retry("claude-sonnet")
    m.record_budget_rejection("team-b", "insufficient_quota")
    m.record_budget_rejection("team-b", "rate_limit_exceeded")
    for window in ("minute", "hour", "day", "month"):
        m.set_budget("team-a", window, limit=100_000, remaining=98_000)
    m.record_guardrail("default", "output", "anonymized")
    m.record_pii("EMAIL", "request", "pseudonymize", 2)
    m.record_pii("CREDIT_DEBIT_CARD_NUMBER", "response", "mask")
    m.request_started()
    m.stream_started()
    return m


def test_promtool_check_metrics_passes_on_a_real_scrape() -> None:
    promtool = binary("promtool")
    body, _ = populated().render()
    result = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=60, check=False
    )
    report = (result.stdout + result.stderr).decode()
    assert result.returncode == 0, report
    assert report.strip() == "", f"promtool lint complaints:\n{report}"


MULTIPROCESS_RENDER = """
import sys
from tests.integration.test_prometheus_scrape import populated
sys.stdout.buffer.write(populated().render()[0])
"""


def test_promtool_check_metrics_passes_on_a_multiprocess_scrape(tmp_path: Path) -> None:
    # The aggregated scrape is built by a different code path (MultiProcessCollector).
    promtool = binary("promtool")
    env = {**os.environ, MULTIPROC_ENV: str(tmp_path)}
    render = subprocess.run(
        [sys.executable, "-c", MULTIPROCESS_RENDER],
        cwd=ROOT, env=env, capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    assert b"gateway_tokens_total" in render.stdout
    assert list(tmp_path.glob("*.db")), "the worker did not write multiprocess files"
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=render.stdout, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    report = (result.stdout + result.stderr).decode()
    assert result.returncode == 0 and report.strip() == "", f"promtool:\n{report}"


class _Exporter(ThreadingHTTPServer):
    metrics: Metrics


class _MetricsHandler(BaseHTTPRequestHandler):
    server: _Exporter

    def do_GET(self) -> None:
        body, content_type = self.server.metrics.render()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return  # one line per 1 s scrape would only bury the test's own output


@pytest.fixture
def exporter() -> Iterator[tuple[Metrics, int]]:
    """A stdlib HTTP server on loopback serving render(), as GET /metrics will."""
    server = _Exporter(("127.0.0.1", 0), _MetricsHandler)
    server.metrics = populated()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.metrics, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def query(base: str, promql: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as response:
        payload = json.load(response)
    assert payload["status"] == "success", payload
    result: list[dict[str, Any]] = payload["data"]["result"]
    return result


def test_prometheus_server_scrapes_the_tokens_of_a_request(
    exporter: tuple[Metrics, int], tmp_path: Path
) -> None:
    prometheus = binary("prometheus")
    metrics, exporter_port = exporter
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: gateway\n    scrape_interval: 1s\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{exporter_port}']\n"
    )
    log_path = tmp_path / "prometheus.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        # A request finishes after Prometheus is up: its tokens must show up in a later scrape.
        first = wait_for(base, proc, 'gateway_tokens_total{kind="output",team="team-a"}', 567)
        metrics.record_tokens(
            model="claude-3-haiku", team="team-a", input_tokens=31, output_tokens=40
        )
        later = wait_for(base, proc, 'gateway_tokens_total{kind="output",team="team-a"}', 607)
        assert first["metric"]["model"] == later["metric"]["model"] == "claude-3-haiku"
        assert later["metric"]["job"] == "gateway"
        [up] = query(base, 'up{job="gateway"}')
        assert up["value"][1] == "1"
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- prometheus log ---\n{log_path.read_text()}") from exc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for(
    base: str, proc: subprocess.Popen[bytes], promql: str, expected: float
) -> dict[str, Any]:
    """Poll the query API until ``promql`` returns one series with value ``expected``."""
    deadline = time.monotonic() + SCRAPE_DEADLINE
    last: object = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"prometheus exited with {proc.returncode}")
        try:
            result = query(base, promql)
        except OSError as exc:  # not listening yet
            last = exc
        else:
            last = result
            if len(result) == 1 and float(result[0]["value"][1]) == expected:
                return result[0]
        time.sleep(0.25)
    raise AssertionError(f"{promql} never reached {expected} within {SCRAPE_DEADLINE}s: {last}")
