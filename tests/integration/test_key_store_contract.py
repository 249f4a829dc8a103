"""One contract for every KeyStore: in-memory, real Redis, and a real single-node Redis Cluster.

The cluster run uses the plain client against a node that owns every slot: Redis refuses
any transaction whose keys span slots (CROSSSLOT), so passing it proves the key layout is
Cluster-safe. Outage tests use a throwaway redis-server that they stop and restart.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import msgspec
import pytest

from gateway.keys.errors import (
    ConflictError,
    KeyNotFoundError,
    KeyRevokedError,
    KeyStoreUnavailableError,
    TeamNotFoundError,
)
from gateway.keys.hashing import SecretHash
from gateway.keys.memory_store import MemoryKeyStore
from gateway.keys.models import ApiKey, Budgets, Team
from gateway.keys.redis_store import RedisKeyStore
from gateway.keys.store import KeyStore, Rotation, TeamUpdate
from tests.fixtures.redis import RedisServer

pytestmark = pytest.mark.integration

MAX_CLUSTER_PORT = 55535


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("redis-cluster")
    server = RedisServer(workdir, cluster=True)
    # The cluster bus listens on port + 10000, so redis-server refuses ports above 55535;
    # free_port() may hand out ports up to 60999. Draw again until one fits.
    while server.port > MAX_CLUSTER_PORT:
        server = RedisServer(workdir, cluster=True)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(params=["memory", "redis", "redis-cluster"])
def backend(request: pytest.FixtureRequest) -> tuple[str, str] | None:
    """None for the memory store, else (url, namespace) of a real Redis."""
    if request.param == "memory":
        return None
    if request.param == "redis":
        return request.getfixturevalue("redis_url"), request.getfixturevalue("redis_namespace")
    # A throwaway server of this module: a unique namespace is enough isolation.
    return request.getfixturevalue("cluster_url"), f"test:{uuid.uuid4().hex[:12]}:gw:k"


@pytest.fixture
async def store(backend: tuple[str, str] | None) -> AsyncIterator[KeyStore]:
    made: KeyStore
    if backend is None:
        made = MemoryKeyStore()
    else:
        url, namespace = backend
        made = RedisKeyStore.from_url(url, namespace=namespace)
    try:
        yield made
    finally:
        await made.close()


def team(team_id: str = "acme", **changes: object) -> Team:
    base = Team(
        id=team_id,
        name="Acme",
        allowed_models=("claude-3-haiku",),
        policy="strict",
        budgets=Budgets(day=1000),
        created_at=1_700_000_000.0,
    )
    return msgspec.structs.replace(base, **changes)


def key(key_id: str = "key_a", secret_hash: str = "a" * 64, **changes: object) -> ApiKey:
    base = ApiKey(
        id=key_id,
        team_id="acme",
        name="ci",
        secret_hash=secret_hash,
        hash_version="v1",
        secret_hint="sk-...abcd",
        created_at=1_700_000_000.0,
        metadata={"owner": "ci"},
        budgets=Budgets(minute=10),
        rpm=5,
    )
    return msgspec.structs.replace(base, **changes)


def rotation(
    new: str, now: float, grace_s: float = 0.0, rotation_id: str | None = None
) -> Rotation:
    return Rotation(SecretHash(new, "v1"), "sk-...wxyz", now, grace_s, rotation_id)


# -- teams --------------------------------------------------------------------------------


async def test_team_round_trips(store: KeyStore) -> None:
    await store.create_team(team())
    assert await store.get_team("acme") == team()
    assert await store.get_team("other") is None


async def test_team_id_is_unique(store: KeyStore) -> None:
    await store.create_team(team())
    with pytest.raises(ConflictError):
        await store.create_team(team(name="Second"))
    assert (await store.get_team("acme")) == team()


async def test_teams_are_listed_by_id(store: KeyStore) -> None:
    assert await store.list_teams() == []
    for team_id in ("zeta", "alpha", "mid"):
        await store.create_team(team(team_id))
    assert [t.id for t in await store.list_teams()] == ["alpha", "mid", "zeta"]


async def test_update_team_changes_only_named_fields_and_merges_budgets(store: KeyStore) -> None:
    await store.create_team(team())
    updated = await store.update_team(
        "acme", TeamUpdate(allowed_models=None, budgets={"hour": 50, "day": None})
    )
    assert updated == team(allowed_models=None, budgets=Budgets(hour=50))
    assert await store.get_team("acme") == updated


async def test_update_of_missing_team_is_not_found(store: KeyStore) -> None:
    with pytest.raises(TeamNotFoundError):
        await store.update_team("ghost", TeamUpdate(name="x"))


async def test_concurrent_team_updates_lose_nothing(store: KeyStore) -> None:
    await store.create_team(team(budgets=Budgets()))
    windows = ("minute", "hour", "day", "month")
    await asyncio.gather(
        *(store.update_team("acme", TeamUpdate(budgets={w: i + 1})) for i, w in enumerate(windows))
    )
    assert (await store.get_team("acme")) == team(budgets=Budgets(minute=1, hour=2, day=3, month=4))


# -- keys ---------------------------------------------------------------------------------


async def test_key_round_trips_by_id_and_by_hash(store: KeyStore) -> None:
    await store.create_team(team())
    await store.create_key(key())
    assert await store.get_key("key_a") == key()
    assert await store.find_by_hash("a" * 64) == key()
    assert await store.find_by_hash("b" * 64) is None
    assert await store.get_key("key_b") is None


async def test_key_needs_an_existing_team(store: KeyStore) -> None:
    with pytest.raises(TeamNotFoundError):
        await store.create_key(key())
    assert await store.find_by_hash("a" * 64) is None


@pytest.mark.parametrize(
    "second",
    [key("key_a", "b" * 64), key("key_b", "a" * 64)],
    ids=["same-id", "same-secret"],
)
async def test_key_id_and_secret_hash_are_unique(store: KeyStore, second: ApiKey) -> None:
    await store.create_team(team())
    await store.create_key(key())
    with pytest.raises(ConflictError):
        await store.create_key(second)
    assert await store.find_by_hash("a" * 64) == key()
    assert [k.id for k in await store.list_keys()] == ["key_a"]


async def test_keys_are_listed_by_creation_time_and_team(store: KeyStore) -> None:
    await store.create_team(team())
    await store.create_team(team("beta"))
    await store.create_key(key("key_late", "1" * 64, created_at=3.0))
    await store.create_key(key("key_early", "2" * 64, created_at=1.0))
    await store.create_key(key("key_beta", "3" * 64, team_id="beta", created_at=2.0))
    assert [k.id for k in await store.list_keys()] == ["key_early", "key_beta", "key_late"]
    assert [k.id for k in await store.list_keys("acme")] == ["key_early", "key_late"]
    assert [k.id for k in await store.list_keys("beta")] == ["key_beta"]
    assert await store.list_keys("nobody") == []


async def test_revoke_stops_lookup_by_hash_and_keeps_the_first_time(store: KeyStore) -> None:
    await store.create_team(team())
    await store.create_key(key())
    revoked = await store.revoke_key("key_a", 100.0)
    assert revoked.revoked_at == 100.0
    assert await store.find_by_hash("a" * 64) is None
    again = await store.revoke_key("key_a", 200.0)
    assert again.revoked_at == 100.0
    assert await store.get_key("key_a") == revoked
    with pytest.raises(KeyNotFoundError):
        await store.revoke_key("key_ghost", 1.0)


async def test_rotate_keeps_the_id_and_drops_the_old_secret_at_once(store: KeyStore) -> None:
    await store.create_team(team())
    await store.create_key(key())
    outcome = await store.rotate_key("key_a", rotation("b" * 64, time.time()))
    assert outcome.applied
    assert outcome.key.id == "key_a"
    assert outcome.key.secret_hash == "b" * 64
    assert outcome.key.previous_hash is None
    assert await store.find_by_hash("a" * 64) is None
    assert await store.find_by_hash("b" * 64) == outcome.key
    assert await store.get_key("key_a") == outcome.key


async def test_rotate_with_grace_keeps_the_old_secret_until_the_grace_ends(store: KeyStore) -> None:
    await store.create_team(team())
    await store.create_key(key())
    now = time.time()
    outcome = await store.rotate_key("key_a", rotation("b" * 64, now, grace_s=600))
    old = await store.find_by_hash("a" * 64)
    assert old == outcome.key
    assert old.accepts("a" * 64, now + 599)
    assert not old.accepts("a" * 64, now + 600)
    assert old.accepts("b" * 64, now + 600)


async def test_a_lapsed_grace_never_authenticates(store: KeyStore) -> None:
    await store.create_team(team())
    await store.create_key(key())
    # The grace ended in the past: Redis drops the index entry, memory keeps it but
    # ApiKey.accepts refuses; either way the old secret is dead.
    now = time.time() - 60
    await store.rotate_key("key_a", rotation("b" * 64, now, grace_s=10))
    found = await store.find_by_hash("a" * 64)
    assert found is None or not found.accepts("a" * 64, time.time())


async def test_rotating_again_inside_a_grace_ends_the_first_grace(store: KeyStore) -> None:
    await store.create_team(team())
    await store.create_key(key())
    now = time.time()
    await store.rotate_key("key_a", rotation("b" * 64, now, grace_s=600))
    outcome = await store.rotate_key("key_a", rotation("c" * 64, now, grace_s=600))
    assert await store.find_by_hash("a" * 64) is None
    assert await store.find_by_hash("b" * 64) == outcome.key
    assert await store.find_by_hash("c" * 64) == outcome.key


async def test_a_repeated_rotation_id_is_not_applied_twice(store: KeyStore) -> None:
    await store.create_team(team())
    await store.create_key(key())
    now = time.time()
    first = await store.rotate_key("key_a", rotation("b" * 64, now, rotation_id="r1"))
    retry = await store.rotate_key("key_a", rotation("c" * 64, now, rotation_id="r1"))
    assert first.applied
    assert not retry.applied
    assert retry.key == first.key
    assert await store.find_by_hash("c" * 64) is None
    assert await store.find_by_hash("b" * 64) == first.key


async def test_a_revoked_key_cannot_be_rotated(store: KeyStore) -> None:
    await store.create_team(team())
    await store.create_key(key())
    await store.revoke_key("key_a", 1.0)
    with pytest.raises(KeyRevokedError):
        await store.rotate_key("key_a", rotation("b" * 64, time.time()))
    assert await store.find_by_hash("b" * 64) is None
    with pytest.raises(KeyNotFoundError):
        await store.rotate_key("key_ghost", rotation("d" * 64, time.time()))


async def test_concurrent_rotations_leave_one_consistent_secret(store: KeyStore) -> None:
    await store.create_team(team())
    await store.create_key(key())
    now = time.time()
    hashes = [f"{i:064x}" for i in range(1, 11)]
    await asyncio.gather(*(store.rotate_key("key_a", rotation(h, now)) for h in hashes))
    final = await store.get_key("key_a")
    assert final is not None
    assert final.secret_hash in hashes
    resolving = [h for h in [*hashes, "a" * 64] if await store.find_by_hash(h) is not None]
    assert resolving == [final.secret_hash]
    assert await store.find_by_hash(final.secret_hash) == final


async def test_rehash_moves_the_key_to_the_new_hash(store: KeyStore) -> None:
    await store.create_team(team())
    await store.create_key(key())
    assert await store.rehash_key("key_a", "a" * 64, SecretHash("e" * 64, "v2"))
    moved = await store.get_key("key_a")
    assert moved == key(secret_hash="e" * 64, hash_version="v2")
    assert await store.find_by_hash("e" * 64) == moved
    assert await store.find_by_hash("a" * 64) is None


async def test_rehash_moves_a_grace_hash_too(store: KeyStore) -> None:
    await store.create_team(team())
    await store.create_key(key())
    await store.rotate_key("key_a", rotation("b" * 64, time.time(), grace_s=600))
    assert await store.rehash_key("key_a", "a" * 64, SecretHash("e" * 64, "v2"))
    moved = await store.get_key("key_a")
    assert moved is not None
    assert moved.previous_hash == "e" * 64
    assert moved.secret_hash == "b" * 64
    assert moved.hash_version == "v1"
    assert await store.find_by_hash("e" * 64) == moved
    assert await store.find_by_hash("a" * 64) is None


@pytest.mark.parametrize("revoke", [False, True], ids=["stale-hash", "revoked"])
async def test_rehash_that_lost_a_race_changes_nothing(store: KeyStore, revoke: bool) -> None:
    await store.create_team(team())
    await store.create_key(key())
    if revoke:
        await store.revoke_key("key_a", 1.0)
    before = await store.get_key("key_a")
    assert not await store.rehash_key("key_a", "f" * 64, SecretHash("e" * 64, "v2"))
    assert not await store.rehash_key("key_ghost", "a" * 64, SecretHash("e" * 64, "v2"))
    if revoke:
        assert not await store.rehash_key("key_a", "a" * 64, SecretHash("e" * 64, "v2"))
    assert await store.get_key("key_a") == before
    assert await store.find_by_hash("e" * 64) is None


async def test_ping_answers(store: KeyStore) -> None:
    await store.ping()


# -- outages (Redis only) -----------------------------------------------------------------


async def test_unreachable_redis_fails_closed_quickly_and_recovers(
    redis_server: RedisServer,
) -> None:
    store = RedisKeyStore.from_url(redis_server.url, namespace="gw:k", timeout_s=0.5)
    try:
        await store.create_team(team())
        await store.create_key(key())
        redis_server.stop()
        for call in (
            store.ping(),
            store.find_by_hash("a" * 64),
            store.get_team("acme"),
            store.list_keys(),
            store.revoke_key("key_a", 1.0),
        ):
            started = time.monotonic()
            with pytest.raises(KeyStoreUnavailableError) as info:
                await call
            # Generous: a refused connection fails at once; this only catches hangs.
            assert time.monotonic() - started < 5.0
            assert info.value.status == 503
            assert info.value.code == "key_store_unavailable"
        redis_server.start()
        # Same store object, no restart: the pool reconnects (the restarted server is empty).
        await store.ping()
        assert await store.find_by_hash("a" * 64) is None
        await store.create_team(team())
        assert await store.get_team("acme") == team()
    finally:
        await store.close()


async def test_a_hung_redis_times_out_as_unavailable(redis_server: RedisServer) -> None:
    store = RedisKeyStore.from_url(redis_server.url, namespace="gw:k", timeout_s=0.3)
    try:
        await store.ping()
        redis_server.freeze()
        started = time.monotonic()
        with pytest.raises(KeyStoreUnavailableError):
            await store.find_by_hash("a" * 64)
        # Two attempts of 0.3 s each; the bound is loose for a loaded 2-core machine.
        assert time.monotonic() - started < 10.0
        redis_server.thaw()
        assert await store.find_by_hash("a" * 64) is None
    finally:
        redis_server.thaw()
        await store.close()


def test_the_cluster_fixture_is_really_a_cluster(cluster_url: str) -> None:
    import redis

    with redis.Redis.from_url(cluster_url) as client:
        assert b"cluster_state:ok" in client.execute_command("CLUSTER", "INFO")
        # The check that gives the cluster run its meaning: cross-slot transactions fail.
        pipe = client.pipeline(transaction=True)
        pipe.set("{a}x", 1)
        pipe.set("{b}y", 1)
        with pytest.raises(redis.ResponseError, match="same slot"):
            pipe.execute()
