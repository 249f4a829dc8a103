"""Builds the long-lived collaborators from settings: key and budget stores, authenticator."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

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
from gateway.policy.config import RedactionConfig
from gateway.policy.files import PolicyLoadError
from gateway.policy.model import Policy
from gateway.policy.redactor import Redactor
from gateway.policy.registry import DEFAULT, PolicyRegistry
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
        # One auto-pipelined connection per process (RedisMux): no pool to size.
        budgets = RedisBudgetStore.from_url(url, timeout_s=settings.redis.timeout_s)
        return Stores(keys, budgets, hasher, [keys.close, budgets.close])
    if settings.demo:
        # In-memory state; the hashing secret lives only as long as the process.
        memory_keys = MemoryKeyStore()
        memory_budgets = MemoryBudgetStore()
        hasher = KeyHasher(secrets.token_bytes(32))
        return Stores(memory_keys, memory_budgets, hasher, [memory_keys.close])
    return Stores(None, None, None)


def build_policies(settings: Settings, environ: Mapping[str, str]) -> PolicyRegistry:
    """Policies from GATEWAY_POLICY_DIR, else the built-in secure default (mask everything)."""
    secret = environ.get("GATEWAY_PII_HASH_SECRET")
    hash_key = secret.encode() if secret else None
    if settings.policy_dir is None:
        config = RedactionConfig(hash_key=hash_key)
        default = Policy(
            name=DEFAULT,
            description="built-in: mask every pattern-decidable PII type in and out",
            redaction=config,
            redactor=Redactor(config),
            redact_input=True,
            redact_output=True,
            guardrail=None,
            budget_shrink=False,
            source=None,
        )
        return PolicyRegistry(Path("."), {DEFAULT: default}, hash_key=hash_key)
    try:
        return PolicyRegistry.load(Path(settings.policy_dir), hash_key=hash_key)
    except (PolicyLoadError, OSError) as exc:
        raise SettingsError(f"policies in {settings.policy_dir}: {exc}") from None


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
