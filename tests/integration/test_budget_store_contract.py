"""One contract for every BudgetStore, run against the memory store and a real Redis."""

from __future__ import annotations

import asyncio
import calendar

import pytest

from gateway.budgets import (
    BucketUsage,
    BudgetStore,
    Limit,
    Reservation,
    ReserveRequest,
    ReserveResult,
    Subject,
    Window,
)
from gateway.budgets.model import LimitKind

pytestmark = pytest.mark.integration


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))


T0 = utc(2025, 3, 14, 10, 0, 5) + 0.25  # 10:00:05.25 UTC; minute ends at 10:01:00
MINUTE_END = utc(2025, 3, 14, 10, 1)
K1 = Subject("k1", "t1")
K2 = Subject("k2", "t1")


@pytest.fixture
def store(budget_store: BudgetStore) -> BudgetStore:
    """Each test once per store (tests/fixtures/budgets.py)."""
    return budget_store


def req(
    rid: str,
    limits: tuple[Limit, ...],
    tokens: int,
    *,
    subject: Subject = K1,
    now: float = T0,
    ttl_s: float = 300.0,
    shrink: bool = False,
    min_tokens: int = 1,
) -> ReserveRequest:
    return ReserveRequest(
        reservation_id=rid,
        subject=subject,
        limits=limits,
        tokens=tokens,
        now=now,
        ttl_s=ttl_s,
        allow_shrink=shrink,
        min_tokens=min_tokens,
    )


async def grant(store: BudgetStore, request: ReserveRequest) -> Reservation:
    result = await store.reserve(request)
    assert result.ok, result.refused
    assert result.reservation is not None
    return result.reservation


async def state(
    store: BudgetStore, limit: Limit, now: float = T0, subject: Subject = K1
) -> tuple[int, int, int]:
    (usage,) = await store.usage(subject, [limit], now)
    return usage.used, usage.reserved, usage.remaining


async def test_reserve_holds_then_settle_counts_exact_usage(store: BudgetStore) -> None:
    day = Limit("key", "k1", Window.DAY, 1000)
    result = await store.reserve(req("a", (day,), 300))
    assert (result.ok, result.granted_tokens) == (True, 300)
    assert result.buckets[0].reserved == 300
    assert result.buckets[0].remaining == 700
    assert await state(store, day) == (0, 300, 700)
    assert result.reservation is not None
    assert await store.settle(result.reservation, 120, T0 + 1) is True
    assert await state(store, day) == (120, 0, 880)


async def test_key_and_team_buckets_are_reserved_all_or_none(store: BudgetStore) -> None:
    key_day = Limit("key", "k1", Window.DAY, 1000)
    team_day = Limit("team", "t1", Window.DAY, 500)
    other = await grant(
        store, req("k2", (Limit("key", "k2", Window.DAY, 1000), team_day), 450, subject=K2)
    )
    await store.settle(other, 450, T0)

    result = await store.reserve(req("a", (key_day, team_day), 100))
    assert not result.ok
    assert result.refused is not None
    assert result.refused.limit == team_day
    assert result.refusal_code == "insufficient_quota"
    assert result.reservation is None
    # Nothing was held anywhere: the key bucket is untouched.
    assert await state(store, key_day) == (0, 0, 1000)
    assert await state(store, team_day) == (450, 0, 50)

    ok = await store.reserve(req("b", (key_day, team_day), 50))
    assert ok.granted_tokens == 50
    assert await state(store, key_day) == (0, 50, 950)
    assert await state(store, team_day) == (450, 50, 0)


async def test_shrink_grants_what_the_tightest_budget_has_left(store: BudgetStore) -> None:
    key_day = Limit("key", "k1", Window.DAY, 1000)
    team_month = Limit("team", "t1", Window.MONTH, 10_000)
    spent = await grant(store, req("a", (key_day, team_month), 900))
    await store.settle(spent, 900, T0)

    result = await store.reserve(req("b", (key_day, team_month), 300, shrink=True, min_tokens=50))
    assert (result.ok, result.granted_tokens) == (True, 100)
    assert result.reservation is not None
    assert result.reservation.tokens == 100
    assert [b.reserved for b in result.buckets] == [100, 100]
    assert await state(store, team_month) == (900, 100, 9000)

    again = await store.reserve(req("c", (key_day, team_month), 300, shrink=True, min_tokens=1))
    assert not again.ok
    assert again.refused is not None
    assert again.refused.limit == key_day


async def test_shrink_never_goes_below_min_tokens(store: BudgetStore) -> None:
    day = Limit("key", "k1", Window.DAY, 1000)
    await grant(store, req("a", (day,), 960))
    result = await store.reserve(req("b", (day,), 300, shrink=True, min_tokens=41))
    assert not result.ok
    assert await state(store, day) == (0, 960, 40)
    exact = await store.reserve(req("c", (day,), 300, shrink=True, min_tokens=40))
    assert exact.granted_tokens == 40


async def test_rpm_counts_requests_per_fixed_minute(store: BudgetStore) -> None:
    rpm = Limit.rpm("key", "k1", 3)
    for i in range(3):
        reservation = await grant(store, req(f"r{i}", (rpm,), 10_000))
        assert await store.settle(reservation, 5, T0) is True
    refused = await store.reserve(req("r3", (rpm,), 1))
    assert refused.refused is not None
    assert refused.refused.limit.kind is LimitKind.RPM
    assert refused.refusal_code == "rate_limit_exceeded"
    assert refused.refused.resets_at == MINUTE_END
    # Settling gives no request back; the next minute does.
    assert await state(store, rpm) == (3, 0, 0)
    assert (await store.reserve(req("r4", (rpm,), 1, now=MINUTE_END))).ok


async def test_tpm_is_a_token_bucket_per_minute_that_never_shrinks(store: BudgetStore) -> None:
    tpm = Limit.tpm("key", "k1", 1000)
    first = await grant(store, req("a", (tpm,), 600))
    refused = await store.reserve(req("b", (tpm,), 600, shrink=True))
    assert refused.refusal_code == "rate_limit_exceeded"
    await store.settle(first, 100, T0 + 1)
    assert (await store.reserve(req("c", (tpm,), 600, now=T0 + 2))).granted_tokens == 600
    assert not (await store.reserve(req("d", (tpm,), 301, now=T0 + 3))).ok
    assert (await store.reserve(req("e", (tpm,), 1000, now=MINUTE_END))).ok


async def test_a_lapsed_hold_frees_its_budget_after_the_ttl(store: BudgetStore) -> None:
    day = Limit("key", "k1", Window.DAY, 1000)
    await grant(store, req("a", (day,), 800, ttl_s=30))
    assert not (await store.reserve(req("b", (day,), 300, now=T0 + 29.9))).ok
    assert await state(store, day, T0 + 29.9) == (0, 800, 200)
    assert await state(store, day, T0 + 30) == (0, 0, 1000)
    assert (await store.reserve(req("c", (day,), 300, now=T0 + 30))).ok


async def test_each_window_starts_fresh_at_its_reset(store: BudgetStore) -> None:
    minute = Limit("key", "k1", Window.MINUTE, 100)
    day = Limit("key", "k1", Window.DAY, 10_000)
    spent = await grant(store, req("a", (minute, day), 100))
    await store.settle(spent, 100, T0)
    refused = await store.reserve(req("b", (minute, day), 1, now=MINUTE_END - 0.001))
    assert refused.refused is not None
    assert refused.refused.limit == minute
    assert refused.refused.resets_at == MINUTE_END
    fresh = await store.reserve(req("c", (minute, day), 100, now=MINUTE_END))
    assert [(b.used, b.reserved) for b in fresh.buckets] == [(0, 100), (100, 100)]
    assert [b.resets_at for b in fresh.buckets] == [MINUTE_END + 60, utc(2025, 3, 15)]


async def test_a_month_budget_resets_on_the_first_of_january(store: BudgetStore) -> None:
    month = Limit("team", "t1", Window.MONTH, 1000)
    before = utc(2024, 12, 31, 23, 59, 30)
    spent = await grant(store, req("a", (month,), 1000, now=before))
    await store.settle(spent, 1000, before + 10)
    assert not (await store.reserve(req("b", (month,), 1, now=utc(2025, 1, 1) - 0.5))).ok
    result = await store.reserve(req("c", (month,), 1000, now=utc(2025, 1, 1)))
    assert result.ok
    assert result.buckets[0].resets_at == utc(2025, 2, 1)
    (december,) = await store.usage(K1, [month], before)
    assert (december.used, december.resets_at) == (1000, utc(2025, 1, 1))


async def test_settle_is_idempotent(store: BudgetStore) -> None:
    day = Limit("key", "k1", Window.DAY, 1000)
    reservation = await grant(store, req("a", (day,), 300))
    assert await store.settle(reservation, 200, T0 + 1) is True
    assert await store.settle(reservation, 200, T0 + 2) is False
    assert await store.settle(reservation, 999, T0 + 3) is False
    assert await state(store, day) == (200, 0, 800)


async def test_settle_after_the_hold_lapsed_still_counts_usage(store: BudgetStore) -> None:
    day = Limit("key", "k1", Window.DAY, 1000)
    reservation = await grant(store, req("a", (day,), 500, ttl_s=10))
    assert await state(store, day, T0 + 100) == (0, 0, 1000)
    assert await store.settle(reservation, 400, T0 + 100) is True
    assert await state(store, day, T0 + 100) == (400, 0, 600)
    assert await store.settle(reservation, 400, T0 + 101) is False


async def test_usage_lands_in_the_window_the_reservation_was_made_in(store: BudgetStore) -> None:
    minute = Limit("key", "k1", Window.MINUTE, 1000)
    reservation = await grant(store, req("a", (minute,), 500))
    await store.settle(reservation, 300, MINUTE_END + 5)
    assert await state(store, minute, T0) == (300, 0, 700)
    assert await state(store, minute, MINUTE_END + 5) == (0, 0, 1000)


async def test_settle_skips_windows_that_ended_beyond_the_slack(store: BudgetStore) -> None:
    minute = Limit("key", "k1", Window.MINUTE, 1000)
    day = Limit("key", "k1", Window.DAY, 1000)
    reservation = await grant(store, req("a", (minute, day), 500, ttl_s=10))
    late = MINUTE_END + 3600 + 1  # default key slack is one hour
    assert await store.settle(reservation, 300, late) is True
    assert await state(store, day, late) == (300, 0, 700)


async def test_usage_reports_used_reserved_remaining_limit_and_reset(store: BudgetStore) -> None:
    limits = (
        Limit("key", "k1", Window.DAY, 1000),
        Limit("team", "t1", Window.MONTH, 5000),
        Limit("key", "k1", Window.HOUR, 700),
        Limit.rpm("key", "k1", 10),
        Limit.tpm("team", "t1", 2000),
    )
    done = await grant(store, req("a", limits, 300))
    await store.settle(done, 200, T0 + 1)
    await grant(store, req("b", limits, 100, now=T0 + 2))

    report = await store.usage(K1, limits, T0 + 3)
    assert report == [
        BucketUsage(limits[0], used=200, reserved=100, remaining=700, resets_at=utc(2025, 3, 15)),
        BucketUsage(limits[1], used=200, reserved=100, remaining=4700, resets_at=utc(2025, 4, 1)),
        BucketUsage(
            limits[2], used=200, reserved=100, remaining=400, resets_at=utc(2025, 3, 14, 11)
        ),
        BucketUsage(limits[3], used=2, reserved=0, remaining=8, resets_at=MINUTE_END),
        BucketUsage(limits[4], used=200, reserved=100, remaining=1700, resets_at=MINUTE_END),
    ]
    # A team's usage is visible from any key of the team.
    (team,) = await store.usage(K2, [limits[1]], T0 + 3)
    assert (team.used, team.reserved) == (200, 100)
    assert await store.usage(
        Subject("nobody", None), [Limit("key", "nobody", Window.DAY, 5)], T0
    ) == [BucketUsage(Limit("key", "nobody", Window.DAY, 5), 0, 0, 5, utc(2025, 3, 15))]


async def test_concurrent_reservations_never_overspend(store: BudgetStore) -> None:
    day = Limit("key", "k1", Window.DAY, 1000)
    team = Limit("team", "t1", Window.MONTH, 5000)
    results: list[ReserveResult] = await asyncio.gather(
        *(store.reserve(req(f"c{i}", (day, team), 10)) for i in range(300))
    )
    granted = [r.reservation for r in results if r.reservation is not None]
    assert len(granted) == 100
    assert all(r.refused is not None and r.refused.limit == day for r in results if not r.ok)
    assert await state(store, day) == (0, 1000, 0)
    settled = await asyncio.gather(*(store.settle(r, 10, T0 + 1) for r in granted))
    assert all(settled)
    assert await state(store, day) == (1000, 0, 0)
    assert await state(store, team) == (1000, 0, 4000)


async def test_retrying_a_reservation_does_not_hold_twice(store: BudgetStore) -> None:
    day = Limit("key", "k1", Window.DAY, 1000)
    first = await store.reserve(req("a", (day,), 300))
    again = await store.reserve(req("a", (day,), 300, now=T0 + 1))
    assert (again.ok, again.granted_tokens) == (True, 300)
    assert again.reservation == first.reservation
    assert await state(store, day) == (0, 300, 700)


async def test_reusing_a_settled_reservation_id_is_an_error(store: BudgetStore) -> None:
    day = Limit("key", "k1", Window.DAY, 1000)
    reservation = await grant(store, req("a", (day,), 300))
    await store.settle(reservation, 300, T0 + 1)
    with pytest.raises(ValueError, match="already settled"):
        await store.reserve(req("a", (day,), 300, now=T0 + 2))
    assert await state(store, day) == (300, 0, 700)


async def test_a_refusal_changes_nothing(store: BudgetStore) -> None:
    limits = (Limit("key", "k1", Window.DAY, 100), Limit.rpm("key", "k1", 5))
    before = await store.usage(K1, limits, T0)
    assert not (await store.reserve(req("a", limits, 101))).ok
    assert await store.usage(K1, limits, T0) == before


async def test_a_request_without_limits_is_granted_as_asked(store: BudgetStore) -> None:
    result = await store.reserve(req("a", (), 12_345))
    assert (result.ok, result.granted_tokens, result.buckets) == (True, 12_345, ())
    assert result.reservation is not None
    assert await store.settle(result.reservation, 10, T0) is True


async def test_negative_usage_is_rejected(store: BudgetStore) -> None:
    day = Limit("key", "k1", Window.DAY, 1000)
    reservation = await grant(store, req("a", (day,), 300))
    with pytest.raises(ValueError, match="negative"):
        await store.settle(reservation, -1, T0)
    assert await state(store, day) == (0, 300, 700)


async def test_ping_answers(store: BudgetStore) -> None:
    await store.ping()


async def test_a_begun_settlement_completes_without_anyone_awaiting_it(
    store: BudgetStore,
) -> None:
    day = Limit("key", "k1", Window.DAY, 1000)
    reservation = await grant(store, req("a", (day,), 300))
    answer = store.begin_settle(reservation, 120, T0 + 1)
    await store.flush()
    # Another reader sees it as soon as it is on its way, before its answer is read.
    assert await state(store, day) == (120, 0, 880)
    assert await answer is True
    repeat = store.begin_settle(reservation, 120, T0 + 2)
    assert await repeat is False


async def test_a_begun_settlement_survives_its_caller_being_cancelled(store: BudgetStore) -> None:
    day = Limit("key", "k1", Window.DAY, 1000)
    reservation = await grant(store, req("a", (day,), 300))

    begun = asyncio.Event()

    async def caller() -> None:
        store.begin_settle(reservation, 200, T0 + 1)
        begun.set()
        await asyncio.Event().wait()  # still busy when the client goes away

    task = asyncio.create_task(caller())
    await begun.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await store.flush()
    assert await state(store, day) == (200, 0, 800)


async def test_begin_settle_rejects_negative_usage_at_once(store: BudgetStore) -> None:
    day = Limit("key", "k1", Window.DAY, 1000)
    reservation = await grant(store, req("a", (day,), 300))
    with pytest.raises(ValueError, match="negative"):
        store.begin_settle(reservation, -1, T0)
    assert await state(store, day) == (0, 300, 700)


async def test_flush_with_nothing_begun_returns_at_once(store: BudgetStore) -> None:
    await asyncio.wait_for(store.flush(), timeout=1)
