"""Per-request retry policy for Bedrock calls: capped exponential backoff with full jitter."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long one request may retry; holds no state shared between requests."""

    max_attempts: int = 3
    base_delay: float = 0.1
    max_delay: float = 1.0
    # No new attempt starts later than this many seconds after the first one began.
    deadline: float = 5.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.deadline < 0:
            raise ValueError("retry delays and deadline must not be negative")

    def ceiling(self, retry: int) -> float:
        """Upper bound of the sleep before retry number ``retry`` (1 = first retry)."""
        # Cap the exponent too: 2.0**1100 overflows a float long before the cap matters.
        return min(self.max_delay, self.base_delay * 2.0 ** min(retry - 1, 64))

    def delay(self, retry: int, rand: float) -> float:
        """Full jitter: ``rand`` (uniform in [0, 1)) scaled to [0, ceiling)."""
        return rand * self.ceiling(retry)

    def begin(
        self,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> RetryState:
        """Start tracking one request; call when its first attempt starts."""
        return RetryState(self, clock, rand)


class RetryState:
    """Attempts made by one request and whether another one is allowed."""

    __slots__ = ("_clock", "_give_up_at", "_policy", "_rand", "attempts")

    def __init__(
        self, policy: RetryPolicy, clock: Callable[[], float], rand: Callable[[], float]
    ) -> None:
        self._policy = policy
        self._clock = clock
        self._rand = rand
        self._give_up_at = clock() + policy.deadline
        self.attempts = 1

    @property
    def retries(self) -> int:
        return self.attempts - 1

    def next_delay(self) -> float | None:
        """Seconds to sleep before the next attempt, or None when the request must give up.

        Counts the attempt as made when it returns a delay.
        """
        if self.attempts >= self._policy.max_attempts:
            return None
        delay = self._policy.delay(self.attempts, self._rand())
        # Give up rather than sleep past the deadline: a late retry only adds latency.
        if self._clock() + delay > self._give_up_at:
            return None
        self.attempts += 1
        return delay
