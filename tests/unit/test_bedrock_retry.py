"""Backoff schedule of gateway.bedrock.retry: cap, full-jitter bounds, attempts and deadline."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.bedrock.retry import RetryPolicy


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("retry", "ceiling"),
    [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (6, 1.0), (60, 1.0), (5000, 1.0)],
)
def test_ceiling_doubles_from_base_and_stops_at_cap(retry: int, ceiling: float) -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=1.0)
    assert policy.ceiling(retry) == pytest.approx(ceiling)


@pytest.mark.parametrize(
    ("retry", "rand", "expected"),
    [(1, 0.0, 0.0), (1, 0.5, 0.05), (3, 0.25, 0.1), (9, 0.5, 0.5), (9, 0.0, 0.0)],
)
def test_delay_is_rand_times_ceiling(retry: int, rand: float, expected: float) -> None:
    assert RetryPolicy(base_delay=0.1, max_delay=1.0).delay(retry, rand) == pytest.approx(expected)


@given(
    retry=st.integers(min_value=1, max_value=100_000),
    rand=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
    base=st.floats(min_value=0.0, max_value=10.0),
    cap=st.floats(min_value=0.0, max_value=60.0),
)
def test_full_jitter_stays_within_zero_and_cap(
    retry: int, rand: float, base: float, cap: float
) -> None:
    policy = RetryPolicy(base_delay=base, max_delay=cap)
    delay = policy.delay(retry, rand)
    assert 0.0 <= delay <= policy.ceiling(retry) <= cap


def test_default_random_source_draws_within_bounds() -> None:
    policy = RetryPolicy(max_attempts=1000, base_delay=0.1, max_delay=1.0, deadline=1e9)
    state = policy.begin()
    delays = [state.next_delay() for _ in range(200)]
    assert all(d is not None and 0.0 <= d <= 1.0 for d in delays)
    # Full jitter, not a fixed schedule: 200 draws are not all the same.
    assert len(set(delays)) > 100


@pytest.mark.parametrize("max_attempts", [1, 2, 3, 7])
def test_gives_up_after_max_attempts(max_attempts: int) -> None:
    policy = RetryPolicy(max_attempts=max_attempts, deadline=1e9)
    state = policy.begin(clock=FakeClock(), rand=lambda: 0.5)
    delays = []
    while (delay := state.next_delay()) is not None:
        delays.append(delay)
    assert len(delays) == max_attempts - 1
    assert state.attempts == max_attempts
    assert state.retries == max_attempts - 1
    # Asking again after giving up keeps giving up.
    assert state.next_delay() is None


def test_schedule_with_fixed_jitter() -> None:
    policy = RetryPolicy(max_attempts=6, base_delay=0.1, max_delay=1.0, deadline=1e9)
    state = policy.begin(clock=FakeClock(), rand=lambda: 0.5)
    delays = [state.next_delay() for _ in range(6)]
    assert delays[:5] == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.5])
    assert delays[5] is None


def test_gives_up_when_the_next_attempt_would_start_after_the_deadline() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=100, base_delay=0.1, max_delay=1.0, deadline=2.0)
    state = policy.begin(clock=clock, rand=lambda: 0.99)
    clock.now += 0.5  # first attempt took 0.5 s
    assert state.next_delay() == pytest.approx(0.099)
    clock.now += 1.2  # now 1.7 s in; a 0.198 s sleep still starts before 2.0 s
    assert state.next_delay() == pytest.approx(0.198)
    clock.now += 0.2  # 1.9 s in; 0.396 s would end past the deadline
    assert state.next_delay() is None
    assert state.retries == 2


def test_zero_deadline_never_retries() -> None:
    state = RetryPolicy(max_attempts=5, deadline=0.0).begin(clock=FakeClock(), rand=lambda: 0.5)
    assert state.next_delay() is None
    assert state.retries == 0


def test_states_are_independent_per_request() -> None:
    policy = RetryPolicy(max_attempts=2, deadline=1e9)
    first = policy.begin(clock=FakeClock(), rand=lambda: 0.5)
    second = policy.begin(clock=FakeClock(), rand=lambda: 0.5)
    assert first.next_delay() is not None
    assert first.next_delay() is None
    # The first request exhausting its attempts does not limit the second.
    assert second.next_delay() is not None


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"base_delay": -0.1}, {"max_delay": -1.0}, {"deadline": -1.0}],
)
def test_rejects_invalid_policies(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
