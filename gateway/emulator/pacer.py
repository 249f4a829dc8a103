"""Token pacing for many concurrent streams from one timer per millisecond tick."""

from __future__ import annotations

import asyncio
import math

# Timers are shared per tick: a thousand paced streams cost one timer each millisecond
# instead of a thousand (asyncio.sleep makes one timer per call, the dominant cost there).
_TICKS_PER_SECOND = 1000


class Pacer:
    """Wakes waiters at (or just after) loop-time deadlines, rounded up to the next tick."""

    def __init__(self) -> None:
        self._waiters: dict[int, list[asyncio.Future[None]]] = {}

    def until(self, when: float) -> asyncio.Future[None] | None:
        """A future resolved at loop time ``when``; None if that time has already come.

        Every waiter gets its own future, so cancelling one stream never disturbs another.
        """
        loop = asyncio.get_running_loop()
        if when <= loop.time():
            return None
        tick = math.ceil(when * _TICKS_PER_SECOND)
        future: asyncio.Future[None] = loop.create_future()
        waiters = self._waiters.get(tick)
        if waiters is None:
            self._waiters[tick] = [future]
            loop.call_at(tick / _TICKS_PER_SECOND, self._fire, tick)
        else:
            waiters.append(future)
        return future

    def _fire(self, tick: int) -> None:
        for future in self._waiters.pop(tick, ()):
            if not future.done():
                future.set_result(None)
