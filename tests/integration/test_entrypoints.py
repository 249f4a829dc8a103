"""The image's entry command and the README's quickstart, run as plain processes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.fixtures.emulator import EmulatorHandle
from tests.fixtures.gateway import gateway_env
from tests.fixtures.processes import ROOT, free_port, running

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _exec_form(instruction: str) -> list[str]:
    """The JSON array of an exec-form ENTRYPOINT / HEALTHCHECK CMD line."""
    match = re.search(rf"{instruction}\s+(\[.*\])\s*$", DOCKERFILE, re.MULTILINE)
    assert match, f"no exec-form {instruction} in the Dockerfile"
    result: list[str] = json.loads(match.group(1))
    return result


def _image_env() -> dict[str, str]:
    block = re.search(r"^FROM .* AS runtime$(.*)", DOCKERFILE, re.MULTILINE | re.DOTALL)
    assert block
    env = dict(re.findall(r"(GATEWAY_[A-Z_]+)=(\S+)", block.group(1)))
    assert env["GATEWAY_HOST"] == "0.0.0.0"
    return env


def test_image_entrypoint_serves_and_passes_its_healthcheck(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    entry = _exec_form("ENTRYPOINT")
    assert entry == ["gateway", "serve"]
    port = free_port()
    env = {
        **gateway_env(emulator.url),
        **_image_env(),
        "GATEWAY_PORT": str(port),
        "GATEWAY_HOST": "127.0.0.1",  # loopback only in tests
        "GATEWAY_POLICY_DIR": str(ROOT / "policies"),  # the COPY destination's source
    }
    with running(entry[1:], f"http://127.0.0.1:{port}/readyz", env, tmp_path / "gw.log"):
        check = _exec_form("CMD")
        assert check[0] == "python"
        done = subprocess.run(
            [sys.executable, *check[1:]], env={**os.environ, **env}, timeout=30, check=False
        )
        assert done.returncode == 0


def test_readme_quickstart_works_verbatim_against_demo(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    snippet = re.search(r"```python\n(from openai import OpenAI.*?)```", readme, re.DOTALL)
    assert snippet, "README has no OpenAI SDK example"
    code = snippet.group(1)
    base = re.search(r'base_url="(http://127\.0\.0\.1:(\d+)/v1)"', code)
    assert base
    port = free_port()
    code = code.replace(base.group(1), f"http://127.0.0.1:{port}/v1")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GATEWAY_"))}
    with running(
        ["serve", "--demo", "--port", str(port)],
        f"http://127.0.0.1:{port}/readyz",
        env,
        tmp_path / "demo.log",
    ):
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2
    assert "CompletionUsage" in lines[0]
    assert lines[1].strip()
    banner = (tmp_path / "demo.log").read_text()
    assert f"http://127.0.0.1:{port}/v1" in banner
    assert "sk-bedrock-gateway-demo-key" in banner
