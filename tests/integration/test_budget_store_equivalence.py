"""Random operation sequences give identical answers from the memory and the Redis store.

The Redis Lua script re-implements the admission rule; this is what keeps the two honest.
It also checks the promise that matters most: while every request settles within its hold
and uses no more than it was granted, settled + held never exceeds any budget.
"""

from __future__ import annotations

import asyncio
import calendar
import dataclasses
import uuid
from dataclasses import dataclass

import pytest
import redis.asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.budgets import (
    Limit,
    LimitKind,
    MemoryBudgetStore,
    Reservation,
    ReserveRequest,
    ReserveResult,
    Subject,
    Window,
)
from gateway.budgets.redis_store import RedisBudgetStore

pytestmark = pytest.mark.integration

# 10:00:50 UTC: a few steps cross into the next minute, so windows roll over mid-run.
START_MS = calendar.timegm((2025, 3, 14, 10, 0, 50, 0, 0, 0)) * 1000
SUBJECTS = (Subject("k1", "t1"), Subject("k2", "t1"), Subject("k3", None))
TEAM_LIMITS = (
    Limit("team", "t1", Window.MONTH, 1500),
    Limit("team", "t1", Window.MINUTE, 900),
    Limit.tpm("team", "t1", 1200),
)


def limits_for(subject: Subject) -> tuple[Limit, ...]:
    own = (
        Limit("key", subject.key_id, Window.DAY, 800),
        Limit.rpm("key", subject.key_id, 6),
        Limit.tpm("key", subject.key_id, 700),
    )
    return own + TEAM_LIMITS if subject.team_id else own


@dataclass(frozen=True)
class Reserve:
    who: int
    tokens: int
    shrink: bool
    min_tokens: int
    ttl_s: float


@dataclass(frozen=True)
class Settle:
    which: int
    used_fraction: float


@dataclass(frozen=True)
class Retry:
    which: int


@dataclass(frozen=True)
class Usage:
    who: int


Op = Reserve | Settle | Retry | Usage

ops = st.one_of(
    st.builds(
        Reserve,
        who=st.integers(0, 2),
        tokens=st.integers(0, 500),
        shrink=st.booleans(),
        min_tokens=st.integers(0, 120),
        ttl_s=st.sampled_from([2.0, 15.0, 300.0]),
    ),
    st.builds(Settle, which=st.integers(0, 40), used_fraction=st.sampled_from([0.0, 0.5, 1.0])),
    st.builds(Retry, which=st.integers(0, 40)),
    st.builds(Usage, who=st.integers(0, 2)),
)
steps = st.lists(st.tuples(ops, st.integers(0, 4000)), min_size=1, max_size=30)


async def run_both(url: str, script: list[tuple[Op, int]]) -> None:
    namespace = f"test:{uuid.uuid4().hex[:12]}:gw:b"
    memory = MemoryBudgetStore()
    remote = RedisBudgetStore.from_url(url, namespace=namespace)
    requests: list[ReserveRequest] = []
    granted: list[Reservation] = []
    late_settle = False
    now_ms = START_MS
    try:
        for n, (op, advance_ms) in enumerate(script):
            now_ms += advance_ms
            now = now_ms / 1000
            if isinstance(op, Reserve | Retry):
                if isinstance(op, Retry):
                    if not requests:
                        continue
                    old = requests[op.which % len(requests)]
                    request = dataclasses.replace(old, now=now)
                else:
                    subject = SUBJECTS[op.who]
                    request = ReserveRequest(
                        reservation_id=f"r{n}",
                        subject=subject,
                        limits=limits_for(subject),
                        tokens=op.tokens,
                        now=now,
                        ttl_s=op.ttl_s,
                        allow_shrink=op.shrink,
                        min_tokens=min(op.min_tokens, op.tokens),
                    )
                requests.append(request)
                outcomes: list[ReserveResult | str] = []
                for store in (memory, remote):
                    try:
                        outcomes.append(await store.reserve(request))
                    except ValueError as exc:
                        outcomes.append(str(exc))
                assert outcomes[0] == outcomes[1], (n, op)
                result = outcomes[0]
                if not isinstance(result, str) and result.reservation is not None:
                    granted.append(result.reservation)
            elif isinstance(op, Settle):
                if not granted:
                    continue
                reservation = granted[op.which % len(granted)]
                late_settle |= now >= reservation.expires_at
                used = int(reservation.tokens * op.used_fraction)
                answers = [await s.settle(reservation, used, now) for s in (memory, remote)]
                assert answers[0] == answers[1], (n, op)
            else:
                subject = SUBJECTS[op.who]
                limits = limits_for(subject)
                reports = [await s.usage(subject, limits, now) for s in (memory, remote)]
                assert reports[0] == reports[1], (n, op)
                if not late_settle:
                    for bucket in reports[0]:
                        if bucket.limit.kind is not LimitKind.RPM:
                            assert bucket.used + bucket.reserved <= bucket.limit.amount, bucket
    finally:
        await memory.close()
        cleanup = redis.asyncio.Redis.from_url(url)
        try:
            doomed = [key async for key in cleanup.scan_iter(match=f"{namespace}:*", count=500)]
            if doomed:
                await cleanup.delete(*doomed)
        finally:
            await cleanup.aclose()
            await remote.close()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=steps)
def test_memory_and_redis_stores_agree(redis_url: str, script: list[tuple[Op, int]]) -> None:
    asyncio.run(run_both(redis_url, script))
