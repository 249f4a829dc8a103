"""Builds the long-lived collaborators from settings: key and budget stores, authenticator."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from gateway.budgets.estimate import TokenEstimator
from gateway.budgets.gate import BudgetGate
from gateway.budgets.memory_store import MemoryBudgetStore
from gateway.budgets.redis_store import RedisBudgetStore
from gateway.budgets.store import BudgetStore
from gateway.keys.authenticator import StoreAuthenticator
from gateway.keys.hashing import HashSecretError, KeyHasher
from gateway.keys.memory_store import MemoryKeyStore
from gateway.keys.principal import Authenticator
from gateway.keys.redis_store import RedisKeyStore
from gateway.keys.service import KeyService
from gateway.keys.static import ChainAuthenticator, StaticKeyAuthenticator
from gateway.keys.store import KeyStore
from gateway.settings import Settings, SettingsError


@dataclass(slots=True)
class Stores:
    """Where keys and budgets live; ``None`` when the deployment has no key store."""

    keys: KeyStore | None
    budgets: BudgetStore | None
    hasher: KeyHasher | None
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def key_service(self) -> KeyService | None:
        return None if self.keys is None else KeyService(self.keys, self.hasher)


def build_stores(settings: Settings, environ: Mapping[str, str]) -> Stores:
    """No I/O: Redis pools connect on first use."""
    url = settings.redis.url
    if url:
        try:
            hasher = KeyHasher.from_environ(environ)
        except HashSecretError as exc:
            raise SettingsError(str(exc)) from None
        keys = RedisKeyStore.from_url(
            url,
            namespace=settings.auth.key_namespace,
            timeout_s=settings.redis.timeout_s,
            max_connections=settings.redis.max_connections,
        )
        budgets = RedisBudgetStore.from_url(
            url,
            max_connections=settings.redis.max_connections,
            socket_timeout_s=settings.redis.timeout_s,
        )
        return Stores(keys, budgets, hasher, [keys.close, budgets.close])
    if settings.demo:
        # In-memory state; the hashing secret lives only as long as the process.
        memory_keys = MemoryKeyStore()
        memory_budgets = MemoryBudgetStore()
        hasher = KeyHasher(secrets.token_bytes(32))
        return Stores(memory_keys, memory_budgets, hasher, [memory_keys.close])
    return Stores(None, None, None)


def build_authenticator(settings: Settings, stores: Stores) -> Authenticator:
    static = StaticKeyAuthenticator(settings.auth.api_keys)
    if stores.keys is None or stores.hasher is None:
        return static
    store_auth = StoreAuthenticator(
        stores.keys, stores.hasher, cache_ttl_s=settings.auth.key_cache_ttl_s
    )
    return ChainAuthenticator(static, store_auth)


def build_budget_gate(settings: Settings, stores: Stores) -> BudgetGate | None:
    if stores.budgets is None:
        return None
    b = settings.budgets
    return BudgetGate(
        stores.budgets,
        TokenEstimator(b.token_safety_factor),
        reservation_ttl_s=b.reservation_ttl_s,
        fail_open=b.fail_open,
    )


async def seed_demo(stores: Stores) -> None:
    """The fixed demo team and key, so tutorials work verbatim."""
    service = stores.key_service()
    if service is None:
        return
    await service.ensure_demo_key()
