"""The memory store forgets ended windows and lapsed records, so it cannot grow forever."""

from __future__ import annotations

import calendar

from gateway.budgets import Limit, MemoryBudgetStore, ReserveRequest, Subject, Window

T0 = calendar.timegm((2025, 3, 14, 10, 0, 0, 0, 0, 0))
SUBJECT = Subject("k1", "t1")
LIMITS = (Limit("key", "k1", Window.MINUTE, 10_000), Limit.rpm("key", "k1", 1000))


async def test_ended_windows_and_lapsed_records_are_swept() -> None:
    store = MemoryBudgetStore(key_slack_s=60)
    for minute in range(30):
        now = T0 + minute * 60
        request = ReserveRequest(f"r{minute}", SUBJECT, LIMITS, tokens=5, now=now, ttl_s=30)
        result = await store.reserve(request)
        assert result.reservation is not None
        await store.settle(result.reservation, 5, now + 1)
        # Only the current window and the one still inside its slack remain.
        assert len(store._buckets) <= 2 * len(LIMITS)
        assert len(store._records) <= 2
    assert len(store._buckets) > 0
    assert len(store._bucket_expiry) <= 2 * len(LIMITS)
    assert len(store._record_expiry) <= 2


async def test_close_drops_everything() -> None:
    store = MemoryBudgetStore()
    await store.reserve(ReserveRequest("r", SUBJECT, LIMITS, tokens=5, now=T0))
    await store.close()
    (minute, _) = await store.usage(SUBJECT, LIMITS, T0)
    assert (minute.used, minute.reserved) == (0, 0)
