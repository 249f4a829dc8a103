"""The budget vocabulary shared by every store: limits, reservations, results, usage."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from gateway.budgets.windows import Window

Scope = Literal["key", "team"]

# Lua numbers are doubles and Redis formats them with 14 significant digits; staying well
# below that keeps every counter exact in both stores.
MAX_AMOUNT = 10**12


class LimitKind(StrEnum):
    """What a bucket counts and which error a refusal becomes."""

    BUDGET = "budget"  # tokens per window; refusal -> 429 insufficient_quota
    TPM = "tpm"  # tokens per minute; refusal -> 429 rate_limit_exceeded
    RPM = "rpm"  # requests per minute; refusal -> 429 rate_limit_exceeded


@dataclass(frozen=True, slots=True)
class Subject:
    """Whose buckets a request draws on: an API key and the team it belongs to, if any."""

    key_id: str
    team_id: str | None = None

    def owner(self, scope: Scope) -> str | None:
        return self.key_id if scope == "key" else self.team_id


@dataclass(frozen=True, slots=True)
class Limit:
    """One bucket definition: ``amount`` tokens (requests for RPM) per fixed UTC window."""

    scope: Scope
    owner_id: str
    window: Window
    amount: int
    kind: LimitKind = LimitKind.BUDGET

    def __post_init__(self) -> None:
        if not 0 <= self.amount <= MAX_AMOUNT:
            raise ValueError(f"limit amount must be within 0..{MAX_AMOUNT}")
        if self.kind is not LimitKind.BUDGET and self.window is not Window.MINUTE:
            raise ValueError("rpm and tpm limits use the minute window")
        if not self.owner_id:
            raise ValueError("limit owner_id must not be empty")

    @classmethod
    def rpm(cls, scope: Scope, owner_id: str, requests: int) -> Limit:
        return cls(scope, owner_id, Window.MINUTE, requests, LimitKind.RPM)

    @classmethod
    def tpm(cls, scope: Scope, owner_id: str, tokens: int) -> Limit:
        return cls(scope, owner_id, Window.MINUTE, tokens, LimitKind.TPM)


def check_limits(subject: Subject, limits: tuple[Limit, ...]) -> None:
    """Reject limits that name another owner or repeat a bucket (it would count twice)."""
    seen: set[tuple[LimitKind, Scope, Window]] = set()
    for limit in limits:
        if subject.owner(limit.scope) != limit.owner_id:
            raise ValueError(f"{limit.scope} limit does not belong to this subject")
        ident = (limit.kind, limit.scope, limit.window)
        if ident in seen:
            raise ValueError(f"duplicate {limit.kind} limit for {limit.scope}/{limit.window}")
        seen.add(ident)


@dataclass(frozen=True, slots=True)
class ReserveRequest:
    """Hold ``tokens`` (prompt estimate + output cap) and count ``requests`` in every bucket.

    ``now`` is epoch seconds from the caller's clock; the hold lapses at ``now + ttl_s``
    unless settled first. With ``allow_shrink`` a budget that cannot cover ``tokens`` may
    grant less, but never below ``min_tokens``.
    """

    reservation_id: str
    subject: Subject
    limits: tuple[Limit, ...]
    tokens: int
    now: float
    ttl_s: float = 300.0
    requests: int = 1
    allow_shrink: bool = False
    min_tokens: int = 1

    def __post_init__(self) -> None:
        if not self.reservation_id:
            raise ValueError("reservation_id must not be empty")
        if not 0 <= self.tokens <= MAX_AMOUNT or not 0 <= self.requests <= MAX_AMOUNT:
            raise ValueError(f"tokens and requests must be within 0..{MAX_AMOUNT}")
        if self.min_tokens < 0 or (self.allow_shrink and self.min_tokens > self.tokens):
            raise ValueError("min_tokens must be within 0..tokens")
        if not self.ttl_s > 0:
            raise ValueError("ttl_s must be positive")
        check_limits(self.subject, self.limits)

    def reservation(self, granted: int, reserved_at: float | None = None) -> Reservation:
        """The handle a store returns once ``granted`` tokens are held; a retried request
        gets the original reservation time, so settle finds the windows that hold it."""
        at = self.now if reserved_at is None else reserved_at
        return Reservation(
            reservation_id=self.reservation_id,
            subject=self.subject,
            limits=self.limits,
            reserved_at=at,
            tokens=granted,
            expires_at=at + self.ttl_s,
        )


@dataclass(frozen=True, slots=True)
class Reservation:
    """A granted hold; pass it to ``settle``. It names its buckets, so usage reported after
    the hold lapsed (or after a store lost the record) still lands in the right windows."""

    reservation_id: str
    subject: Subject
    limits: tuple[Limit, ...]
    reserved_at: float
    tokens: int
    expires_at: float


@dataclass(frozen=True, slots=True)
class BucketUsage:
    """One bucket as of ``now``: settled use, live holds, what is left, when it resets."""

    limit: Limit
    used: int
    reserved: int
    remaining: int
    resets_at: int  # epoch seconds: the start of the next window


@dataclass(frozen=True, slots=True)
class ReserveResult:
    """Outcome of ``reserve``: either a reservation or the bucket that refused.

    ``buckets`` follows the request's limit order and reflects this grant (the numbers for
    the x-ratelimit-* headers). ``granted_tokens`` is below the requested tokens only when
    the request allowed shrinking.
    """

    granted_tokens: int
    buckets: tuple[BucketUsage, ...]
    reservation: Reservation | None = None
    refused: BucketUsage | None = None

    @property
    def ok(self) -> bool:
        return self.refused is None

    @property
    def refusal_code(self) -> str | None:
        """``insufficient_quota`` for a spent budget, ``rate_limit_exceeded`` for RPM/TPM."""
        if self.refused is None:
            return None
        if self.refused.limit.kind is LimitKind.BUDGET:
            return "insufficient_quota"
        return "rate_limit_exceeded"
