"""What only the Redis store has to prove: key layout, round trips, outages, recovery."""

from __future__ import annotations

import asyncio
import calendar
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis
import redis.asyncio.connection
from redis.crc import key_slot
from redis.exceptions import ClusterCrossSlotError

from gateway.budgets import BudgetStoreUnavailableError, Limit, ReserveRequest, Subject, Window
from gateway.budgets.redis_store import RedisBudgetStore
from tests.fixtures.redis import RedisServer

pytestmark = pytest.mark.integration

T0 = calendar.timegm((2025, 3, 14, 10, 0, 5, 0, 0, 0)) + 0.25
DAY_END = calendar.timegm((2025, 3, 15, 0, 0, 0, 0, 0, 0))
TEAM = Subject("k1", "t1")
LIMITS = (
    Limit("key", "k1", Window.DAY, 1000),
    Limit("team", "t1", Window.MONTH, 5000),
    Limit.rpm("key", "k1", 100),
    Limit.tpm("key", "k1", 5000),
)


def req(
    rid: str, tokens: int = 10, *, limits: tuple[Limit, ...] = LIMITS, subject: Subject = TEAM
) -> ReserveRequest:
    return ReserveRequest(rid, subject, limits, tokens=tokens, now=T0, ttl_s=300)


@pytest.fixture
async def store(redis_url: str, redis_namespace: str) -> AsyncIterator[RedisBudgetStore]:
    built = RedisBudgetStore.from_url(redis_url, namespace=redis_namespace)
    yield built
    await built.close()


def keys_of(url: str, namespace: str) -> list[bytes]:
    with redis.Redis.from_url(url) as client:
        return sorted(client.scan_iter(match=f"{namespace}:*"))


async def test_every_key_of_a_call_shares_one_hash_tag_and_slot(
    redis_url: str, redis_namespace: str
) -> None:
    # Ids with braces and colons must not break the tag.
    subject = Subject("k{1}:x", "t}1{:y")
    limits = (
        Limit("key", "k{1}:x", Window.DAY, 1000),
        Limit("team", "t}1{:y", Window.MONTH, 5000),
        Limit.rpm("key", "k{1}:x", 10),
    )
    tag = b"{team:t%7D1%7B%3Ay}"
    prefix = redis_namespace.encode() + b":" + tag + b":"
    store = RedisBudgetStore.from_url(redis_url, namespace=redis_namespace)
    try:
        result = await store.reserve(req("r{1}", limits=limits, subject=subject))
        assert result.reservation is not None
        held = keys_of(redis_url, redis_namespace)
        await store.settle(result.reservation, 5, T0)
        settled = keys_of(redis_url, redis_namespace)
    finally:
        await store.close()
    # Two token buckets with their hold sets, the rpm bucket, the reservation record.
    assert len(held) == 6
    # Settling empties (and so deletes) the hold sets.
    assert len(settled) == 4
    assert all(key.startswith(prefix) for key in held)
    assert {key_slot(key) for key in held} == {key_slot(tag)}


async def test_a_key_without_a_team_is_tagged_by_the_key(
    store: RedisBudgetStore, redis_url: str, redis_namespace: str
) -> None:
    solo = Subject("solo", None)
    await store.reserve(req("r", limits=(Limit("key", "solo", Window.DAY, 10),), subject=solo))
    keys = keys_of(redis_url, redis_namespace)
    assert keys
    assert all(b":{key:solo}:" in key for key in keys)


async def test_window_keys_expire_after_the_window_plus_slack(
    redis_url: str, redis_namespace: str
) -> None:
    store = RedisBudgetStore.from_url(redis_url, namespace=redis_namespace, key_slack_s=600)
    try:
        await store.reserve(req("r", limits=(LIMITS[0],)))
    finally:
        await store.close()
    expected_ms = (DAY_END + 600 - T0) * 1000
    with redis.Redis.from_url(redis_url) as client:
        ttls = {key: client.pttl(key) for key in keys_of(redis_url, redis_namespace)}
    record = next(key for key in ttls if b":r:" in key)
    assert 300_000 - 60_000 < ttls.pop(record) <= 300_000
    assert len(ttls) == 2
    assert all(expected_ms - 60_000 < ttl <= expected_ms for ttl in ttls.values()), ttls


async def test_a_bucket_recreated_by_a_late_settle_still_expires(
    store: RedisBudgetStore, redis_url: str, redis_namespace: str
) -> None:
    result = await store.reserve(req("a", limits=(LIMITS[0],)))
    assert result.reservation is not None
    with redis.Redis.from_url(redis_url) as client:
        # As if Redis had expired the window's keys while the request was still running.
        client.delete(*[k for k in keys_of(redis_url, redis_namespace) if b":r:" not in k])
        assert await store.settle(result.reservation, 40, T0 + 1) is True
        (bucket,) = [k for k in keys_of(redis_url, redis_namespace) if b":r:" not in k]
        assert client.hget(bucket, "u") == b"40"
        assert client.pttl(bucket) > 0


def test_replies_are_parsed_by_hiredis() -> None:
    assert redis.asyncio.connection.DefaultParser.__name__ == "_AsyncHiredisParser"


def command_calls(server: RedisServer) -> dict[str, int]:
    with server.client() as client:
        stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


async def test_reserve_and_settle_are_one_round_trip_each(redis_server: RedisServer) -> None:
    store = RedisBudgetStore.from_url(redis_server.url)
    try:
        warm = await store.reserve(req("warm"))  # connects and loads the script
        assert warm.reservation is not None
        await store.settle(warm.reservation, 1, T0)
        with redis_server.client() as admin:
            admin.config_resetstat()
        for i in range(25):
            result = await store.reserve(req(f"r{i}"))
            assert result.reservation is not None
            await store.settle(result.reservation, 5, T0)
        calls = command_calls(redis_server)
    finally:
        await store.close()
    # 50 script runs: no EVAL re-sends, no PING or other chatter from the client.
    assert calls["evalsha"] == 50
    assert not {"eval", "ping", "script|load"} & calls.keys()


async def test_scripts_are_resent_after_redis_forgets_them(redis_server: RedisServer) -> None:
    store = RedisBudgetStore.from_url(redis_server.url)
    try:
        assert (await store.reserve(req("a"))).ok
        with redis_server.client() as client:
            client.script_flush()
            client.config_resetstat()
        assert (await store.reserve(req("b"))).ok
        assert (await store.reserve(req("c"))).ok
        calls = command_calls(redis_server)
    finally:
        await store.close()
    # One EVALSHA refused with NOSCRIPT, one EVAL that re-caches, then EVALSHA again.
    assert calls["eval"] == 1
    assert calls["evalsha"] == 2


async def test_redis_down_fails_closed_quickly_then_recovers_without_restart(
    redis_server: RedisServer,
) -> None:
    store = RedisBudgetStore.from_url(redis_server.url)
    try:
        first = await store.reserve(req("before"))
        assert first.reservation is not None
        redis_server.stop()

        started = time.monotonic()
        with pytest.raises(BudgetStoreUnavailableError) as info:
            await store.reserve(req("during"))
        assert time.monotonic() - started < 5.0  # refused connections fail at once
        assert (info.value.status, info.value.code) == (503, "budget_store_unavailable")
        with pytest.raises(BudgetStoreUnavailableError):
            await store.settle(first.reservation, 5, T0)
        with pytest.raises(BudgetStoreUnavailableError):
            await store.usage(TEAM, LIMITS, T0)
        with pytest.raises(BudgetStoreUnavailableError):
            await store.ping()

        redis_server.start()  # same port, empty data, no scripts loaded
        await store.ping()
        after = await store.reserve(req("after"))
        assert (after.ok, after.granted_tokens) == (True, 10)
        assert after.reservation is not None
        assert await store.settle(after.reservation, 7, T0) is True
        assert (await store.usage(TEAM, LIMITS[:1], T0))[0].used == 7
    finally:
        await store.close()


async def test_a_hung_redis_times_out_then_recovers(redis_server: RedisServer) -> None:
    store = RedisBudgetStore.from_url(redis_server.url, timeout_s=0.3)
    try:
        assert (await store.reserve(req("before"))).ok
        redis_server.freeze()
        started = time.monotonic()
        with pytest.raises(BudgetStoreUnavailableError):
            await store.reserve(req("during"))
        # 0.3 s for the reply and no retry after a timeout; the bound only rules out hanging.
        assert 0.25 < time.monotonic() - started < 10.0
        redis_server.thaw()
        assert (await store.reserve(req("after"))).ok
    finally:
        redis_server.thaw()
        await store.close()


async def test_two_replicas_never_overspend_a_shared_budget(
    redis_url: str, redis_namespace: str
) -> None:
    replicas = [
        RedisBudgetStore.from_url(redis_url, namespace=redis_namespace, timeout_s=10)
        for _ in range(2)
    ]
    try:
        results = await asyncio.gather(*(replicas[i % 2].reserve(req(f"r{i}")) for i in range(300)))
        assert sum(r.ok for r in results) == 100
        (day,) = await replicas[0].usage(TEAM, LIMITS[:1], T0)
        assert (day.reserved, day.remaining) == (1000, 0)
    finally:
        for replica in replicas:
            await replica.close()


async def test_data_errors_are_not_disguised_as_an_outage(
    store: RedisBudgetStore, redis_url: str, redis_namespace: str
) -> None:
    await store.reserve(req("a", limits=(LIMITS[0],)))
    bucket = next(k for k in keys_of(redis_url, redis_namespace) if k.endswith(b"2025-03-14"))
    with redis.Redis.from_url(redis_url) as client:
        client.set(bucket, "not a hash")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        await store.reserve(req("b", limits=(LIMITS[0],)))


async def test_scripts_run_on_a_cluster_node(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, cluster=True)
    server.start()
    store = RedisBudgetStore.from_url(server.url)
    try:
        # Control: this node really refuses keys from different slots in one script.
        with server.client() as client, pytest.raises(ClusterCrossSlotError):
            client.eval("return 1", 2, "{a}x", "{b}y")
        result = await store.reserve(req("a", 100))
        assert result.reservation is not None
        assert await store.settle(result.reservation, 60, T0) is True
        usage = await store.usage(TEAM, LIMITS, T0)
        assert [u.used for u in usage] == [60, 60, 1, 60]
    finally:
        await store.close()
        server.stop()


def test_a_namespace_cannot_carry_its_own_hash_tag() -> None:
    with pytest.raises(ValueError, match="braces"):
        RedisBudgetStore.from_url("redis://127.0.0.1:1", namespace="gw:{b}")  # never connects
