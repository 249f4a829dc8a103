"""The Redis budget store: one EVALSHA per operation, shared by every replica.

Guarantees and assumptions:

* reserve and settle are single Lua scripts, so a reservation lands in all of its buckets
  or in none, and concurrent replicas can never grant the same tokens twice.
* A reservation's hold lapses ``ttl_s`` after it was made (default 300 s, sized for long
  streams): a replica killed mid-request stops counting against any budget ``ttl_s``
  seconds after it reserved (the next call touching those buckets purges the hold).
  ``ttl_s`` must exceed the longest request (upstream timeout, stream included): a hold
  that lapses before its settle frees tokens the late settle then spends again.
* ``now`` comes from the caller's clock (replicas are assumed NTP-synced); skew between
  replicas shifts window edges and hold expiry by that skew, never more. Redis itself only
  times key expiry, relative to each write and ``key_slack_s`` (default 1 h) past the
  window's end, so a skewed Redis clock cannot drop a live window.
* Connection errors, timeouts and a Redis that is loading, read-only or out of memory
  raise ``BudgetStoreUnavailableError``. Nothing about a failure is cached: the pool
  reconnects on the next call and a script lost in a restart is re-sent (NOSCRIPT -> EVAL).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Sequence
from typing import Final, cast
from urllib.parse import quote

from redis import exceptions as rx
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from gateway.budgets import redis_lua
from gateway.budgets.admission import report
from gateway.budgets.errors import BudgetStoreUnavailableError
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
from gateway.budgets.windows import bounds, duration_ms, epoch_ms, window_id

# Exactly the characters quote(..., safe="") leaves alone.
_PLAIN: Final = re.compile(r"[A-Za-z0-9._~-]+")

_KIND_CODE: Final = {LimitKind.BUDGET: "b", LimitKind.TPM: "t", LimitKind.RPM: "r"}

# Failures that mean "the store is not there right now"; anything else is a bug to surface.
_UNAVAILABLE: Final = (
    rx.ConnectionError,  # includes LOADING, auth failures, pool exhaustion
    rx.TimeoutError,
    rx.ReadOnlyError,  # a failover in progress
    rx.OutOfMemoryError,
    rx.ClusterDownError,
    rx.TryAgainError,
    OSError,
)


class _Script:
    """A Lua script sent by SHA; the body goes over the wire only when Redis lacks it."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def run(self, client: Redis, keys: Sequence[str], args: Sequence[str | int]) -> object:
        try:
            return await cast(Awaitable[object], client.evalsha(self.sha, len(keys), *keys, *args))
        except rx.NoScriptError:
            # A fresh or restarted Redis: EVAL runs it and caches it for the next EVALSHA.
            return await cast(Awaitable[object], client.eval(self.source, len(keys), *keys, *args))


class RedisBudgetStore:
    """A BudgetStore over a pooled redis.asyncio client (hiredis parses replies if present)."""

    def __init__(self, client: Redis, *, namespace: str = "gw:b", key_slack_s: float = 3600.0):
        if "{" in namespace or "}" in namespace:
            raise ValueError("namespace must not contain braces: they would move the hash tag")
        self._client = client
        self._ns = namespace
        self._slack = key_slack_s
        self._reserve = _Script(redis_lua.RESERVE)
        self._settle = _Script(redis_lua.SETTLE)
        self._usage = _Script(redis_lua.USAGE)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        namespace: str = "gw:b",
        key_slack_s: float = 3600.0,
        max_connections: int = 64,
        socket_timeout_s: float = 0.5,
        pool_timeout_s: float = 1.0,
    ) -> RedisBudgetStore:
        """Build the pool lazily: no connection is made until the first call."""
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=pool_timeout_s,
            socket_timeout=socket_timeout_s,
            socket_connect_timeout=socket_timeout_s,
            # One immediate retry on a fresh connection survives a pooled socket that died
            # with a Redis restart; both scripts are idempotent, so a retry is safe.
            retry=Retry(NoBackoff(), 1),
        )
        return cls(Redis(connection_pool=pool), namespace=namespace, key_slack_s=key_slack_s)

    async def reserve(self, req: ReserveRequest) -> ReserveResult:
        if not req.limits:
            return ReserveResult(req.tokens, (), reservation=req.reservation(req.tokens))
        now_ms = epoch_ms(req.now)
        ttl_ms = duration_ms(req.ttl_s)
        prefix = self._prefix(req.subject)
        keys = [f"{prefix}r:{_part(req.reservation_id)}"]
        args: list[str | int] = [req.reservation_id, now_ms, now_ms + ttl_ms, ttl_ms]
        args += [req.tokens, req.requests, int(req.allow_shrink), req.min_tokens]
        resets: list[int] = []
        for limit in req.limits:
            start, end = bounds(limit.window, req.now)
            bucket = prefix + _bucket_suffix(limit, start)
            keys += (bucket, bucket + ":z")
            args += (_KIND_CODE[limit.kind], limit.amount, duration_ms(end + self._slack - req.now))
            resets.append(end)
        reply = cast(list[int], await self._call(self._reserve, keys, args))
        status, granted, refused, reserved_at_ms = reply[:4]
        if status == 3:
            raise ValueError("reservation id already settled")
        states = report(req.limits, reply[4::2], reply[5::2], resets)
        if status == 1:
            return ReserveResult(0, states, refused=states[refused - 1])
        reserved_at = req.now if status == 0 else reserved_at_ms / 1000
        return ReserveResult(granted, states, reservation=req.reservation(granted, reserved_at))

    async def settle(self, reservation: Reservation, used_tokens: int, now: float) -> bool:
        if used_tokens < 0:
            raise ValueError("used_tokens must not be negative")
        if not reservation.limits:
            return True
        prefix = self._prefix(reservation.subject)
        rid = reservation.reservation_id
        ttl_ms = duration_ms(reservation.expires_at - reservation.reserved_at)
        now_ms = epoch_ms(now)
        keys = [f"{prefix}r:{_part(rid)}"]
        args: list[str | int] = [rid, used_tokens, now_ms, now_ms + ttl_ms, ttl_ms]
        for limit in reservation.limits:
            if limit.kind is LimitKind.RPM:
                continue
            start, end = bounds(limit.window, reservation.reserved_at)
            key_ttl_ms = duration_ms(end + self._slack - now)
            if key_ttl_ms <= 0:
                continue  # that window is gone everywhere; see BudgetStore.settle
            bucket = prefix + _bucket_suffix(limit, start)
            keys += (bucket, bucket + ":z")
            args.append(key_ttl_ms)
        return cast(int, await self._call(self._settle, keys, args)) == 1

    async def usage(
        self, subject: Subject, limits: Sequence[Limit], now: float
    ) -> list[BucketUsage]:
        limits = tuple(limits)
        check_limits(subject, limits)
        if not limits:
            return []
        prefix = self._prefix(subject)
        keys: list[str] = []
        args: list[str | int] = [epoch_ms(now)]
        resets: list[int] = []
        for limit in limits:
            start, end = bounds(limit.window, now)
            bucket = prefix + _bucket_suffix(limit, start)
            keys += (bucket, bucket + ":z")
            args.append(_KIND_CODE[limit.kind])
            resets.append(end)
        reply = cast(list[int], await self._call(self._usage, keys, args))
        return list(report(limits, reply[0::2], reply[1::2], resets))

    async def ping(self) -> None:
        try:
            await self._client.ping()
        except _UNAVAILABLE as exc:
            raise BudgetStoreUnavailableError("The budget store is unavailable.") from exc

    async def close(self) -> None:
        await self._client.aclose(close_connection_pool=True)

    def _prefix(self, subject: Subject) -> str:
        """``<ns>:{team:<id>}:`` (or ``{key:<id>}`` without a team): every key of a call
        carries the same hash tag, so Redis Cluster keeps them in one slot."""
        if subject.team_id is not None:
            return f"{self._ns}:{{team:{_part(subject.team_id)}}}:"
        return f"{self._ns}:{{key:{_part(subject.key_id)}}}:"

    async def _call(
        self, script: _Script, keys: Sequence[str], args: Sequence[str | int]
    ) -> object:
        try:
            return await script.run(self._client, keys, args)
        except _UNAVAILABLE as exc:
            raise BudgetStoreUnavailableError("The budget store is unavailable.") from exc


def _part(text: str) -> str:
    """An id made safe for a key (no braces to split the hash tag, no colons to confuse the
    layout); the common plain id skips the encoder."""
    return text if _PLAIN.fullmatch(text) else quote(text, safe="")


def _bucket_suffix(limit: Limit, start: int) -> str:
    owner = _part(limit.owner_id)
    return f"{limit.kind}:{limit.scope}:{owner}:{limit.window}:{window_id(limit.window, start)}"
