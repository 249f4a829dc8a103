"""The in-process budget store: the embedded default for a single replica.

Same semantics as the Redis store, on one event loop: no method awaits between reading and
writing the buckets, so each call is atomic with respect to other tasks. State is lost on
restart and not shared between replicas (use the Redis store for that).
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field

from gateway.budgets.admission import decide, report
from gateway.budgets.model import (
    BucketUsage,
    Limit,
    LimitKind,
    Reservation,
    ReserveRequest,
    ReserveResult,
    Subject,
    check_limits,
)
from gateway.budgets.windows import Window, bounds, duration_ms, epoch_ms

_BucketId = tuple[LimitKind, str, str, Window, int]


@dataclass(slots=True)
class _Bucket:
    expires_at: float  # window end + slack: after this nobody reads or writes it
    used: int = 0
    held: int = 0
    holds: dict[str, tuple[int, int]] = field(default_factory=dict)  # id -> (tokens, until ms)
    by_expiry: list[tuple[int, str]] = field(default_factory=list)  # heap; stale entries skipped

    def purge(self, now_ms: int) -> None:
        """Drop holds that lapsed at or before ``now_ms``; O(lapsed · log n)."""
        heap = self.by_expiry
        while heap and heap[0][0] <= now_ms:
            until, rid = heapq.heappop(heap)
            hold = self.holds.get(rid)
            if hold is not None and hold[1] == until:
                del self.holds[rid]
                self.held -= hold[0]

    def release(self, rid: str) -> None:
        hold = self.holds.pop(rid, None)
        if hold is not None:
            self.held -= hold[0]


@dataclass(slots=True)
class _Record:
    tokens: int
    reserved_at_ms: int
    expires_ms: int
    settled: bool = False


class MemoryBudgetStore:
    """A BudgetStore in a few dicts; ``key_slack_s`` mirrors the Redis key expiry slack."""

    def __init__(self, *, key_slack_s: float = 3600.0) -> None:
        self._slack = key_slack_s
        self._buckets: dict[_BucketId, _Bucket] = {}
        self._records: dict[str, _Record] = {}
        # Min-heaps by expiry, so forgetting old state costs O(log n) per item, no pauses.
        self._bucket_expiry: list[tuple[float, _BucketId]] = []
        self._record_expiry: list[tuple[int, str]] = []

    async def reserve(self, req: ReserveRequest) -> ReserveResult:
        if not req.limits:
            return ReserveResult(req.tokens, (), reservation=req.reservation(req.tokens))
        now = req.now
        now_ms = epoch_ms(now)
        self._forget_lapsed(now)
        spans = [bounds(limit.window, now) for limit in req.limits]
        buckets = [
            self._bucket(limit, start, end + self._slack)
            for limit, (start, end) in zip(req.limits, spans, strict=True)
        ]
        for bucket in buckets:
            bucket.purge(now_ms)
        used = [b.used for b in buckets]
        held = [b.held for b in buckets]
        resets = [end for _, end in spans]
        record = self._records.get(req.reservation_id)
        if record is not None and record.expires_ms > now_ms:
            if record.settled:
                raise ValueError("reservation id already settled")
            # A retry of a reservation already made: hand back the original grant.
            return ReserveResult(
                granted_tokens=record.tokens,
                buckets=report(req.limits, used, held, resets),
                reservation=req.reservation(record.tokens, record.reserved_at_ms / 1000),
            )
        granted, refused = decide(req, used, held)
        if refused is not None:
            states = report(req.limits, used, held, resets)
            return ReserveResult(granted_tokens=0, buckets=states, refused=states[refused])
        until = now_ms + duration_ms(req.ttl_s)
        for i, (limit, bucket) in enumerate(zip(req.limits, buckets, strict=True)):
            if limit.kind is LimitKind.RPM:
                bucket.used += req.requests
                used[i] = bucket.used
            elif granted > 0:
                bucket.holds[req.reservation_id] = (granted, until)
                heapq.heappush(bucket.by_expiry, (until, req.reservation_id))
                bucket.held += granted
                held[i] = bucket.held
        self._keep_record(req.reservation_id, _Record(granted, now_ms, until))
        return ReserveResult(
            granted_tokens=granted,
            buckets=report(req.limits, used, held, resets),
            reservation=req.reservation(granted),
        )

    async def settle(self, reservation: Reservation, used_tokens: int, now: float) -> bool:
        return self._settle(reservation, used_tokens, now)

    def begin_settle(
        self, reservation: Reservation, used_tokens: int, now: float
    ) -> asyncio.Future[bool]:
        # Nothing to wait for here: the settlement is done before the future is handed out.
        counted = self._settle(reservation, used_tokens, now)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        future.set_result(counted)
        return future

    def _settle(self, reservation: Reservation, used_tokens: int, now: float) -> bool:
        if used_tokens < 0:
            raise ValueError("used_tokens must not be negative")
        if not reservation.limits:
            return True
        self._forget_lapsed(now)
        rid = reservation.reservation_id
        now_ms = epoch_ms(now)
        record = self._records.get(rid)
        if record is not None and record.settled and record.expires_ms > now_ms:
            return False
        for limit in reservation.limits:
            if limit.kind is LimitKind.RPM:
                continue
            start, end = bounds(limit.window, reservation.reserved_at)
            if now >= end + self._slack:
                continue  # that window is gone everywhere; see BudgetStore.settle
            bucket = self._bucket(limit, start, end + self._slack)
            bucket.release(rid)
            bucket.used += used_tokens
        # Keep a tombstone for one more TTL so repeated settles are ignored.
        ttl_ms = duration_ms(reservation.expires_at - reservation.reserved_at)
        reserved_at_ms = epoch_ms(reservation.reserved_at)
        self._keep_record(rid, _Record(reservation.tokens, reserved_at_ms, now_ms + ttl_ms, True))
        return True

    async def usage(
        self, subject: Subject, limits: Sequence[Limit], now: float
    ) -> list[BucketUsage]:
        limits = tuple(limits)
        check_limits(subject, limits)
        used: list[int] = []
        held: list[int] = []
        resets: list[int] = []
        for limit in limits:
            start, end = bounds(limit.window, now)
            bucket = self._buckets.get(_bucket_id(limit, start))
            if bucket is not None:
                bucket.purge(epoch_ms(now))
            used.append(bucket.used if bucket else 0)
            held.append(bucket.held if bucket else 0)
            resets.append(end)
        return list(report(limits, used, held, resets))

    async def flush(self) -> None:
        return None  # every call is applied before it returns

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._buckets.clear()
        self._records.clear()
        self._bucket_expiry.clear()
        self._record_expiry.clear()

    def _bucket(self, limit: Limit, start: int, expires_at: float) -> _Bucket:
        ident = _bucket_id(limit, start)
        bucket = self._buckets.get(ident)
        if bucket is None:
            bucket = self._buckets[ident] = _Bucket(expires_at=expires_at)
            heapq.heappush(self._bucket_expiry, (expires_at, ident))
        return bucket

    def _keep_record(self, rid: str, record: _Record) -> None:
        self._records[rid] = record
        heapq.heappush(self._record_expiry, (record.expires_ms, rid))

    def _forget_lapsed(self, now: float) -> None:
        """Drop windows past their slack and records past their expiry (as Redis would)."""
        buckets = self._bucket_expiry
        while buckets and buckets[0][0] <= now:
            _, ident = heapq.heappop(buckets)
            self._buckets.pop(ident, None)
        now_ms = epoch_ms(now)
        records = self._record_expiry
        while records and records[0][0] <= now_ms:
            expires_ms, rid = heapq.heappop(records)
            record = self._records.get(rid)
            if record is not None and record.expires_ms == expires_ms:
                del self._records[rid]


def _bucket_id(limit: Limit, start: int) -> _BucketId:
    return (limit.kind, limit.scope, limit.owner_id, limit.window, start)
