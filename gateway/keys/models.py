"""Teams and API keys as stored records (msgspec Structs), their ids and their JSON form."""

from __future__ import annotations

import re
import secrets
from typing import Literal

import msgspec

KeyStatus = Literal["active", "revoked", "expired"]

# Operator-chosen team ids and generated ids share one alphabet: lower-case, digits, '_' and
# '-'. No ':' or braces, so an id can never break the store's key layout or hash tag.
_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
MAX_NAME_LENGTH = 200
MAX_METADATA_ITEMS = 32
BUDGET_WINDOWS = ("minute", "hour", "day", "month")


class Budgets(msgspec.Struct, frozen=True, kw_only=True):
    """Token budgets per fixed UTC window; None means no budget for that window."""

    minute: int | None = None
    hour: int | None = None
    day: int | None = None
    month: int | None = None


class Team(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    # None: every routed model.
    allowed_models: tuple[str, ...] | None = None
    policy: str = "default"
    budgets: Budgets = msgspec.field(default_factory=Budgets)
    created_at: float = 0.0


class ApiKey(msgspec.Struct, frozen=True, kw_only=True):
    """One key. The secret itself is never stored: only its keyed hash and a short hint."""

    id: str
    team_id: str
    name: str
    secret_hash: str
    # Fingerprint of the server hashing secret that produced secret_hash (see hashing.py).
    hash_version: str
    # "sk-...abcd": lets an operator recognise which secret a client holds.
    secret_hint: str
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    # None: the team's models (see Principal building in authenticator.py).
    allowed_models: tuple[str, ...] | None = None
    # None: the team's policy.
    policy: str | None = None
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    budgets: Budgets = msgspec.field(default_factory=Budgets)
    rpm: int | None = None
    tpm: int | None = None
    # The secret replaced by the last rotation, accepted until previous_expires_at.
    previous_hash: str | None = None
    previous_expires_at: float | None = None
    rotated_at: float | None = None
    # The caller's id of the last rotation: a retried rotation with it is not applied twice.
    rotation_id: str | None = None

    def status(self, now: float) -> KeyStatus:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"

    def accepts(self, secret_hash: str, now: float) -> bool:
        """Whether ``secret_hash`` authenticates this key at ``now``."""
        if self.status(now) != "active":
            return False
        if secret_hash == self.secret_hash:
            return True
        return (
            secret_hash == self.previous_hash
            and self.previous_expires_at is not None
            and now < self.previous_expires_at
        )

    def live_hashes(self) -> tuple[str, ...]:
        """Every hash the store's hash index should resolve to this key."""
        if self.revoked_at is not None:
            return ()
        if self.previous_hash is None:
            return (self.secret_hash,)
        return (self.secret_hash, self.previous_hash)


def new_team_id() -> str:
    return f"team_{secrets.token_hex(8)}"


def new_key_id() -> str:
    # Public and stable across rotation; 96 random bits make collisions negligible.
    return f"key_{secrets.token_hex(12)}"


def valid_id(value: str) -> bool:
    return _ID_PATTERN.fullmatch(value) is not None


def valid_name(value: str) -> bool:
    return 0 < len(value) <= MAX_NAME_LENGTH and value.isprintable()


_TEAM_DECODER = msgspec.json.Decoder(Team)
_KEY_DECODER = msgspec.json.Decoder(ApiKey)
_ENCODER = msgspec.json.Encoder()


def encode(record: Team | ApiKey) -> bytes:
    return _ENCODER.encode(record)


def decode_team(data: bytes | str) -> Team:
    return _TEAM_DECODER.decode(data)


def decode_key(data: bytes | str) -> ApiKey:
    return _KEY_DECODER.decode(data)
