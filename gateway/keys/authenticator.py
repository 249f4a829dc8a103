"""Authenticate callers against the key store, with a short in-process cache of successes."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.keys.errors import KeyStoreUnavailableError, model_not_allowed
from gateway.keys.hashing import KeyHasher, SecretHash
from gateway.keys.limits import budget_limits
from gateway.keys.models import ApiKey, Team
from gateway.keys.principal import Principal, invalid_key
from gateway.keys.store import KeyStore

log = logging.getLogger("gateway.keys")

DEFAULT_CACHE_TTL_S = 5.0
DEFAULT_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class _Entry:
    principal: Principal
    valid_until: float


class StoreAuthenticator:
    """The ``Authenticator`` for keys held in a ``KeyStore``.

    Lookup is by keyed hash (HMAC-SHA256), never by comparing secrets, so response time
    says nothing about how close a guess was. Every failure (no key, unknown, revoked,
    expired, past its rotation grace) raises the same ``invalid_key()``.

    Successful lookups are cached in this process for ``cache_ttl_s`` (default 5 s) and at
    most ``cache_size`` entries, so the hot path is usually no store round trip at all. The
    price: a revocation, rotation or team change made elsewhere takes effect here within
    ``cache_ttl_s``. Expiry is exact (an entry never outlives its key's ``expires_at``).
    Failures are not cached. If the store is unreachable and the key is not cached, the
    store's ``KeyStoreUnavailableError`` (503) propagates: authentication fails closed.
    """

    def __init__(
        self,
        store: KeyStore,
        hasher: KeyHasher,
        clock: Callable[[], float] = time.time,
        *,
        cache_ttl_s: float = DEFAULT_CACHE_TTL_S,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        if cache_ttl_s < 0 or cache_size < 0:
            raise ValueError("cache_ttl_s and cache_size must not be negative")
        self._store = store
        self._hasher = hasher
        self._clock = clock
        self._ttl = cache_ttl_s
        self._size = cache_size
        # Keyed by the secret's current hash: no plaintext secret is ever held here.
        self._cache: dict[str, _Entry] = {}

    async def authenticate(self, api_key: str | None) -> Principal:
        if not api_key:
            raise invalid_key()
        now = self._clock()
        current = self._hasher.hash(api_key)
        entry = self._cache.get(current.value)
        if entry is not None:
            if now < entry.valid_until:
                return entry.principal
            del self._cache[current.value]
        key, matched = await self._find(api_key, current, now)
        if key is None:
            raise invalid_key()
        team = await self._store.get_team(key.team_id)
        if team is None:
            # A key whose team is gone grants nothing.
            raise invalid_key()
        principal = principal_for(key, team)
        self._remember(current.value, principal, _valid_until(key, matched, now + self._ttl))
        return principal

    def clear_cache(self) -> None:
        """Forget every cached principal (an admin change made in this process)."""
        self._cache.clear()

    async def _find(
        self, api_key: str, current: SecretHash, now: float
    ) -> tuple[ApiKey | None, str]:
        key = await self._store.find_by_hash(current.value)
        if key is not None:
            return (key if key.accepts(current.value, now) else None), current.value
        previous = self._hasher.previous_hash(api_key)
        if previous is None:
            return None, current.value
        key = await self._store.find_by_hash(previous.value)
        if key is None or not key.accepts(previous.value, now):
            return None, previous.value
        await self._rehash(key, previous.value, current)
        return key, previous.value

    async def _rehash(self, key: ApiKey, old_hash: str, current: SecretHash) -> None:
        # Moving the key to the current server secret is housekeeping: if the store fails
        # now, the caller is still authenticated and the next use tries again.
        try:
            await self._store.rehash_key(key.id, old_hash, current)
        except KeyStoreUnavailableError:
            log.warning("could not re-hash key %s under the current secret", key.id)

    def _remember(self, secret_hash: str, principal: Principal, valid_until: float) -> None:
        if self._size == 0 or self._ttl == 0:
            return
        if len(self._cache) >= self._size:
            # Drop the oldest insertion: entries live seconds, so FIFO is as good as LRU.
            del self._cache[next(iter(self._cache))]
        self._cache[secret_hash] = _Entry(principal, valid_until)


def principal_for(key: ApiKey, team: Team) -> Principal:
    """The caller a key stands for: its models and policy, else its team's."""
    return Principal(
        key_id=key.id,
        team_id=team.id,
        allowed_models=effective_models(key.allowed_models, team.allowed_models),
        policy=key.policy if key.policy is not None else team.policy,
        metadata=dict(key.metadata),
        limits=budget_limits(key, team),
    )


def effective_models(
    key_models: tuple[str, ...] | None, team_models: tuple[str, ...] | None
) -> frozenset[str] | None:
    """The key's list else the team's; with both, only models on both (a key never widens
    its team's access, even after the team's list shrinks)."""
    if key_models is None:
        return None if team_models is None else frozenset(team_models)
    if team_models is None:
        return frozenset(key_models)
    return frozenset(key_models).intersection(team_models)


def ensure_model_allowed(principal: Principal, model: str) -> None:
    """Raise 403 ``model_not_allowed`` unless the caller may use ``model``."""
    if principal.allowed_models is not None and model not in principal.allowed_models:
        raise model_not_allowed(model)


def _valid_until(key: ApiKey, matched_hash: str, cache_until: float) -> float:
    until = cache_until
    if key.expires_at is not None:
        until = min(until, key.expires_at)
    if matched_hash != key.secret_hash and key.previous_expires_at is not None:
        until = min(until, key.previous_expires_at)
    return until
