"""Team keys and token budgets end to end: real gateway processes, a real Redis, the openai SDK."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gateway.bedrock.translate import to_converse
from gateway.budgets.estimate import TokenEstimator
from gateway.budgets.model import Limit, Subject
from gateway.budgets.redis_store import RedisBudgetStore
from gateway.budgets.windows import Window
from gateway.openai.decode import decode_chat_request
from gateway.settings import load_settings
from tests.fixtures.emulator import EmulatorHandle
from tests.fixtures.gateway import gateway_env
from tests.fixtures.processes import ROOT, free_port, running
from tests.fixtures.redis import RedisServer

MODEL = "claude-3-haiku"
HASH_SECRET = "test-hash-secret-0123456789abcdef0123456789"
PROMPT = "Summarise the budget rules for this team. " * 6 + '[[emu {"tokens": 40, "ttfb_ms": 300}]]'
MAX_TOKENS = 40


def admin(redis_url: str, namespace: str, *args: str) -> dict[str, Any]:
    """Run `gateway teams|keys ... --json` as a real process."""
    env = {
        **os.environ,
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_KEY_NAMESPACE": namespace,
        "GATEWAY_KEY_HASH_SECRET": HASH_SECRET,
    }
    done = subprocess.run(
        [sys.executable, "-m", "gateway", *args, "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def reservation_size() -> int:
    """What the gateway reserves for one PROMPT request: estimate x factor + output cap."""
    body = json.dumps(
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": MAX_TOKENS,
        }
    ).encode()
    route = load_settings({}).routing_table().resolve(MODEL)
    call = to_converse(decode_chat_request(body), route)
    return TokenEstimator(1.1).prompt_tokens(call.body) + MAX_TOKENS


@contextlib.contextmanager
def gateways(
    count: int, emulator: EmulatorHandle, redis_url: str, namespace: str, tmp: Path, **extra: str
) -> Iterator[list[str]]:
    env = gateway_env(
        emulator.url,
        GATEWAY_REDIS_URL=redis_url,
        GATEWAY_KEY_NAMESPACE=namespace,
        GATEWAY_KEY_HASH_SECRET=HASH_SECRET,
        **extra,
    )
    with contextlib.ExitStack() as stack:
        urls = []
        for i in range(count):
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            stack.enter_context(
                running(["serve", "--port", str(port)], f"{url}/readyz", env, tmp / f"gw{i}.log")
            )
            urls.append(url)
        yield urls


async def team_usage(redis_url: str, team_id: str, key_id: str, budget: int) -> tuple[int, int]:
    store = RedisBudgetStore.from_url(redis_url)
    try:
        [bucket] = await store.usage(
            Subject(key_id, team_id), [Limit("team", team_id, Window.DAY, budget)], time.time()
        )
    finally:
        await store.close()
    return bucket.used, bucket.reserved


@pytest.fixture
def namespace() -> str:
    return f"test:{uuid.uuid4().hex[:10]}"


async def test_three_replicas_never_overspend(
    emu: EmulatorHandle, redis_url: str, namespace: str, tmp_path: Path
) -> None:
    reservation = reservation_size()
    budget = reservation * 100
    team = admin(
        redis_url,
        namespace,
        "teams",
        "create",
        "--name",
        "burst",
        "--id",
        f"t{uuid.uuid4().hex[:8]}",
        "--budget-day",
        str(budget),
    )
    key = admin(redis_url, namespace, "keys", "create", "--team", team["id"], "--name", "k")
    with gateways(3, emu, redis_url, namespace, tmp_path) as urls:
        clients = [
            openai.AsyncOpenAI(
                base_url=f"{u}/v1",
                api_key=key["secret"],
                max_retries=0,
                http_client=httpx.AsyncClient(limits=httpx.Limits(max_connections=200)),
            )
            for u in urls
        ]

        async def one(i: int) -> str:
            try:
                await clients[i % 3].chat.completions.create(
                    model=MODEL,
                    messages=[{"role": "user", "content": PROMPT}],
                    max_tokens=MAX_TOKENS,
                )
                return "ok"
            except openai.RateLimitError as exc:
                assert exc.code == "insufficient_quota"
                assert exc.response.headers["x-ratelimit-limit-tokens"] == str(budget)
                assert "retry-after" in exc.response.headers
                return "rejected"

        outcomes = await asyncio.gather(*(one(i) for i in range(300)))
        accepted, rejected = outcomes.count("ok"), outcomes.count("rejected")
        used, held = await team_usage(redis_url, team["id"], key["id"], budget)
        # The hard promise: never more than the budget, with every hold released.
        assert used <= budget
        assert held == 0
        # The gate admitted everything that fit while the burst's holds overlapped.
        assert accepted * reservation >= budget - reservation
        # Then keep going one at a time until refused: the leftover is spent to within one hold.
        for _ in range(200):
            if await one(0) == "rejected":
                break
        used_after, _ = await team_usage(redis_url, team["id"], key["id"], budget)
        assert budget - reservation <= used_after <= budget
        print(
            f"\nbudget={budget} reservation={reservation} accepted={accepted} "
            f"rejected={rejected} settled_after_burst={used} settled_final={used_after}"
        )
        for c in clients:
            await c.close()


async def test_rate_limit_headers_on_success(
    emu: EmulatorHandle, redis_url: str, namespace: str, tmp_path: Path
) -> None:
    team = admin(redis_url, namespace, "teams", "create", "--name", "hdr", "--budget-day", "100000")
    key = admin(
        redis_url, namespace, "keys", "create", "--team", team["id"], "--name", "h", "--rpm", "50"
    )
    with gateways(1, emu, redis_url, namespace, tmp_path) as [url]:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=key["secret"], max_retries=0)
        raw = client.chat.completions.with_raw_response.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=10
        )
        headers = raw.headers
        assert headers["x-ratelimit-limit-tokens"] == "100000"
        assert int(headers["x-ratelimit-remaining-tokens"]) < 100000
        assert headers["x-ratelimit-limit-requests"] == "50"
        assert headers["x-ratelimit-remaining-requests"] == "49"
        assert headers["x-ratelimit-reset-requests"].endswith("s")
        revoked = admin(redis_url, namespace, "keys", "revoke", key["id"])
        assert revoked["id"] == key["id"]


async def test_killed_replica_releases_its_hold_within_ttl(
    emu: EmulatorHandle, redis_url: str, namespace: str, tmp_path: Path
) -> None:
    budget = 1_000_000
    team = admin(
        redis_url, namespace, "teams", "create", "--name", "kill", "--budget-day", str(budget)
    )
    key = admin(redis_url, namespace, "keys", "create", "--team", team["id"], "--name", "k")
    port = free_port()
    env = gateway_env(
        emu.url,
        GATEWAY_REDIS_URL=redis_url,
        GATEWAY_KEY_NAMESPACE=namespace,
        GATEWAY_KEY_HASH_SECRET=HASH_SECRET,
        GATEWAY_BUDGET_RESERVATION_TTL="3",
    )
    with running(
        ["serve", "--port", str(port)], f"http://127.0.0.1:{port}/readyz", env, tmp_path / "gw.log"
    ) as proc:
        client = openai.AsyncOpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key=key["secret"], max_retries=0
        )
        stream = await client.chat.completions.create(
            model=MODEL,
            stream=True,
            messages=[
                {"role": "user", "content": '[[emu {"tokens": 500, "token_delay_ms": 100}]]'}
            ],
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                break
        _, held = await team_usage(redis_url, team["id"], key["id"], budget)
        assert held > 0
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_at = time.monotonic()
        with contextlib.suppress(Exception):
            await stream.close()
        while True:
            used, held = await team_usage(redis_url, team["id"], key["id"], budget)
            if held == 0:
                break
            assert time.monotonic() - killed_at < 3 + 2, "hold outlived its TTL"
            await asyncio.sleep(0.2)
        assert used == 0  # the killed request never settled: nothing was charged


async def test_redis_restart_under_traffic(
    emu: EmulatorHandle, namespace: str, tmp_path: Path
) -> None:
    server = RedisServer(tmp_path, persistent=True)
    server.start()
    try:
        budget = 10_000_000
        team = admin(
            server.url, namespace, "teams", "create", "--name", "rs", "--budget-day", str(budget)
        )
        key = admin(server.url, namespace, "keys", "create", "--team", team["id"], "--name", "k")
        with gateways(1, emu, server.url, namespace, tmp_path, GATEWAY_KEY_CACHE_TTL="0") as [url]:
            statuses: list[int] = []
            codes: set[str] = set()
            stop = asyncio.Event()

            async def traffic() -> None:
                async with httpx.AsyncClient(timeout=10) as http:
                    while not stop.is_set():
                        r = await http.post(
                            f"{url}/v1/chat/completions",
                            headers={"Authorization": f"Bearer {key['secret']}"},
                            json={
                                "model": MODEL,
                                "max_tokens": 5,
                                "messages": [{"role": "user", "content": "hi"}],
                            },
                        )
                        statuses.append(r.status_code)
                        if r.status_code != 200:
                            codes.add(r.json()["error"]["code"])

            workers = [asyncio.create_task(traffic()) for _ in range(4)]
            await asyncio.sleep(1.0)
            await asyncio.to_thread(server.stop)
            await asyncio.sleep(1.0)
            await asyncio.to_thread(server.start)
            await asyncio.sleep(1.5)
            stop.set()
            await asyncio.gather(*workers)
            after = statuses[-10:]
        assert 500 not in statuses
        assert set(statuses) <= {200, 503}
        assert statuses.count(503) > 0, "the outage was not observed"
        assert codes <= {"budget_store_unavailable", "key_store_unavailable"}
        assert after == [200] * len(after), "service did not resume"
        used, held = await team_usage(server.url, team["id"], key["id"], budget)
        assert used > 0
        assert held >= 0
    finally:
        server.stop()
