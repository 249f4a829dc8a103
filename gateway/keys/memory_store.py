"""The in-process KeyStore (embedded default, demo and tests): plain dicts, no awaits inside."""

from __future__ import annotations

from gateway.keys.errors import ConflictError, key_not_found, team_not_found
from gateway.keys.hashing import SecretHash
from gateway.keys.models import ApiKey, Team
from gateway.keys.store import RotateOutcome, Rotation, TeamUpdate, rehashed, revoked, rotated


class MemoryKeyStore:
    """Each method runs to completion without awaiting, so it is atomic on the event loop."""

    def __init__(self) -> None:
        self._teams: dict[str, Team] = {}
        self._keys: dict[str, ApiKey] = {}
        self._by_hash: dict[str, str] = {}

    async def create_team(self, team: Team) -> None:
        if team.id in self._teams:
            raise ConflictError(f"A team with id '{team.id}' already exists.", param="id")
        self._teams[team.id] = team

    async def get_team(self, team_id: str) -> Team | None:
        return self._teams.get(team_id)

    async def list_teams(self) -> list[Team]:
        return sorted(self._teams.values(), key=lambda team: team.id)

    async def update_team(self, team_id: str, update: TeamUpdate) -> Team:
        team = self._teams.get(team_id)
        if team is None:
            raise team_not_found(team_id)
        new = update.apply(team)
        self._teams[team_id] = new
        return new

    async def create_key(self, key: ApiKey) -> None:
        if key.team_id not in self._teams:
            raise team_not_found(key.team_id)
        if key.id in self._keys:
            raise ConflictError(f"A key with id '{key.id}' already exists.", param="id")
        if any(h in self._by_hash for h in key.live_hashes()):
            raise ConflictError("That secret is already in use by another key.", param="secret")
        self._store(key, None)

    async def get_key(self, key_id: str) -> ApiKey | None:
        return self._keys.get(key_id)

    async def find_by_hash(self, secret_hash: str) -> ApiKey | None:
        key_id = self._by_hash.get(secret_hash)
        return None if key_id is None else self._keys.get(key_id)

    async def list_keys(self, team_id: str | None = None) -> list[ApiKey]:
        keys = (k for k in self._keys.values() if team_id is None or k.team_id == team_id)
        return sorted(keys, key=lambda key: (key.created_at, key.id))

    async def revoke_key(self, key_id: str, now: float) -> ApiKey:
        key = self._existing(key_id)
        new = revoked(key, now)
        self._store(new, key)
        return new

    async def rotate_key(self, key_id: str, rotation: Rotation) -> RotateOutcome:
        key = self._existing(key_id)
        new = rotated(key, rotation)
        if new is None:
            return RotateOutcome(key, applied=False)
        self._store(new, key)
        return RotateOutcome(new, applied=True)

    async def rehash_key(self, key_id: str, old_hash: str, new_hash: SecretHash) -> bool:
        key = self._keys.get(key_id)
        new = None if key is None else rehashed(key, old_hash, new_hash)
        if new is None:
            return False
        self._store(new, key)
        return True

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _existing(self, key_id: str) -> ApiKey:
        key = self._keys.get(key_id)
        if key is None:
            raise key_not_found(key_id)
        return key

    def _store(self, new: ApiKey, old: ApiKey | None) -> None:
        self._keys[new.id] = new
        live = new.live_hashes()
        for stale in old.live_hashes() if old is not None else ():
            if stale not in live:
                self._by_hash.pop(stale, None)
        for secret_hash in live:
            self._by_hash[secret_hash] = new.id
