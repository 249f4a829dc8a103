"""The admin API over HTTP against a real gateway process and Redis."""

from __future__ import annotations

import shutil
import signal
import time
import uuid
from pathlib import Path
from typing import Any, cast

import httpx
import openai
import pytest

from tests.fixtures.emulator import EmulatorHandle
from tests.fixtures.gateway import GatewayHandle, gateway_env
from tests.fixtures.processes import ROOT, free_port, running
from tests.integration.test_budgets_e2e import HASH_SECRET, MODEL, gateways

ADMIN_TOKEN = "admin-token-for-tests-0123456789"


def test_admin_api_is_off_without_a_token(gateway: GatewayHandle) -> None:
    r = httpx.get(f"{gateway.url}/admin/teams", headers={"Authorization": "Bearer x"})
    assert r.status_code == 404
    assert r.json()["error"]["type"] == "invalid_request_error"


async def test_admin_lifecycle_and_usage(
    emu: EmulatorHandle, redis_url: str, tmp_path: Path
) -> None:
    namespace = f"test:{uuid.uuid4().hex[:10]}"
    with gateways(
        1,
        emu,
        redis_url,
        namespace,
        tmp_path,
        GATEWAY_ADMIN_TOKEN=ADMIN_TOKEN,
        GATEWAY_KEY_CACHE_TTL="0",
    ) as [url]:
        auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with httpx.AsyncClient(base_url=f"{url}/admin", headers=auth, timeout=10) as admin:
            bad = await admin.get("/teams", headers={"Authorization": "Bearer wrong"})
            assert bad.status_code == 401
            assert ADMIN_TOKEN not in bad.text

            invalid = await admin.post("/teams", json={"name": "x", "budgets": {"day": "lots"}})
            assert invalid.status_code == 400
            assert invalid.json()["error"]["param"] == "budgets.day"
            # No GATEWAY_POLICY_DIR: the built-in set has only "default".
            unknown = await admin.post("/teams", json={"name": "x", "policy": "strict"})
            assert unknown.status_code == 400
            assert unknown.json()["error"]["param"] == "policy"
            assert "known: default)" in unknown.json()["error"]["message"]

            team = (
                await admin.post(
                    "/teams", json={"name": "Search", "budgets": {"day": 50000, "month": 900000}}
                )
            ).json()
            created = await admin.post(
                "/keys",
                json={"team_id": team["id"], "name": "svc", "budgets": {"hour": 20000}, "rpm": 100},
            )
            assert created.status_code == 201
            key = created.json()
            assert key["secret"].startswith("sk-")
            listed = (await admin.get("/keys", params={"team": team["id"]})).json()
            assert [k["id"] for k in listed] == [key["id"]]
            assert "secret" not in listed[0]
            assert key["secret"] not in (await admin.get(f"/keys/{key['id']}")).text

            client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key["secret"], max_retries=0)
            reply = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=20
            )
            assert reply.usage is not None
            spent = reply.usage.total_tokens

            usage = (await admin.get(f"/keys/{key['id']}/usage")).json()
            by_window = {(b["scope"], b["window"], b["kind"]): b for b in usage["buckets"]}
            hour = by_window[("key", "hour", "budget")]
            assert hour["used"] == spent
            assert hour["reserved"] == 0
            assert hour["remaining"] == 20000 - spent
            assert hour["resets_at"].endswith(":00:00Z")
            assert by_window[("team", "day", "budget")]["used"] == spent
            assert by_window[("key", "minute", "rpm")]["used"] == 1
            team_usage = (await admin.get(f"/teams/{team['id']}/usage")).json()
            assert {b["window"] for b in team_usage["buckets"]} == {"day", "month"}
            assert all(b["used"] == spent for b in team_usage["buckets"])

            revoked = await admin.post(f"/keys/{key['id']}/revoke")
            assert revoked.status_code == 200
            with pytest.raises(openai.AuthenticationError):
                await client.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": "hi"}]
                )
            await client.close()


def wait_for_log(path: Path, text: str, count: int = 1, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while path.read_text(errors="replace").count(text) < count:
        assert time.monotonic() < deadline, f"no {text!r} in {path}"
        time.sleep(0.05)


async def test_policy_names_are_checked_and_an_unknown_one_fails_closed(
    emu: EmulatorHandle, redis_url: str, tmp_path: Path
) -> None:
    """Admin writes are refused for names the running registry lacks; a policy removed by a
    reload while keys still name it refuses their requests (503) instead of relaxing them,
    and serves them again once it is back."""
    directory = tmp_path / "policies"
    directory.mkdir()
    for name in ("default", "strict"):
        shutil.copy(ROOT / "policies" / f"{name}.yaml", directory / f"{name}.yaml")
    env = gateway_env(
        emu.url,
        GATEWAY_REDIS_URL=redis_url,
        GATEWAY_KEY_NAMESPACE=f"test:{uuid.uuid4().hex[:10]}",
        GATEWAY_KEY_HASH_SECRET=HASH_SECRET,
        GATEWAY_ADMIN_TOKEN=ADMIN_TOKEN,
        GATEWAY_KEY_CACHE_TTL="0",
        GATEWAY_POLICY_DIR=str(directory),
    )
    url = f"http://127.0.0.1:{free_port()}"
    log = tmp_path / "gateway.log"
    with running(["serve", "--port", url.rsplit(":", 1)[1]], f"{url}/readyz", env, log) as proc:
        auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with httpx.AsyncClient(base_url=f"{url}/admin", headers=auth, timeout=10) as admin:
            team = (await admin.post("/teams", json={"name": "Acme", "policy": "strict"})).json()
            for refused in [
                await admin.post("/teams", json={"name": "Beta", "policy": "pseudonymize"}),
                await admin.patch(f"/teams/{team['id']}", json={"policy": "gone"}),
                await admin.post("/keys", json={"team_id": team["id"], "name": "k", "policy": "x"}),
            ]:
                assert refused.status_code == 400
                error = refused.json()["error"]
                assert (error["param"], error["code"]) == ("policy", "unknown_policy")
                assert "known: default, strict)" in error["message"]
            assert [t["id"] for t in (await admin.get("/teams")).json()] == [team["id"]]
            assert (await admin.get(f"/teams/{team['id']}")).json()["policy"] == "strict"
            assert (await admin.get("/keys")).json() == []
            key = (await admin.post("/keys", json={"team_id": team["id"], "name": "svc"})).json()

        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key["secret"], max_retries=0)
        messages: Any = [{"role": "user", "content": 'hi [[emu {"reply": "fine"}]]'}]
        ok = await client.chat.completions.create(model=MODEL, messages=messages)
        assert ok.choices[0].message.content == "fine"

        (directory / "strict.yaml").unlink()
        proc.send_signal(signal.SIGHUP)
        wait_for_log(log, "policy strict was removed by the reload")
        for _ in range(2):
            with pytest.raises(openai.InternalServerError) as info:
                await client.chat.completions.create(model=MODEL, messages=messages)
            assert info.value.status_code == 503
            body = cast(dict[str, Any], info.value.body)
            assert body["code"] == "policy_unavailable"
            assert "strict" not in info.value.message
        # The access line is written after the response, so wait for it rather than race it.
        wait_for_log(log, '"error_code":"policy_unavailable"', count=2)
        text = log.read_text(errors="replace")
        assert text.count("unknown policy strict") == 1  # once per name, not per request
        assert f"named by key {key['id']} of team {team['id']}" in text
        assert text.count('"error_code":"policy_unavailable"') == 2  # the access lines

        shutil.copy(ROOT / "policies" / "strict.yaml", directory / "strict.yaml")
        proc.send_signal(signal.SIGHUP)
        wait_for_log(log, "policies reloaded", count=2)
        again = await client.chat.completions.create(model=MODEL, messages=messages)
        assert again.choices[0].message.content == "fine"
        await client.close()
