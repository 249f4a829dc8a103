"""The Redis budget store: one Lua script call per operation, shared by every replica.

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
  raise ``BudgetStoreUnavailableError``. Nothing about a failure is cached: the next call
  reconnects and a script lost in a restart is re-sent (NOSCRIPT -> EVAL).
* Calls share one auto-pipelined connection (``RedisMux``): one round trip each, written
  together with whatever other tasks sent in the same loop turn. Connecting and each
  reply are bounded by ``timeout_s``. A call whose connection died under it is written
  once more on a new connection: all three scripts are idempotent (reserve and settle by
  reservation id, usage reads only).
* ``begin_settle`` hands the settle to the connection before it returns; it is written
  whoever awaits it, so a settlement survives its caller being cancelled. ``flush``
  returns once it is written.
* Commands are encoded here, straight to RESP: bucket keys and per-limit arguments are
  built once per window and reused, so a call joins a few ready byte strings. A caller's
  limits tuple (the same object while its key is cached) finds its plan by identity: no
  hashing of limits per call.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable, Sequence
from typing import Any, Final
from urllib.parse import quote

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
from gateway.budgets.redis_mux import RedisMux, ignore_reply
from gateway.budgets.resp import Script, bulk_int, bulk_str, command
from gateway.budgets.windows import Window, bounds, duration_ms, epoch_ms, window_id

# Exactly the characters quote(..., safe="") leaves alone.
_PLAIN: Final = re.compile(r"[A-Za-z0-9._~-]+")

_KIND_CODE: Final = {LimitKind.BUDGET: "b", LimitKind.TPM: "t", LimitKind.RPM: "r"}
_PING: Final = command("PING")
# Built keys and prefixes kept per process; far above what live windows need, and only
# a bound against ids churning forever (the caches are simply emptied when full).
_CACHE_ENTRIES: Final = 8192


def _unavailable() -> BudgetStoreUnavailableError:
    return BudgetStoreUnavailableError("The budget store is unavailable.")


class _Bucket:
    """A bucket's encoded KEYS pair (hash, hold set) and its (kind, amount) arguments, the
    latter as text: they are joined with the call's numbers, which are encoded as one."""

    __slots__ = ("args", "keys")

    def __init__(self, key: str, limit: Limit) -> None:
        self.keys = bulk_str(key) + bulk_str(key + ":z")
        self.args = (bulk_str(_KIND_CODE[limit.kind]) + bulk_int(limit.amount)).decode("ascii")


class _Plan:
    """The parts of the calls for one subject and limits tuple that hold while all of its
    windows do (``lo <= at < hi``): RESERVE's head, bucket keys and per-limit arguments,
    SETTLE's token buckets, and the windows' ends (resets)."""

    __slots__ = (
        "hi",
        "key_id",
        "limits",
        "lo",
        "record",
        "reserve_head",
        "reserve_keys",
        "reserve_limits",
        "resets",
        "settle_buckets",
        "team_id",
    )

    def __init__(
        self, store: RedisBudgetStore, subject: Subject, limits: tuple[Limit, ...], at: float
    ) -> None:
        prefix = store._prefix(subject)
        self.limits = limits  # holds the tuple, so its id() is not reused while cached
        self.key_id = subject.key_id
        self.team_id = subject.team_id
        self.record = prefix + "r:"
        spans = [store._span(limit.window, at) for limit in limits]
        self.lo = max(start for start, _ in spans)
        self.hi = min(end for _, end in spans)
        buckets = [
            store._bucket(prefix, limit, start)
            for limit, (start, _) in zip(limits, spans, strict=True)
        ]
        n = len(limits)
        self.reserve_head = store._reserve.call(1 + (1 + 2 * n) + (8 + 3 * n), bulk_int(1 + 2 * n))
        self.reserve_keys = b"".join([bucket.keys for bucket in buckets])
        # (kind and amount as text, window end + key slack): the key TTL follows the clock.
        self.reserve_limits = tuple(
            [
                (bucket.args, end + store._slack)
                for bucket, (_, end) in zip(buckets, spans, strict=True)
            ]
        )
        self.resets = tuple([end for _, end in spans])
        self.settle_buckets = tuple(
            [
                (bucket.keys, end + store._slack)
                for limit, bucket, (_, end) in zip(limits, buckets, spans, strict=True)
                if limit.kind is not LimitKind.RPM
            ]
        )


class RedisBudgetStore:
    """A BudgetStore over one auto-pipelined redis-py connection (hiredis parses replies)."""

    def __init__(self, mux: RedisMux, *, namespace: str = "gw:b", key_slack_s: float = 3600.0):
        if "{" in namespace or "}" in namespace:
            raise ValueError("namespace must not contain braces: they would move the hash tag")
        self._mux = mux
        self._ns = namespace
        self._slack = key_slack_s
        self._reserve = Script(redis_lua.RESERVE)
        self._settle = Script(redis_lua.SETTLE)
        self._usage = Script(redis_lua.USAGE)
        self._prefixes: dict[Subject, str] = {}
        self._buckets: dict[tuple[str, Limit, int], _Bucket] = {}
        self._spans: dict[Window, tuple[int, int]] = {}
        # By id() of the limits tuple; one table per call, as a settle's windows are those
        # of its (earlier) reservation.
        self._reserve_plans: dict[int, _Plan] = {}
        self._settle_plans: dict[int, _Plan] = {}

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        namespace: str = "gw:b",
        key_slack_s: float = 3600.0,
        timeout_s: float = 0.5,
    ) -> RedisBudgetStore:
        """No I/O here: the first call connects."""
        scripts = [Script(redis_lua.RESERVE), Script(redis_lua.SETTLE), Script(redis_lua.USAGE)]
        mux = RedisMux.from_url(url, timeout_s=timeout_s, unavailable=_unavailable, scripts=scripts)
        return cls(mux, namespace=namespace, key_slack_s=key_slack_s)

    async def reserve(self, req: ReserveRequest) -> ReserveResult:
        if not req.limits:
            return ReserveResult(req.tokens, (), reservation=req.reservation(req.tokens))
        payload, parse = self._reserve_call(req)
        return await self._mux.submit(payload, parse, script=self._reserve, retries=1)

    def _reserve_call(
        self, req: ReserveRequest
    ) -> tuple[bytes, Callable[[list[int]], ReserveResult]]:
        """The encoded RESERVE call and how to read its reply."""
        now = req.now
        plan = self._plan(self._reserve_plans, req.subject, req.limits, now)
        rid = req.reservation_id
        # The numbers as one text, encoded once: digits are ASCII, so lengths are bytes.
        now_ms, ttl_ms = epoch_ms(now), duration_ms(req.ttl_s)
        a, b, c = str(now_ms), str(ttl_ms), str(now_ms + ttl_ms)
        d, e, f = str(req.tokens), str(req.requests), str(req.min_tokens)
        flag = "1" if req.allow_shrink else "0"
        text = [
            f"${len(a)}\r\n{a}\r\n${len(c)}\r\n{c}\r\n${len(b)}\r\n{b}\r\n${len(d)}\r\n{d}\r\n"
            f"${len(e)}\r\n{e}\r\n$1\r\n{flag}\r\n${len(f)}\r\n{f}\r\n"
        ]
        for args, expires in plan.reserve_limits:
            ttl = str(math.ceil((expires - now) * 1000))  # duration_ms, inlined
            text.append(f"{args}${len(ttl)}\r\n{ttl}\r\n")
        payload = b"".join(
            [
                plan.reserve_head,
                bulk_str(f"{plan.record}{_part(rid)}"),
                plan.reserve_keys,
                bulk_str(rid),
                "".join(text).encode(),
            ]
        )
        resets = plan.resets

        def parse(reply: list[int]) -> ReserveResult:
            status, granted, refused, reserved_at_ms = reply[:4]
            if status == 3:
                raise ValueError("reservation id already settled")
            states = report(req.limits, reply[4::2], reply[5::2], resets)
            if status == 1:
                return ReserveResult(0, states, refused=states[refused - 1])
            reserved_at = now if status == 0 else reserved_at_ms / 1000
            return ReserveResult(granted, states, reservation=req.reservation(granted, reserved_at))

        return payload, parse

    async def settle(self, reservation: Reservation, used_tokens: int, now: float) -> bool:
        return await self.begin_settle(reservation, used_tokens, now)

    def begin_settle(
        self, reservation: Reservation, used_tokens: int, now: float
    ) -> asyncio.Future[bool]:
        if used_tokens < 0:
            raise ValueError("used_tokens must not be negative")
        if not reservation.limits:
            done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            done.set_result(True)
            return done
        payload = self._settle_call(reservation, used_tokens, now)
        return self._mux.submit(payload, _counted, script=self._settle, retries=1)

    def _settle_call(self, reservation: Reservation, used_tokens: int, now: float) -> bytes:
        plan = self._plan(
            self._settle_plans, reservation.subject, reservation.limits, reservation.reserved_at
        )
        rid = reservation.reservation_id
        ttl_ms = duration_ms(reservation.expires_at - reservation.reserved_at)
        now_ms = epoch_ms(now)
        keys = [bulk_str(f"{plan.record}{_part(rid)}")]
        a, b, c, d = str(used_tokens), str(now_ms), str(now_ms + ttl_ms), str(ttl_ms)
        text = [f"${len(a)}\r\n{a}\r\n${len(b)}\r\n{b}\r\n${len(c)}\r\n{c}\r\n${len(d)}\r\n{d}\r\n"]
        for bucket_keys, expires in plan.settle_buckets:
            key_ttl_ms = math.ceil((expires - now) * 1000)  # duration_ms, inlined
            if key_ttl_ms <= 0:
                continue  # that window is gone everywhere; see BudgetStore.settle
            keys.append(bucket_keys)
            ttl = str(key_ttl_ms)
            text.append(f"${len(ttl)}\r\n{ttl}\r\n")
        buckets = len(keys) - 1
        return b"".join(
            [
                self._settle.call(1 + (1 + 2 * buckets) + (5 + buckets), bulk_int(1 + 2 * buckets)),
                *keys,
                bulk_str(rid),
                "".join(text).encode(),
            ]
        )

    async def usage(
        self, subject: Subject, limits: Sequence[Limit], now: float
    ) -> list[BucketUsage]:
        limits = tuple(limits)
        check_limits(subject, limits)
        if not limits:
            return []
        prefix = self._prefix(subject)
        keys: list[bytes] = []
        args = [bulk_int(epoch_ms(now))]
        resets: list[int] = []
        for limit in limits:
            start, end = bounds(limit.window, now)
            keys.append(self._bucket(prefix, limit, start).keys)
            args.append(bulk_str(_KIND_CODE[limit.kind]))
            resets.append(end)
        n = len(limits)
        tail = b"".join([bulk_int(2 * n), *keys, *args])
        payload = self._usage.call(1 + 2 * n + 1 + n, tail)

        def parse(reply: list[int]) -> list[BucketUsage]:
            return list(report(limits, reply[0::2], reply[1::2], resets))

        return await self._mux.submit(payload, parse, script=self._usage, retries=1)

    async def flush(self) -> None:
        await self._mux.sent()

    async def ping(self) -> None:
        await self._mux.submit(_PING, ignore_reply, retries=1)

    async def close(self) -> None:
        await self._mux.close()

    def _plan(
        self, plans: dict[int, _Plan], subject: Subject, limits: tuple[Limit, ...], at: float
    ) -> _Plan:
        plan = plans.get(id(limits))
        if (
            plan is None
            or plan.limits is not limits
            or not plan.lo <= at < plan.hi
            or plan.key_id != subject.key_id
            or plan.team_id != subject.team_id
        ):
            plan = _Plan(self, subject, limits, at)
            _remember(plans, id(limits), plan)
        return plan

    def _prefix(self, subject: Subject) -> str:
        """``<ns>:{team:<id>}:`` (or ``{key:<id>}`` without a team): every key of a call
        carries the same hash tag, so Redis Cluster keeps them in one slot."""
        prefix = self._prefixes.get(subject)
        if prefix is None:
            if subject.team_id is not None:
                prefix = f"{self._ns}:{{team:{_part(subject.team_id)}}}:"
            else:
                prefix = f"{self._ns}:{{key:{_part(subject.key_id)}}}:"
            _remember(self._prefixes, subject, prefix)
        return prefix

    def _bucket(self, prefix: str, limit: Limit, start: int) -> _Bucket:
        ident = (prefix, limit, start)
        bucket = self._buckets.get(ident)
        if bucket is None:
            owner = _part(limit.owner_id)
            wid = window_id(limit.window, start)
            key = f"{prefix}{limit.kind}:{limit.scope}:{owner}:{limit.window}:{wid}"
            bucket = _Bucket(key, limit)
            _remember(self._buckets, ident, bucket)
        return bucket

    def _span(self, window: Window, at: float) -> tuple[int, int]:
        """``bounds(window, at)``, remembering the last window: the common call is a compare."""
        span = self._spans.get(window)
        if span is None or not span[0] <= at < span[1]:
            span = self._spans[window] = bounds(window, at)
        return span


def _counted(reply: int) -> bool:
    return reply == 1


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= _CACHE_ENTRIES:
        cache.clear()
    cache[key] = value


def _part(text: str) -> str:
    """An id made safe for a key (no braces to split the hash tag, no colons to confuse the
    layout); the common plain id skips the encoder."""
    return text if _PLAIN.fullmatch(text) else quote(text, safe="")
