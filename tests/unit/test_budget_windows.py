"""Fixed UTC window arithmetic: bounds, resets, calendar months and window ids."""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.budgets.windows import MAX_EPOCH, Window, bounds, window_id

times = st.floats(min_value=0, max_value=MAX_EPOCH - 1, allow_nan=False, allow_infinity=False)
int_times = st.integers(min_value=0, max_value=MAX_EPOCH - 1)
windows = st.sampled_from(list(Window))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))


@given(window=windows, now=times)
def test_now_lies_inside_its_window(window: Window, now: float) -> None:
    start, end = bounds(window, now)
    assert start <= now < end


@given(window=windows, now=times)
def test_end_is_the_next_windows_start(window: Window, now: float) -> None:
    start, end = bounds(window, now)
    if end < MAX_EPOCH:
        assert bounds(window, end)[0] == end
    # The last instant before the reset still belongs to this window.
    assert bounds(window, end - 1)[0] == start


@given(window=windows, now=int_times)
def test_every_instant_of_a_window_maps_to_the_same_window(window: Window, now: int) -> None:
    start, end = bounds(window, now)
    assert bounds(window, start) == (start, end)
    assert bounds(window, (start + end) // 2) == (start, end)


@given(now=int_times)
def test_windows_start_on_utc_boundaries(now: int) -> None:
    moment = datetime.fromtimestamp(now, UTC)
    expected = {
        Window.MINUTE: moment.replace(second=0),
        Window.HOUR: moment.replace(minute=0, second=0),
        Window.DAY: moment.replace(hour=0, minute=0, second=0),
        Window.MONTH: moment.replace(day=1, hour=0, minute=0, second=0),
    }
    for window, start in expected.items():
        assert bounds(window, now)[0] == int(start.timestamp()), window


@given(now=int_times)
def test_month_length_follows_the_calendar(now: int) -> None:
    start, end = bounds(Window.MONTH, now)
    moment = datetime.fromtimestamp(now, UTC)
    days = calendar.monthrange(moment.year, moment.month)[1]
    assert end - start == days * 86400


@pytest.mark.parametrize(
    ("now", "start", "end"),
    [
        # December rolls over into January of the next year.
        (utc(2024, 12, 31, 23, 59, 59), utc(2024, 12, 1), utc(2025, 1, 1)),
        (utc(2025, 1, 1), utc(2025, 1, 1), utc(2025, 2, 1)),
        # Leap years: 29 days in February 2024 and 2000, 28 in 2025 and 1900-style 2100.
        (utc(2024, 2, 29, 12), utc(2024, 2, 1), utc(2024, 3, 1)),
        (utc(2000, 2, 15), utc(2000, 2, 1), utc(2000, 3, 1)),
        (utc(2025, 2, 28, 23, 59, 59), utc(2025, 2, 1), utc(2025, 3, 1)),
        (utc(2100, 2, 28), utc(2100, 2, 1), utc(2100, 3, 1)),
        (utc(2025, 4, 30, 23), utc(2025, 4, 1), utc(2025, 5, 1)),
    ],
)
def test_month_boundaries(now: int, start: int, end: int) -> None:
    assert bounds(Window.MONTH, now) == (start, end)


def test_leap_day_count() -> None:
    feb_2024 = bounds(Window.MONTH, utc(2024, 2, 10))
    feb_2100 = bounds(Window.MONTH, utc(2100, 2, 10))
    assert feb_2024[1] - feb_2024[0] == 29 * 86400
    assert feb_2100[1] - feb_2100[0] == 28 * 86400


@pytest.mark.parametrize(
    ("window", "now", "start", "end"),
    [
        (
            Window.MINUTE,
            utc(2025, 3, 14, 10, 0, 59) + 0.999,
            utc(2025, 3, 14, 10, 0),
            utc(2025, 3, 14, 10, 1),
        ),
        (Window.MINUTE, utc(2025, 3, 14, 10, 1), utc(2025, 3, 14, 10, 1), utc(2025, 3, 14, 10, 2)),
        (Window.HOUR, utc(2025, 3, 14, 23, 59, 59), utc(2025, 3, 14, 23), utc(2025, 3, 15)),
        (Window.DAY, utc(2024, 12, 31, 23, 59, 59), utc(2024, 12, 31), utc(2025, 1, 1)),
        (Window.DAY, utc(2024, 2, 28, 12), utc(2024, 2, 28), utc(2024, 2, 29)),
    ],
)
def test_fixed_boundaries(window: Window, now: float, start: int, end: int) -> None:
    assert bounds(window, now) == (start, end)


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        (Window.MINUTE, "2025-03-14T10:07"),
        (Window.HOUR, "2025-03-14T10"),
        (Window.DAY, "2025-03-14"),
        (Window.MONTH, "2025-03"),
    ],
)
def test_window_ids_are_readable_utc(window: Window, expected: str) -> None:
    start, _ = bounds(window, utc(2025, 3, 14, 10, 7, 30))
    assert window_id(window, start) == expected


@given(window=windows, a=int_times, b=int_times)
def test_window_ids_differ_exactly_when_windows_differ(window: Window, a: int, b: int) -> None:
    start_a, start_b = bounds(window, a)[0], bounds(window, b)[0]
    assert (window_id(window, start_a) == window_id(window, start_b)) == (start_a == start_b)


@pytest.mark.parametrize("now", [-1, MAX_EPOCH, float("nan")])
def test_times_outside_the_range_are_rejected(now: float) -> None:
    with pytest.raises(ValueError, match="supported range"):
        bounds(Window.DAY, now)


@pytest.fixture
def kathmandu_local_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A local zone at UTC+05:45, so any use of local time shows up in the results."""
    monkeypatch.setenv("TZ", "Asia/Kathmandu")
    time.tzset()
    assert time.timezone == -(5 * 3600 + 45 * 60), "tzdata for Asia/Kathmandu is missing"
    yield
    monkeypatch.undo()
    time.tzset()


def test_local_time_zone_is_ignored(kathmandu_local_time: None) -> None:
    now = utc(2025, 3, 31, 22, 30)  # already April 1st in Kathmandu
    assert bounds(Window.MONTH, now) == (utc(2025, 3, 1), utc(2025, 4, 1))
    assert bounds(Window.DAY, now) == (utc(2025, 3, 31), utc(2025, 4, 1))
    assert bounds(Window.HOUR, now) == (utc(2025, 3, 31, 22), utc(2025, 3, 31, 23))
    assert window_id(Window.DAY, utc(2025, 3, 31)) == "2025-03-31"
