"""The admission rule every store applies to a reservation (redis_lua.RESERVE mirrors it)."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.budgets.model import BucketUsage, Limit, LimitKind, ReserveRequest


def decide(req: ReserveRequest, used: Sequence[int], held: Sequence[int]) -> tuple[int, int | None]:
    """Return ``(granted_tokens, refused_index)`` for buckets at ``used``/``held``.

    Budgets are checked first: the tightest one either covers the tokens, shrinks the
    grant (when allowed, down to ``min_tokens``) or refuses. Then TPM must cover the grant
    and RPM the request count. A refusal names the first failing bucket in that order.
    """
    tightest: int | None = None
    tightest_left = 0
    for i, limit in enumerate(req.limits):
        if limit.kind is LimitKind.BUDGET:
            left = limit.amount - used[i] - held[i]
            if tightest is None or left < tightest_left:
                tightest, tightest_left = i, left
    granted = req.tokens
    if tightest is not None and tightest_left < granted:
        if not (req.allow_shrink and tightest_left >= req.min_tokens):
            return 0, tightest
        granted = tightest_left
    for i, limit in enumerate(req.limits):
        left = limit.amount - used[i] - held[i]
        if limit.kind is LimitKind.TPM and left < granted:
            return 0, i
        if limit.kind is LimitKind.RPM and left < req.requests:
            return 0, i
    return granted, None


def report(
    limits: Sequence[Limit], used: Sequence[int], held: Sequence[int], resets: Sequence[int]
) -> tuple[BucketUsage, ...]:
    """Bucket states as clients see them: remaining never below zero."""
    # Positional arguments and a list: this runs on every reservation.
    return tuple(
        [
            BucketUsage(limit, u, h, max(0, limit.amount - u - h), reset)
            for limit, u, h, reset in zip(limits, used, held, resets, strict=True)
        ]
    )
