"""StoreAuthenticator: one failure for every bad key, rotation, hash-secret rotation, the cache."""

from __future__ import annotations

import pytest

from gateway.errors import AuthenticationError, PermissionDeniedError
from gateway.keys.authenticator import StoreAuthenticator, effective_models, ensure_model_allowed
from gateway.keys.errors import KeyStoreUnavailableError
from gateway.keys.hashing import KeyHasher, SecretHash
from gateway.keys.memory_store import MemoryKeyStore
from gateway.keys.models import ApiKey, Team
from gateway.keys.principal import INVALID_KEY_MESSAGE, Principal
from gateway.keys.service import KeyService

OLD_SECRET = b"o" * 32
NEW_SECRET = b"n" * 32
T0 = 1_800_000_000.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class SwitchableStore(MemoryKeyStore):
    """A memory store with switchable faults at the store seam (where Redis would fail)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False  # every lookup fails, as with Redis unreachable
        self.writes_down = False  # only re-hash writes fail
        self.teams_gone = False  # team records missing (no delete-team operation exists)

    async def find_by_hash(self, secret_hash: str) -> ApiKey | None:
        if self.down:
            raise unavailable()
        return await super().find_by_hash(secret_hash)

    async def get_team(self, team_id: str) -> Team | None:
        if self.down:
            raise unavailable()
        return None if self.teams_gone else await super().get_team(team_id)

    async def rehash_key(self, key_id: str, old_hash: str, new_hash: SecretHash) -> bool:
        if self.down or self.writes_down:
            raise unavailable()
        return await super().rehash_key(key_id, old_hash, new_hash)


def unavailable() -> KeyStoreUnavailableError:
    return KeyStoreUnavailableError("The key store is unavailable; try again later.")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> SwitchableStore:
    return SwitchableStore()


@pytest.fixture
def service(store: SwitchableStore, clock: Clock) -> KeyService:
    return KeyService(store, KeyHasher(NEW_SECRET), clock)


@pytest.fixture
def auth(store: SwitchableStore, clock: Clock) -> StoreAuthenticator:
    return StoreAuthenticator(store, KeyHasher(NEW_SECRET), clock, cache_ttl_s=5.0)


async def new_key(service: KeyService, **options: object) -> dict[str, object]:
    if not await service.list_teams():
        await service.create_team(
            team_id="acme",
            name="Acme",
            allowed_models=["claude-3-haiku", "nova-lite"],
            policy="team-policy",
        )
    return await service.create_key(team_id="acme", name="ci", **options)  # type: ignore[arg-type]


async def assert_rejected(auth: StoreAuthenticator, api_key: str | None) -> None:
    with pytest.raises(AuthenticationError) as info:
        await auth.authenticate(api_key)
    # One message and code for every failure: nothing tells a caller why.
    assert info.value.message == INVALID_KEY_MESSAGE
    assert info.value.code == "invalid_api_key"
    assert info.value.status == 401


async def test_a_valid_key_is_the_principal_of_its_key_and_team(
    service: KeyService, auth: StoreAuthenticator
) -> None:
    created = await new_key(service, metadata={"env": "ci"})
    principal = await auth.authenticate(str(created["secret"]))
    assert principal == Principal(
        key_id=str(created["id"]),
        team_id="acme",
        allowed_models=frozenset({"claude-3-haiku", "nova-lite"}),
        policy="team-policy",
        metadata={"env": "ci"},
    )


async def test_key_models_and_policy_override_the_team(
    service: KeyService, auth: StoreAuthenticator
) -> None:
    created = await new_key(service, allowed_models=["nova-lite"], policy="key-policy")
    principal = await auth.authenticate(str(created["secret"]))
    assert principal.allowed_models == frozenset({"nova-lite"})
    assert principal.policy == "key-policy"


@pytest.mark.parametrize("api_key", [None, "", "sk-unknown-0000000000000000000000000000"])
async def test_missing_and_unknown_keys_are_rejected(
    service: KeyService, auth: StoreAuthenticator, api_key: str | None
) -> None:
    await new_key(service)
    await assert_rejected(auth, api_key)


async def test_a_revoked_key_is_rejected(service: KeyService, auth: StoreAuthenticator) -> None:
    created = await new_key(service)
    await service.revoke_key(str(created["id"]))
    await assert_rejected(auth, str(created["secret"]))


async def test_an_expired_key_is_rejected_even_when_cached(
    service: KeyService, auth: StoreAuthenticator, clock: Clock
) -> None:
    created = await new_key(service, expires_at=T0 + 2)
    await auth.authenticate(str(created["secret"]))
    clock.now = T0 + 1.999
    await auth.authenticate(str(created["secret"]))
    # Inside the 5 s cache TTL, but the key's own expiry is exact.
    clock.now = T0 + 2
    await assert_rejected(auth, str(created["secret"]))


async def test_rotation_swaps_secrets_at_once(
    service: KeyService, store: SwitchableStore, clock: Clock
) -> None:
    created = await new_key(service)
    rotated = await service.rotate_key(str(created["id"]))
    # A fresh authenticator: no cache in play.
    auth = StoreAuthenticator(store, KeyHasher(NEW_SECRET), clock)
    await assert_rejected(auth, str(created["secret"]))
    principal = await auth.authenticate(str(rotated["secret"]))
    assert principal.key_id == created["id"]


async def test_rotation_grace_keeps_the_old_secret_until_it_ends(
    service: KeyService, store: SwitchableStore, clock: Clock
) -> None:
    created = await new_key(service)
    rotated = await service.rotate_key(str(created["id"]), grace_s=60)
    auth = StoreAuthenticator(store, KeyHasher(NEW_SECRET), clock)
    clock.now = T0 + 58
    assert (await auth.authenticate(str(created["secret"]))).key_id == created["id"]
    # Cached at T0+58 with a 5 s TTL, yet the grace end (T0+60) cuts the entry short.
    clock.now = T0 + 60
    await assert_rejected(auth, str(created["secret"]))
    assert (await auth.authenticate(str(rotated["secret"]))).key_id == created["id"]


async def test_hash_secret_rotation_rehashes_on_use(store: SwitchableStore, clock: Clock) -> None:
    old_service = KeyService(store, KeyHasher(OLD_SECRET), clock)
    created = await new_key(old_service)
    secret = str(created["secret"])
    rotated_hasher = KeyHasher(NEW_SECRET, previous=OLD_SECRET)
    auth = StoreAuthenticator(store, rotated_hasher, clock, cache_ttl_s=0)

    assert (await auth.authenticate(secret)).key_id == created["id"]

    stored = await store.get_key(str(created["id"]))
    assert stored is not None
    assert stored.secret_hash == rotated_hasher.hash(secret).value
    assert stored.hash_version == rotated_hasher.version != KeyHasher(OLD_SECRET).version
    assert await store.find_by_hash(KeyHasher(OLD_SECRET).hash(secret).value) is None
    # Once every key is re-hashed the previous secret can go.
    only_new = StoreAuthenticator(store, KeyHasher(NEW_SECRET), clock, cache_ttl_s=0)
    assert (await only_new.authenticate(secret)).key_id == created["id"]


async def test_without_the_previous_secret_old_hashes_do_not_match(
    store: SwitchableStore, clock: Clock
) -> None:
    created = await new_key(KeyService(store, KeyHasher(OLD_SECRET), clock))
    auth = StoreAuthenticator(store, KeyHasher(NEW_SECRET), clock)
    await assert_rejected(auth, str(created["secret"]))


async def test_a_failed_rehash_still_authenticates(store: SwitchableStore, clock: Clock) -> None:
    created = await new_key(KeyService(store, KeyHasher(OLD_SECRET), clock))
    auth = StoreAuthenticator(store, KeyHasher(NEW_SECRET, OLD_SECRET), clock, cache_ttl_s=0)
    secret = str(created["secret"])
    # The lookups succeed, the re-hash write fails: the caller is still who they are.
    store.writes_down = True
    assert (await auth.authenticate(secret)).key_id == created["id"]
    stored = await store.get_key(str(created["id"]))
    assert stored is not None
    assert stored.hash_version == KeyHasher(OLD_SECRET).version


async def test_revocation_reaches_a_cached_key_within_the_ttl(
    service: KeyService, auth: StoreAuthenticator, clock: Clock
) -> None:
    created = await new_key(service)
    secret = str(created["secret"])
    await auth.authenticate(secret)
    await service.revoke_key(str(created["id"]))
    clock.now = T0 + 4.9
    # Still cached: the documented price of zero round trips on the hot path.
    assert (await auth.authenticate(secret)).key_id == created["id"]
    clock.now = T0 + 5.0
    await assert_rejected(auth, secret)


async def test_a_cached_key_survives_a_store_outage_and_others_fail_closed(
    service: KeyService, store: SwitchableStore, auth: StoreAuthenticator, clock: Clock
) -> None:
    cached = await new_key(service)
    other = await service.create_key(team_id="acme", name="other")
    await auth.authenticate(str(cached["secret"]))
    store.down = True
    assert (await auth.authenticate(str(cached["secret"]))).key_id == cached["id"]
    with pytest.raises(KeyStoreUnavailableError) as info:
        await auth.authenticate(str(other["secret"]))
    assert info.value.status == 503
    clock.now = T0 + 5
    with pytest.raises(KeyStoreUnavailableError):
        await auth.authenticate(str(cached["secret"]))
    store.down = False
    assert (await auth.authenticate(str(other["secret"]))).key_id == other["id"]


async def test_the_cache_is_bounded_and_drops_the_oldest(
    service: KeyService, store: SwitchableStore, clock: Clock
) -> None:
    auth = StoreAuthenticator(store, KeyHasher(NEW_SECRET), clock, cache_size=2)
    keys = [await new_key(service) for _ in range(3)]
    for created in keys:
        await auth.authenticate(str(created["secret"]))
    for created in keys:
        await service.revoke_key(str(created["id"]))
    # keys[0] was evicted, so its revocation shows at once; the other two are cached.
    await assert_rejected(auth, str(keys[0]["secret"]))
    assert (await auth.authenticate(str(keys[2]["secret"]))).key_id == keys[2]["id"]


async def test_failures_are_not_cached(
    service: KeyService, auth: StoreAuthenticator, store: SwitchableStore, clock: Clock
) -> None:
    secret = "sk-" + "z" * 40
    await assert_rejected(auth, secret)
    await new_key(service, secret=secret)
    assert (await auth.authenticate(secret)).team_id == "acme"


async def test_a_key_whose_team_is_gone_is_rejected(store: SwitchableStore, clock: Clock) -> None:
    service = KeyService(store, KeyHasher(NEW_SECRET), clock)
    created = await new_key(service)
    store.teams_gone = True
    auth = StoreAuthenticator(store, KeyHasher(NEW_SECRET), clock)
    await assert_rejected(auth, str(created["secret"]))


@pytest.mark.parametrize(
    ("key_models", "team_models", "expected"),
    [
        (None, None, None),
        (None, ("a", "b"), frozenset({"a", "b"})),
        (("a",), None, frozenset({"a"})),
        (("a", "c"), ("a", "b"), frozenset({"a"})),
        (("c",), ("a", "b"), frozenset()),
    ],
)
def test_effective_models(
    key_models: tuple[str, ...] | None,
    team_models: tuple[str, ...] | None,
    expected: frozenset[str] | None,
) -> None:
    assert effective_models(key_models, team_models) == expected


@pytest.mark.parametrize(
    ("allowed", "model", "ok"),
    [
        (None, "anything", True),
        (frozenset({"nova-lite"}), "nova-lite", True),
        (frozenset({"nova-lite"}), "claude-3-haiku", False),
        (frozenset(), "nova-lite", False),
    ],
)
def test_ensure_model_allowed(allowed: frozenset[str] | None, model: str, ok: bool) -> None:
    principal = Principal(key_id="key_a", team_id="acme", allowed_models=allowed)
    if ok:
        ensure_model_allowed(principal, model)
        return
    with pytest.raises(PermissionDeniedError) as info:
        ensure_model_allowed(principal, model)
    assert info.value.status == 403
    assert info.value.code == "model_not_allowed"
    assert info.value.param == "model"
