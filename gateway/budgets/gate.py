"""The budget stage of the pipeline: reserve before the call, settle after, headers for clients."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

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
    settled: bool = False


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
        # Settlements that outlive a cancelled request; held so they are not collected.
        self._pending: set[asyncio.Task[None]] = set()

    async def admit(
        self, principal: Principal, call: ConverseCall, *, allow_shrink: bool = False
    ) -> tuple[Admission, ConverseCall]:
        """Reserve prompt estimate + output cap in every bucket at once, or raise a 429."""
        if not principal.limits:
            return Admission(), call
        prompt = self._estimator.prompt_tokens(call.body)
        now = self._clock()
        request = ReserveRequest(
            reservation_id="r_" + secrets.token_hex(10),
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

    async def settle(self, admission: Admission, used_tokens: int) -> None:
        """Count exact usage and release the hold; shielded from the caller's cancellation."""
        if admission.reservation is None or admission.settled:
            return
        admission.settled = True
        task = asyncio.create_task(self._settle(admission.reservation, used_tokens))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        await asyncio.shield(task)

    async def _settle(self, reservation: Reservation, used_tokens: int) -> None:
        try:
            await self.store.settle(reservation, max(0, used_tokens), self._clock())
        except BudgetStoreUnavailableError:
            # The hold lapses by itself after its TTL; the usage of this request is lost.
            log.error(
                "budget settle failed: store unavailable",
                extra={"reservation": reservation.reservation_id},
            )

    def estimate_output(self, chars: int) -> int:
        return self._estimator.text_tokens_from_chars(chars)

    async def drain(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)


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
    pairs: list[tuple[str, BucketUsage | None]] = [("tokens", tokens), ("requests", requests)]
    for name, chosen in pairs:
        if chosen is None:
            continue
        headers += [
            (f"x-ratelimit-limit-{name}".encode(), str(chosen.limit.amount).encode()),
            (f"x-ratelimit-remaining-{name}".encode(), str(chosen.remaining).encode()),
            (f"x-ratelimit-reset-{name}".encode(), duration(chosen.resets_at - now).encode()),
        ]
    return headers


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
