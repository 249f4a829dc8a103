"""Static API keys from configuration (single-tenant set-ups and the demo)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from gateway.keys.principal import Principal, invalid_key


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

    async def authenticate(self, api_key: str | None) -> Principal:
        if not api_key:
            raise invalid_key()
        principal = self._by_hash.get(self._hash(api_key))
        if principal is None:
            raise invalid_key()
        return principal
