"""Keyed hashing of API-key secrets (HMAC-SHA256 with a server secret) and secret generation."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

SECRET_ENV = "GATEWAY_KEY_HASH_SECRET"  # noqa: S105 (a variable name)
PREVIOUS_SECRET_ENV = "GATEWAY_KEY_HASH_SECRET_PREVIOUS"  # noqa: S105
MIN_SECRET_BYTES = 32
SECRET_PREFIX = "sk-"  # noqa: S105 (a public prefix)
# 32 random bytes: 256 bits of entropy, twice the 128-bit floor.
SECRET_RANDOM_BYTES = 32


class HashSecretError(ValueError):
    """The hashing secret is missing or too weak; the message names the variable."""


@dataclass(frozen=True, slots=True)
class SecretHash:
    """A keyed hash of one secret and the version (fingerprint) of the server secret used."""

    value: str
    version: str


class KeyHasher:
    """HMAC-SHA256 of API-key secrets under the current server secret, and the previous one.

    Rotating the server secret: set the new value as GATEWAY_KEY_HASH_SECRET and the old one
    as GATEWAY_KEY_HASH_SECRET_PREVIOUS. Lookups try the current hash, then the previous one;
    a key found by its previous hash is re-hashed under the current secret on that use. Once
    ``gateway keys list`` shows no key on the old version, drop the previous secret.
    """

    def __init__(self, secret: bytes, previous: bytes | None = None) -> None:
        for name, value in ((SECRET_ENV, secret), (PREVIOUS_SECRET_ENV, previous)):
            if value is not None and len(value) < MIN_SECRET_BYTES:
                raise HashSecretError(f"{name} must be at least {MIN_SECRET_BYTES} bytes long")
        self._secret = secret
        self._previous = previous if previous != secret else None
        self.version = _fingerprint(secret)
        self.previous_version = None if self._previous is None else _fingerprint(self._previous)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> KeyHasher:
        env = os.environ if environ is None else environ
        current = env.get(SECRET_ENV, "")
        if not current:
            raise HashSecretError(
                f"{SECRET_ENV} is not set: it must hold a random value of at least "
                f"{MIN_SECRET_BYTES} bytes (e.g. `openssl rand -hex 32`)"
            )
        previous = env.get(PREVIOUS_SECRET_ENV) or None
        return cls(current.encode(), previous.encode() if previous else None)

    def hash(self, api_key: str) -> SecretHash:
        """The hash under the current secret: what new and rotated keys are stored as."""
        return SecretHash(_hmac(self._secret, api_key), self.version)

    def previous_hash(self, api_key: str) -> SecretHash | None:
        """The hash under the previous secret, while one is configured."""
        if self._previous is None or self.previous_version is None:
            return None
        return SecretHash(_hmac(self._previous, api_key), self.previous_version)


def generate_secret() -> str:
    """A new API-key secret: ``sk-`` and 32 random bytes, URL-safe base64 (43 characters)."""
    return SECRET_PREFIX + secrets.token_urlsafe(SECRET_RANDOM_BYTES)


def secret_hint(api_key: str) -> str:
    """A recognisable, non-secret hint: the prefix and the last four characters."""
    return f"{SECRET_PREFIX}...{api_key[-4:]}"


def _hmac(secret: bytes, api_key: str) -> str:
    # surrogatepass: any str a client can send hashes (to a miss) instead of raising.
    return hmac.new(secret, api_key.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def _fingerprint(secret: bytes) -> str:
    # Identifies a server secret in stored records without revealing anything about it.
    return hmac.new(secret, b"gateway key-hash version", hashlib.sha256).hexdigest()[:12]
