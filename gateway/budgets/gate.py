"""The budget stage of the pipeline: reserve before the call, settle after, headers for clients.

Settling need not delay the answer to a client: ``begin_settle`` hands the settlement to the
store and returns, ``handed_over`` returns once it is on its way (so a usage read made after
the client's answer sees it), and nobody on the request path waits for the store's answer.
The hold stays until settled or its TTL lapses, so no budget is overspent meanwhile. A
begun settlement completes even if the request is cancelled (client gone); a failed one is
logged; ``drain`` waits for every one still open at shutdown. ``settle`` does all of it
and waits for the answer (streams, error paths).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

from gateway.bedrock.translate import ConverseCall
from gateway.budgets.errors import BudgetStoreUnavailableError, refusal_error
from gateway.budgets.estimate import TokenEstimator
from gateway.budgets.model import BucketUsage, LimitKind, Reservation, ReserveRequest, Subject
from gateway.budgets.store import BudgetStore
from gateway.keys.principal import Principal

log = logging.getLogger("gateway.budgets")

# Below this many output tokens a shrunken request is not worth sending.
MIN_SHRUNK_OUTPUT = 16

Headers = list[tuple[bytes, bytes]]


@dataclass(slots=True)
class Admission:
    """What the budget stage granted one request."""

    reservation: Reservation | None = None
    prompt_estimate: int = 0
    headers: Headers = field(default_factory=list)
    buckets: tuple[BucketUsage, ...] = ()
    # The store's answer to the settlement, once begun (so it is begun at most once).
    settling: asyncio.Future[bool] | None = None


class BudgetGate:
    def __init__(
        self,
        store: BudgetStore,
        estimator: TokenEstimator,
        *,
        reservation_ttl_s: float = 600.0,
        fail_open: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._estimator = estimator
        self._ttl = reservation_ttl_s
        self._fail_open = fail_open
        self._clock = clock
        # Settlements begun and not yet answered: drained at shutdown.
        self._pending: set[asyncio.Future[bool]] = set()
        # Reservation ids: a random per-process prefix and a counter (unique across
        # replicas and restarts without a syscall per request).
        self._id_prefix = "r_" + secrets.token_hex(8)
        self._id_counter = itertools.count(1)

    async def admit(
        self, principal: Principal, call: ConverseCall, *, allow_shrink: bool = False
    ) -> tuple[Admission, ConverseCall]:
        """Reserve prompt estimate + output cap in every bucket at once, or raise a 429."""
        if not principal.limits:
            return Admission(), call
        prompt = self._estimator.prompt_tokens(call.body, partition=principal.team_id)
        now = self._clock()
        request = ReserveRequest(
            reservation_id=f"{self._id_prefix}{next(self._id_counter):x}",
            subject=Subject(principal.key_id, principal.team_id),
            limits=principal.limits,
            tokens=prompt + call.max_tokens,
            now=now,
            ttl_s=self._ttl,
            allow_shrink=allow_shrink,
            min_tokens=min(prompt + MIN_SHRUNK_OUTPUT, prompt + call.max_tokens),
        )
        try:
            result = await self.store.reserve(request)
        except BudgetStoreUnavailableError:
            if not self._fail_open:
                raise
            log.warning("budget store unavailable; admitting without a reservation (fail-open)")
            return Admission(prompt_estimate=prompt), call
        headers = rate_limit_headers(result.buckets, now)
        if not result.ok:
            error = refusal_error(result, now)
            error.headers.update({k.decode(): v.decode() for k, v in headers})
            raise error
        granted = result.granted_tokens
        if granted < request.tokens:
            call = _with_max_tokens(call, granted - prompt)
        return Admission(result.reservation, prompt, headers, result.buckets), call

    def begin_settle(self, admission: Admission, used_tokens: int) -> None:
        """Hand exact usage to the store now (idempotent); nothing here waits for its answer."""
        reservation = admission.reservation
        if reservation is None or admission.settling is not None:
            return
        future = self.store.begin_settle(reservation, max(0, used_tokens), self._clock())
        admission.settling = future
        self._pending.add(future)
        future.add_done_callback(partial(self._on_settled, reservation.reservation_id))

    async def handed_over(self, admission: Admission) -> None:
        """Return once a begun settlement is on its way to the store."""
        future = admission.settling
        if future is not None and not future.done():
            await self.store.flush()

    async def settle(self, admission: Admission, used_tokens: int) -> None:
        """Count exact usage and release the hold, and wait for the store's answer. Never
        raises (failures are logged); cancelling the caller leaves the settlement running."""
        self.begin_settle(admission, used_tokens)
        future = admission.settling
        if future is not None and not future.done():
            await asyncio.wait((future,))

    def _on_settled(self, reservation_id: str, future: asyncio.Future[bool]) -> None:
        self._pending.discard(future)
        if future.cancelled():
            return
        error = future.exception()
        if isinstance(error, BudgetStoreUnavailableError):
            # The hold lapses by itself after its TTL; the usage of this request is lost.
            log.error(
                "budget settle failed: store unavailable", extra={"reservation": reservation_id}
            )
        elif error is not None:
            log.error(
                "budget settle failed",
                exc_info=error,
                extra={"reservation": reservation_id},
            )

    def estimate_output(self, chars: int) -> int:
        return self._estimator.text_tokens_from_chars(chars)

    async def drain(self) -> None:
        if self._pending:
            await asyncio.wait(set(self._pending))


def _with_max_tokens(call: ConverseCall, max_tokens: int) -> ConverseCall:
    body = dict(call.body)
    body["inferenceConfig"] = {**body.get("inferenceConfig", {}), "maxTokens": max_tokens}
    return replace(call, body=body, max_tokens=max_tokens)


def rate_limit_headers(buckets: tuple[BucketUsage, ...], now: float) -> Headers:
    """OpenAI's x-ratelimit-* trios from the tightest token bucket and the RPM bucket."""
    tokens: BucketUsage | None = None
    requests: BucketUsage | None = None
    for bucket in buckets:
        if bucket.limit.kind is LimitKind.RPM:
            requests = bucket
        elif tokens is None or bucket.remaining < tokens.remaining:
            tokens = bucket
    headers: Headers = []
    for names, chosen in ((_TOKEN_HEADERS, tokens), (_REQUEST_HEADERS, requests)):
        if chosen is None:
            continue
        limit, remaining, reset = names
        headers += [
            (limit, b"%d" % chosen.limit.amount),
            (remaining, b"%d" % chosen.remaining),
            (reset, duration(chosen.resets_at - now).encode()),
        ]
    return headers


_TOKEN_HEADERS = (
    b"x-ratelimit-limit-tokens",
    b"x-ratelimit-remaining-tokens",
    b"x-ratelimit-reset-tokens",
)
_REQUEST_HEADERS = (
    b"x-ratelimit-limit-requests",
    b"x-ratelimit-remaining-requests",
    b"x-ratelimit-reset-requests",
)


def duration(seconds: float) -> str:
    """Go-style durations as OpenAI writes them: ``1h2m3s``, ``6m0s``, ``250ms``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
