"""Static API keys from configuration (single-tenant set-ups and the demo)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from gateway.keys.principal import Authenticator, Principal, invalid_key


class StaticKeyAuthenticator:
    """Keys are held only as keyed hashes; lookup is a dict hit on the hash (no timing oracle)."""

    def __init__(self, keys: Iterable[str], *, team_id: str = "default") -> None:
        # A per-process secret: static keys never leave memory in any form.
        self._secret = secrets.token_bytes(32)
        self._by_hash: dict[bytes, Principal] = {}
        for index, key in enumerate(keys):
            self._by_hash[self._hash(key)] = Principal(key_id=f"static-{index}", team_id=team_id)

    def _hash(self, key: str) -> bytes:
        return hmac.new(self._secret, key.encode(), hashlib.sha256).digest()

    @property
    def has_keys(self) -> bool:
        return bool(self._by_hash)

    def lookup(self, api_key: str) -> Principal | None:
        return self._by_hash.get(self._hash(api_key))

    async def authenticate(self, api_key: str | None) -> Principal:
        principal = self.lookup(api_key) if api_key else None
        if principal is None:
            raise invalid_key()
        return principal


class ChainAuthenticator:
    """Static keys first (a dict hit), then the key store; one error for every failure."""

    def __init__(self, static: StaticKeyAuthenticator, store: Authenticator) -> None:
        self._static = static
        self._store = store

    async def authenticate(self, api_key: str | None) -> Principal:
        if api_key and self._static.has_keys:
            principal = self._static.lookup(api_key)
            if principal is not None:
                return principal
        return await self._store.authenticate(api_key)
