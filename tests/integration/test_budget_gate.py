"""The budget stage against both stores: reserve, settle without waiting, drain, outages."""

from __future__ import annotations

import json
import logging
import time
import uuid

import pytest

from gateway.bedrock.translate import ConverseCall, to_converse
from gateway.budgets import BudgetStore, Limit, MemoryBudgetStore, Window
from gateway.budgets.estimate import TokenEstimator
from gateway.budgets.gate import BudgetGate, rate_limit_headers
from gateway.budgets.model import Subject
from gateway.budgets.redis_store import RedisBudgetStore
from gateway.keys.principal import Principal
from gateway.openai.decode import decode_chat_request
from gateway.settings import load_settings

pytestmark = pytest.mark.integration

ESTIMATOR = TokenEstimator(1.1)
PRINCIPAL = Principal(
    key_id="k1",
    team_id="t1",
    limits=(
        Limit("key", "k1", Window.HOUR, 100_000),
        Limit.rpm("key", "k1", 1000),
        Limit("team", "t1", Window.DAY, 1_000_000),
    ),
)
TEAM_DAY = PRINCIPAL.limits[2]


def chat_call(text: str = "How many tokens is this?", max_tokens: int = 50) -> ConverseCall:
    body = json.dumps(
        {
            "model": "claude-3-haiku",
            "messages": [{"role": "user", "content": text}],
            "max_tokens": max_tokens,
        }
    ).encode()
    route = load_settings({}).routing_table().resolve("claude-3-haiku")
    return to_converse(decode_chat_request(body), route)


@pytest.fixture
def store(budget_store: BudgetStore) -> BudgetStore:
    """Each test once per store (tests/fixtures/budgets.py)."""
    return budget_store


async def team_day(store: BudgetStore) -> tuple[int, int]:
    (bucket,) = await store.usage(Subject("k1", "t1"), [TEAM_DAY], time.time())
    return bucket.used, bucket.reserved


async def test_a_begun_settlement_is_seen_once_handed_over(store: BudgetStore) -> None:
    gate = BudgetGate(store, ESTIMATOR)
    admission, _ = await gate.admit(PRINCIPAL, chat_call())
    assert admission.reservation is not None
    assert await team_day(store) == (0, admission.reservation.tokens)
    gate.begin_settle(admission, 42)
    gate.begin_settle(admission, 999)  # a second call changes nothing
    await gate.handed_over(admission)
    # Nobody waited for the store's answer, yet a read made now sees the settlement.
    assert await team_day(store) == (42, 0)
    await gate.drain()
    assert admission.settling is not None
    assert admission.settling.result() is True


async def test_settle_waits_for_the_answer_and_counts_once(store: BudgetStore) -> None:
    gate = BudgetGate(store, ESTIMATOR)
    admission, _ = await gate.admit(PRINCIPAL, chat_call())
    await gate.settle(admission, 7)
    await gate.settle(admission, 7)
    assert await team_day(store) == (7, 0)


async def test_reservation_ids_never_repeat_within_or_across_gates(store: BudgetStore) -> None:
    gates = [BudgetGate(store, ESTIMATOR) for _ in range(2)]
    ids = set()
    for i in range(40):
        admission, _ = await gates[i % 2].admit(PRINCIPAL, chat_call())
        assert admission.reservation is not None
        ids.add(admission.reservation.reservation_id)
        await gates[i % 2].settle(admission, 1)
    assert len(ids) == 40


async def test_the_reservation_is_sized_from_the_cached_estimate(store: BudgetStore) -> None:
    gate = BudgetGate(store, ESTIMATOR)
    call = chat_call("Repeat after me: " * 20, max_tokens=64)
    expected = TokenEstimator(1.1, cache_entries=0).prompt_tokens(call.body) + 64
    for _ in range(2):  # the second estimate comes from the cache
        admission, _ = await gate.admit(PRINCIPAL, call)
        assert admission.reservation is not None
        assert admission.reservation.tokens == expected
        await gate.settle(admission, 0)


async def test_a_settlement_the_store_cannot_take_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dead = RedisBudgetStore.from_url(
        "redis://127.0.0.1:1/0", namespace=f"test:{uuid.uuid4().hex[:8]}", timeout_s=1
    )
    memory = MemoryBudgetStore()
    admission, _ = await BudgetGate(memory, ESTIMATOR).admit(PRINCIPAL, chat_call())
    gate = BudgetGate(dead, ESTIMATOR)
    try:
        with caplog.at_level(logging.ERROR, logger="gateway.budgets"):
            gate.begin_settle(admission, 5)
            await gate.handed_over(admission)  # no connection: returns at once
            await gate.drain()
        assert "budget settle failed: store unavailable" in caplog.text
        await gate.settle(admission, 5)  # already settled once: nothing more, no error
    finally:
        await dead.close()


async def test_a_cancelled_request_still_settles(store: BudgetStore) -> None:
    import asyncio

    gate = BudgetGate(store, ESTIMATOR)
    admission, _ = await gate.admit(PRINCIPAL, chat_call())
    task = asyncio.create_task(gate.settle(admission, 11))
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await gate.drain()
    assert await team_day(store) == (11, 0)


def test_rate_limit_headers_name_the_tightest_token_bucket_and_the_rpm_bucket() -> None:
    from gateway.budgets.model import BucketUsage

    now = 1_000.0
    buckets = (
        BucketUsage(PRINCIPAL.limits[0], used=10, reserved=0, remaining=99_990, resets_at=1_600),
        BucketUsage(PRINCIPAL.limits[1], used=3, reserved=0, remaining=997, resets_at=1_030),
        BucketUsage(PRINCIPAL.limits[2], used=10, reserved=5, remaining=90, resets_at=87_400),
    )
    assert rate_limit_headers(buckets, now) == [
        (b"x-ratelimit-limit-tokens", b"1000000"),
        (b"x-ratelimit-remaining-tokens", b"90"),
        (b"x-ratelimit-reset-tokens", b"24h0m0s"),
        (b"x-ratelimit-limit-requests", b"1000"),
        (b"x-ratelimit-remaining-requests", b"997"),
        (b"x-ratelimit-reset-requests", b"30s"),
    ]
