"""The KeyStore interface both stores implement, and the record changes they share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import msgspec

from gateway.keys.errors import KeyRevokedError
from gateway.keys.hashing import SecretHash
from gateway.keys.models import BUDGET_WINDOWS, ApiKey, Team


class TeamUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """A partial team change: UNSET fields are left alone; budgets merge per window."""

    name: str | msgspec.UnsetType = msgspec.UNSET
    # None here means "every routed model".
    allowed_models: tuple[str, ...] | msgspec.UnsetType | None = msgspec.UNSET
    policy: str | msgspec.UnsetType = msgspec.UNSET
    # Window name -> new amount (None removes that window's budget).
    budgets: dict[str, int | None] = msgspec.field(default_factory=dict)

    def apply(self, team: Team) -> Team:
        changes: dict[str, object] = {
            name: value
            for name in ("name", "allowed_models", "policy")
            if (value := getattr(self, name)) is not msgspec.UNSET
        }
        if self.budgets:
            unknown = set(self.budgets) - set(BUDGET_WINDOWS)
            if unknown:
                raise ValueError(f"unknown budget windows: {sorted(unknown)}")
            changes["budgets"] = msgspec.structs.replace(team.budgets, **self.budgets)
        return msgspec.structs.replace(team, **changes)


@dataclass(frozen=True, slots=True)
class Rotation:
    """A new secret for an existing key id; the old one may stay valid for ``grace_s``."""

    new_hash: SecretHash
    secret_hint: str
    now: float
    grace_s: float = 0.0
    # Caller-chosen id: repeating a rotation with the same id does not rotate again.
    rotation_id: str | None = None


@dataclass(frozen=True, slots=True)
class RotateOutcome:
    key: ApiKey
    # False: this rotation_id was already applied; ``key`` is the current state.
    applied: bool


class KeyStore(Protocol):
    """Teams and keys by id, and keys by secret hash.

    Every method raises ``KeyStoreUnavailableError`` when the backing store cannot be
    reached; nothing caches that state, so the first call after recovery works. Writes to
    one key are atomic: a reader never sees a record and its hash index disagree.
    """

    async def create_team(self, team: Team) -> None:
        """Add a team; ``ConflictError`` if the id is taken."""
        ...

    async def get_team(self, team_id: str) -> Team | None: ...

    async def list_teams(self) -> list[Team]:
        """Every team, ordered by id."""
        ...

    async def update_team(self, team_id: str, update: TeamUpdate) -> Team:
        """Apply ``update`` atomically; ``TeamNotFoundError`` if there is no such team."""
        ...

    async def create_key(self, key: ApiKey) -> None:
        """Add a key; ``TeamNotFoundError`` without its team, ``ConflictError`` if the id
        or the secret hash is taken."""
        ...

    async def get_key(self, key_id: str) -> ApiKey | None: ...

    async def find_by_hash(self, secret_hash: str) -> ApiKey | None:
        """The key whose current or grace-period previous hash this is. The caller still
        checks ``ApiKey.accepts``: status and grace expiry are judged at the caller's time."""
        ...

    async def list_keys(self, team_id: str | None = None) -> list[ApiKey]:
        """Keys (of one team, or all), ordered by creation time then id."""
        ...

    async def revoke_key(self, key_id: str, now: float) -> ApiKey:
        """Revoke at ``now`` (idempotent: the first revocation time stays); the key's hashes
        stop resolving at once. ``KeyNotFoundError`` if there is no such key."""
        ...

    async def rotate_key(self, key_id: str, rotation: Rotation) -> RotateOutcome:
        """Replace the secret hash, keeping the id. ``KeyRevokedError`` for a revoked key."""
        ...

    async def rehash_key(self, key_id: str, old_hash: str, new_hash: SecretHash) -> bool:
        """Move a key from ``old_hash`` (made with a previous server secret) to ``new_hash``.
        False when ``old_hash`` no longer belongs to the key (a rotation won the race)."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


def rotated(key: ApiKey, rotation: Rotation) -> ApiKey | None:
    """The key after ``rotation``, or None when that rotation_id was already applied."""
    if rotation.rotation_id is not None and rotation.rotation_id == key.rotation_id:
        return None
    if key.revoked_at is not None:
        raise KeyRevokedError("A revoked key cannot be rotated.", param="key_id")
    grace = rotation.grace_s > 0
    # Only one previous secret is kept: rotating again inside a grace period ends it.
    return msgspec.structs.replace(
        key,
        secret_hash=rotation.new_hash.value,
        hash_version=rotation.new_hash.version,
        secret_hint=rotation.secret_hint,
        previous_hash=key.secret_hash if grace else None,
        previous_expires_at=rotation.now + rotation.grace_s if grace else None,
        rotated_at=rotation.now,
        rotation_id=rotation.rotation_id,
    )


def revoked(key: ApiKey, now: float) -> ApiKey:
    if key.revoked_at is not None:
        return key
    return msgspec.structs.replace(key, revoked_at=now)


def rehashed(key: ApiKey, old_hash: str, new_hash: SecretHash) -> ApiKey | None:
    if key.revoked_at is not None:
        return None
    if old_hash == key.secret_hash:
        return msgspec.structs.replace(
            key, secret_hash=new_hash.value, hash_version=new_hash.version
        )
    if old_hash == key.previous_hash:
        return msgspec.structs.replace(key, previous_hash=new_hash.value)
    return None
