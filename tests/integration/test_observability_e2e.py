"""Metrics and access logs of a real gateway process: promtool, a real Prometheus, 2 workers."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

import openai
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.emulator import EmulatorHandle
from tests.fixtures.gateway import API_KEY, GatewayHandle, gateway_env
from tests.fixtures.processes import free_port, running
from tests.integration.test_prometheus_scrape import binary, wait_for

MODEL = "claude-3-haiku"
SECRET_PROMPT = "the launch code is tangerine-42"


def scrape(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        assert response.headers["content-type"].startswith("text/plain")
        return response.read().decode()


def sample(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def test_scrape_counts_tokens_and_passes_promtool(
    gateway: GatewayHandle, emu: EmulatorHandle, tmp_path: Path
) -> None:
    client = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.api_key, max_retries=0)
    before = scrape(gateway.url)
    reply = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": SECRET_PROMPT}]
    )
    assert reply.usage is not None
    text = scrape(gateway.url)
    output_before = sample(before, "gateway_tokens_total", model=MODEL, kind="output")
    output_after = sample(text, "gateway_tokens_total", model=MODEL, kind="output")
    assert output_after - output_before == reply.usage.completion_tokens
    assert sample(text, "gateway_requests_total", model=MODEL, status_class="2xx") >= 1
    assert "gateway_overhead_seconds_bucket" in text
    assert "gateway_build_info" in text
    assert API_KEY not in text
    assert "tangerine" not in text
    path = tmp_path / "scrape.txt"
    path.write_text(text)
    done = subprocess.run(
        [binary("promtool"), "check", "metrics"],
        stdin=path.open("rb"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_access_log_is_one_json_line_per_request_without_content(
    gateway: GatewayHandle, emu: EmulatorHandle
) -> None:
    request_id = f"req-{time.monotonic_ns()}"
    raw = openai.OpenAI(
        base_url=gateway.base_url,
        api_key=gateway.api_key,
        max_retries=0,
        default_headers={"x-request-id": request_id},
    ).chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": SECRET_PROMPT}]
    )
    assert raw.headers["x-request-id"] == request_id
    deadline = time.monotonic() + 5
    lines: list[dict[str, object]] = []
    while time.monotonic() < deadline and not lines:
        for line in gateway.log_text().splitlines():
            if request_id in line:
                lines.append(json.loads(line))
        time.sleep(0.1)
    assert len(lines) == 1
    access = lines[0]
    assert access["status"] == 200
    assert access["model"] == MODEL
    assert access["key_id"] == "static-0"
    assert isinstance(access["completion_tokens"], int) and access["completion_tokens"] > 0
    log = gateway.log_text()
    assert "tangerine" not in log
    assert API_KEY not in log


def test_two_workers_scrape_is_whole_server(emu: EmulatorHandle, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = gateway_env(emu.url)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with running(
        ["serve", "--port", str(port), "--workers", "2"], f"{url}/readyz", env, tmp_path / "gw.log"
    ):
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=API_KEY, max_retries=0)
        before = sample(scrape(url), "gateway_requests_total", model=MODEL)
        for _ in range(20):
            # A new connection each time so the kernel spreads requests over both workers.
            with openai.OpenAI(base_url=f"{url}/v1", api_key=API_KEY, max_retries=0) as c:
                c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
        text = scrape(url)
        assert sample(text, "gateway_requests_total", model=MODEL) - before == 20
        client.close()
        pids = {
            s.labels.get("pid")
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.name == "gateway_in_flight_requests"
        }
        assert pids  # the gauge is aggregated (livesum), not one series per worker
        assert pids == {None}


def test_prometheus_server_sees_tokens_of_a_gateway_request(
    gateway: GatewayHandle, emu: EmulatorHandle, tmp_path: Path
) -> None:
    port = free_port()
    config = tmp_path / "prometheus.yml"
    target = gateway.url.removeprefix("http://")
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: gateway\n    scrape_interval: 1s\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )
    proc = subprocess.Popen(
        [
            binary("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        current = sample(scrape(gateway.url), "gateway_tokens_total", model=MODEL, kind="output")
        client = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.api_key, max_retries=0)
        reply = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "count me"}]
        )
        assert reply.usage is not None
        expected = current + reply.usage.completion_tokens
        found = wait_for(
            base, proc, f'sum(gateway_tokens_total{{model="{MODEL}",kind="output"}})', expected
        )
        assert float(found["value"][1]) == expected
    finally:
        proc.terminate()
        proc.wait(timeout=15)
