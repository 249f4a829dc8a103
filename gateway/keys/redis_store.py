"""The Redis KeyStore: JSON records under ``gw:k:``, a hash index, atomic WATCH/MULTI writes.

Layout (``{keys}`` is a Redis Cluster hash tag: every key of the store lives in ONE slot,
so each multi-key write is a single MULTI/EXEC in Cluster too; the data is a few hundred
bytes per key and reads are cached by the authenticator, so one slot is plenty)::

    gw:k:{keys}:team:<team_id>        team JSON
    gw:k:{keys}:teams                 SET of team ids
    gw:k:{keys}:key:<key_id>          key JSON
    gw:k:{keys}:keys                  SET of key ids
    gw:k:{keys}:team_keys:<team_id>   SET of the team's key ids
    gw:k:{keys}:h:<secret_hash>       a copy of the key JSON: lookup by hash is one GET;
                                      a grace-period previous hash expires with the grace

Every write to a key rewrites its record and its index copies in one transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import redis.asyncio as redis
from redis.asyncio.client import Pipeline
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from gateway.keys.errors import (
    ConflictError,
    KeyStoreUnavailableError,
    key_not_found,
    team_not_found,
)
from gateway.keys.hashing import SecretHash
from gateway.keys.models import ApiKey, Team, decode_key, decode_team, encode
from gateway.keys.store import RotateOutcome, Rotation, TeamUpdate, rehashed, revoked, rotated

T = TypeVar("T")
DEFAULT_NAMESPACE = "gw:k"


class RedisKeyStore:
    def __init__(self, client: redis.Redis, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        self._client = client
        self._prefix = f"{namespace}:{{keys}}:"

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        timeout_s: float = 1.0,
        max_connections: int = 64,
    ) -> RedisKeyStore:
        """A pooled client; nothing connects until the first call."""
        client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            max_connections=max_connections,
            # One immediate retry replaces a pooled connection that died with a Redis
            # restart; more would only delay the fail-closed answer.
            retry=Retry(NoBackoff(), 1),
        )
        return cls(client, namespace=namespace)

    # -- key names ------------------------------------------------------------------------

    def _team(self, team_id: str) -> str:
        return f"{self._prefix}team:{team_id}"

    def _key(self, key_id: str) -> str:
        return f"{self._prefix}key:{key_id}"

    def _hash(self, secret_hash: str) -> str:
        return f"{self._prefix}h:{secret_hash}"

    def _team_keys(self, team_id: str) -> str:
        return f"{self._prefix}team_keys:{team_id}"

    # -- teams ----------------------------------------------------------------------------

    async def create_team(self, team: Team) -> None:
        with _unavailable_on_error():
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.set(self._team(team.id), encode(team), nx=True)
                pipe.sadd(f"{self._prefix}teams", team.id)
                created, _ = await pipe.execute()
        if not created:
            raise ConflictError(f"A team with id '{team.id}' already exists.", param="id")

    async def get_team(self, team_id: str) -> Team | None:
        with _unavailable_on_error():
            data = await self._client.get(self._team(team_id))
        return None if data is None else decode_team(data)

    async def list_teams(self) -> list[Team]:
        with _unavailable_on_error():
            ids = await self._client.smembers(f"{self._prefix}teams")
            teams = await self._mget([self._team(_text(i)) for i in ids], decode_team)
        return sorted(teams, key=lambda team: team.id)

    async def update_team(self, team_id: str, update: TeamUpdate) -> Team:
        name = self._team(team_id)

        async def change(pipe: Pipeline) -> Team:
            data = await pipe.get(name)
            if data is None:
                raise team_not_found(team_id)
            team = update.apply(decode_team(data))
            _begin(pipe)
            pipe.set(name, encode(team))
            return team

        return await self._transaction(change, name)

    # -- keys -----------------------------------------------------------------------------

    async def create_key(self, key: ApiKey) -> None:
        record, team = self._key(key.id), self._team(key.team_id)
        hashes = [self._hash(h) for h in key.live_hashes()]

        async def create(pipe: Pipeline) -> None:
            if not await pipe.exists(team):
                raise team_not_found(key.team_id)
            if await pipe.exists(record):
                raise ConflictError(f"A key with id '{key.id}' already exists.", param="id")
            if hashes and await pipe.exists(*hashes):
                raise ConflictError("That secret is already in use by another key.", param="secret")
            _begin(pipe)
            self._stage(pipe, key, None)
            pipe.sadd(f"{self._prefix}keys", key.id)
            pipe.sadd(self._team_keys(key.team_id), key.id)

        await self._transaction(create, team, record, *hashes)

    async def get_key(self, key_id: str) -> ApiKey | None:
        with _unavailable_on_error():
            data = await self._client.get(self._key(key_id))
        return None if data is None else decode_key(data)

    async def find_by_hash(self, secret_hash: str) -> ApiKey | None:
        with _unavailable_on_error():
            data = await self._client.get(self._hash(secret_hash))
        return None if data is None else decode_key(data)

    async def list_keys(self, team_id: str | None = None) -> list[ApiKey]:
        index = f"{self._prefix}keys" if team_id is None else self._team_keys(team_id)
        with _unavailable_on_error():
            ids = await self._client.smembers(index)
            keys = await self._mget([self._key(_text(i)) for i in ids], decode_key)
        return sorted(keys, key=lambda key: (key.created_at, key.id))

    async def revoke_key(self, key_id: str, now: float) -> ApiKey:
        return await self._change_key(key_id, lambda key: revoked(key, now))

    async def rotate_key(self, key_id: str, rotation: Rotation) -> RotateOutcome:
        outcome: list[bool] = []

        def change(key: ApiKey) -> ApiKey | None:
            new = rotated(key, rotation)
            outcome[:] = [new is not None]
            return new

        key = await self._change_key(key_id, change)
        return RotateOutcome(key, applied=outcome == [True])

    async def rehash_key(self, key_id: str, old_hash: str, new_hash: SecretHash) -> bool:
        name = self._key(key_id)

        async def change(pipe: Pipeline) -> bool:
            data = await pipe.get(name)
            old = None if data is None else decode_key(data)
            new = None if old is None else rehashed(old, old_hash, new_hash)
            if new is None:
                return False
            _begin(pipe)
            self._stage(pipe, new, old)
            return True

        return await self._transaction(change, name)

    async def ping(self) -> None:
        with _unavailable_on_error():
            await self._client.ping()

    async def close(self) -> None:
        await self._client.aclose()

    # -- helpers --------------------------------------------------------------------------

    async def _change_key(self, key_id: str, change: Callable[[ApiKey], ApiKey | None]) -> ApiKey:
        """Read-modify-write one key under WATCH; ``change`` returning None writes nothing."""
        name = self._key(key_id)

        async def apply(pipe: Pipeline) -> ApiKey:
            data = await pipe.get(name)
            if data is None:
                raise key_not_found(key_id)
            old = decode_key(data)
            new = change(old)
            if new is None or new == old:
                return old
            _begin(pipe)
            self._stage(pipe, new, old)
            return new

        return await self._transaction(apply, name)

    def _stage(self, pipe: Pipeline, new: ApiKey, old: ApiKey | None) -> None:
        """Queue the writes that store ``new`` and its hash index (replacing ``old``'s)."""
        data = encode(new)
        pipe.set(self._key(new.id), data)
        live = new.live_hashes()
        for secret_hash in live:
            if secret_hash == new.previous_hash and new.previous_expires_at is not None:
                # The index copy lapses with the grace period (ApiKey.accepts decides anyway).
                pipe.set(self._hash(secret_hash), data, pxat=int(new.previous_expires_at * 1000))
            else:
                pipe.set(self._hash(secret_hash), data)
        stale = [h for h in (old.live_hashes() if old else ()) if h not in live]
        if stale:
            pipe.delete(*(self._hash(h) for h in stale))

    async def _transaction(self, func: Callable[[Pipeline], Awaitable[T]], *watch: str) -> T:
        # WatchError (a concurrent write) makes redis-py run ``func`` again on fresh data.
        with _unavailable_on_error():
            result: T = await self._client.transaction(func, *watch, value_from_callable=True)
        return result

    async def _mget(self, names: Sequence[str], decode: Callable[[bytes | str], T]) -> list[T]:
        if not names:
            return []
        values = await self._client.mget(names)
        # A record removed between SMEMBERS and MGET is simply not listed.
        return [decode(value) for value in values if value is not None]


@contextmanager
def _unavailable_on_error() -> Iterator[None]:
    try:
        yield
    except (RedisError, OSError) as exc:
        raise KeyStoreUnavailableError("The key store is unavailable; try again later.") from exc


def _begin(pipe: Pipeline) -> None:
    """End the WATCH phase: commands from here on are queued for EXEC."""
    pipe.multi()  # type: ignore[no-untyped-call]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
