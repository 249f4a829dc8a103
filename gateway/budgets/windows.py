"""Fixed UTC budget windows: where a window starts, where it ends (resets) and its id."""

from __future__ import annotations

import calendar
import math
import time
from enum import StrEnum


class Window(StrEnum):
    """A fixed UTC window; every bucket resets at the start of the next one."""

    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    MONTH = "month"


_FIXED_SECONDS = {Window.MINUTE: 60, Window.HOUR: 3600, Window.DAY: 86400}

# time.gmtime covers this range on every platform we run on; months need a calendar.
MIN_EPOCH = 0
MAX_EPOCH = 253_370_764_800  # 9999-01-01T00:00:00Z: the next month start must stay representable


def bounds(window: Window, now: float) -> tuple[int, int]:
    """Return ``(start, end)`` in epoch seconds with ``start <= now < end``.

    ``end`` is the reset time: the first instant of the next window. Only UTC is used, so
    the answer never depends on the host's time zone or daylight-saving rules.
    """
    if not MIN_EPOCH <= now < MAX_EPOCH:
        raise ValueError("time outside the supported range (1970-01-01 .. 9999-01-01 UTC)")
    size = _FIXED_SECONDS.get(window)
    if size is not None:
        start = int(now // size) * size
        return start, start + size
    tm = time.gmtime(now)
    year, month = tm.tm_year, tm.tm_mon
    start = calendar.timegm((year, month, 1, 0, 0, 0, 0, 0, 0))
    # December rolls over into January of the next year.
    next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
    return start, calendar.timegm((next_year, next_month, 1, 0, 0, 0, 0, 0, 0))


_ID_FORMATS = {
    Window.MINUTE: "%Y-%m-%dT%H:%M",
    Window.HOUR: "%Y-%m-%dT%H",
    Window.DAY: "%Y-%m-%d",
    Window.MONTH: "%Y-%m",
}


def window_id(window: Window, start: int) -> str:
    """A readable, sortable id for the window starting at ``start`` (used inside store keys)."""
    return time.strftime(_ID_FORMATS[window], time.gmtime(start))


def epoch_ms(now: float) -> int:
    """An instant in whole milliseconds, floored: both stores compare hold expiry in these
    units, and flooring keeps the instant inside the windows ``now`` belongs to."""
    return math.floor(now * 1000)


def duration_ms(seconds: float) -> int:
    """A duration in whole milliseconds, rounded up so a hold never lasts less than asked."""
    return math.ceil(seconds * 1000)
