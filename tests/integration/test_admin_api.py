"""The admin API over HTTP against a real gateway process and Redis."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import openai
import pytest

from tests.fixtures.emulator import EmulatorHandle
from tests.fixtures.gateway import GatewayHandle
from tests.integration.test_budgets_e2e import MODEL, gateways

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
