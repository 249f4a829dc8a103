"""The BudgetStore interface both stores implement (one contract suite tests them all)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from gateway.budgets.model import (
    BucketUsage,
    Limit,
    Reservation,
    ReserveRequest,
    ReserveResult,
    Subject,
)


class BudgetStore(Protocol):
    """Atomic token/request accounting across a key's and its team's buckets.

    The promise: while each request settles within its ``ttl_s`` and uses no more than it
    was granted, settled + held never exceeds a budget, however many tasks or replicas
    reserve at once. Usage is charged to the windows current when the reservation was made.

    Every method raises ``BudgetStoreUnavailableError`` when the backing store cannot be
    reached; none caches that state, so the next call after recovery simply works.
    """

    async def reserve(self, req: ReserveRequest) -> ReserveResult:
        """Check every bucket and hold ``req.tokens`` in all of them, or in none.

        Idempotent per ``reservation_id`` while its hold lives: a retry returns the
        original grant instead of holding twice. Reusing the id of a reservation settled
        less than ``ttl_s`` ago raises ``ValueError`` (its usage would never be counted).
        """
        ...

    async def settle(self, reservation: Reservation, used_tokens: int, now: float) -> bool:
        """Count ``used_tokens`` in the reservation's buckets and release its hold.

        Idempotent: only the first call counts (returns True); repeats return False. Usage
        is counted even when the hold already lapsed. Buckets whose window ended more than
        the store's key slack ago are skipped: nobody can read them any more.
        """
        ...

    def begin_settle(
        self, reservation: Reservation, used_tokens: int, now: float
    ) -> asyncio.Future[bool]:
        """``settle``, started before this returns: the future gets its answer.

        The settlement goes ahead whether or not anyone awaits the future, so a caller may
        be cancelled, or answer its client first and await the future afterwards. Raises
        ``ValueError`` at once for negative usage; an unreachable store fails the future.
        """
        ...

    async def flush(self) -> None:
        """Return once every call begun so far is on its way to the store, so a read made
        afterwards (by anyone) sees it. Returns at once when the store is unreachable."""
        ...

    async def usage(
        self, subject: Subject, limits: Sequence[Limit], now: float
    ) -> list[BucketUsage]:
        """The state of each bucket at ``now``, in ``limits`` order (lapsed holds excluded)."""
        ...

    async def ping(self) -> None:
        """Raise ``BudgetStoreUnavailableError`` unless the store answers."""
        ...

    async def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...
