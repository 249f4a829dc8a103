"""KeyService: validation (400s naming the field), results without hashes, rotation, demo key."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from gateway.errors import InvalidRequestError, NotFoundError
from gateway.keys.authenticator import StoreAuthenticator
from gateway.keys.errors import ConflictError, KeyRevokedError
from gateway.keys.hashing import HashSecretError, KeyHasher
from gateway.keys.memory_store import MemoryKeyStore
from gateway.keys.service import DEMO_KEY_ID, DEMO_SECRET, KeyService

T0 = 1_800_000_000.0
HASHER = KeyHasher(b"h" * 32)


@pytest.fixture
def store() -> MemoryKeyStore:
    return MemoryKeyStore()


@pytest.fixture
async def service(store: MemoryKeyStore) -> KeyService:
    service = KeyService(store, HASHER, lambda: T0)
    await service.create_team(team_id="acme", name="Acme", allowed_models=["a", "b"])
    return service


async def assert_no_hashes(store: MemoryKeyStore, *results: Any) -> None:
    text = json.dumps(results)
    for key in await store.list_keys():
        for secret_hash in (key.secret_hash, key.previous_hash):
            if secret_hash is not None:
                assert secret_hash not in text


async def test_create_key_returns_the_secret_once(
    service: KeyService, store: MemoryKeyStore
) -> None:
    created = await service.create_key(team_id="acme", name="ci", metadata={"env": "ci"})
    assert created["secret"].startswith("sk-")
    assert created["secret_hint"] == "sk-..." + created["secret"][-4:]
    assert created["id"].startswith("key_")
    assert created["status"] == "active"
    shown = await service.show_key(created["id"])
    listed = await service.list_keys("acme")
    assert "secret" not in shown
    assert all("secret" not in item for item in listed)
    assert [item["id"] for item in listed] == [created["id"]]
    await assert_no_hashes(store, created, shown, listed)


async def test_create_team_generates_an_id(service: KeyService) -> None:
    team = await service.create_team(name="Generated", budgets={"day": 10})
    assert team["id"].startswith("team_")
    assert team["budgets"]["day"] == 10
    assert [t["id"] for t in await service.list_teams()] == sorted(["acme", team["id"]])


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"team_id": "Bad Id", "name": "x"}, "id"),
        ({"name": ""}, "name"),
        ({"name": "x\n"}, "name"),
        ({"name": "x", "allowed_models": []}, "allowed_models"),
        ({"name": "x", "allowed_models": [""]}, "allowed_models"),
        ({"name": "x", "policy": ""}, "policy"),
        ({"name": "x", "budgets": {"week": 1}}, "budgets"),
        ({"name": "x", "budgets": {"day": -1}}, "budgets.day"),
        ({"name": "x", "budgets": {"day": 10**13}}, "budgets.day"),
        ({"name": "x", "budgets": {"day": True}}, "budgets.day"),
    ],
)
async def test_create_team_rejects_bad_input(
    service: KeyService, options: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        await service.create_team(**options)
    assert info.value.param == param
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"allowed_models": ["a", "c"]}, "allowed_models"),
        ({"expires_at": T0}, "expires_at"),
        ({"rpm": -1}, "rpm"),
        ({"tpm": 10**13}, "tpm"),
        ({"metadata": {"": "x"}}, "metadata"),
        ({"metadata": {"k": "v" * 513}}, "metadata"),
        ({"metadata": {f"k{i}": "v" for i in range(33)}}, "metadata"),
        ({"secret": "sk-short"}, "secret"),
        ({"secret": "pk-" + "x" * 40}, "secret"),
        ({"secret": "sk-" + "x" * 30 + " y"}, "secret"),
    ],
)
async def test_create_key_rejects_bad_input(
    service: KeyService, options: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        await service.create_key(team_id="acme", name="ci", **options)
    assert info.value.param == param
    assert await service.list_keys() == []


async def test_create_key_in_unknown_team_is_not_found(service: KeyService) -> None:
    with pytest.raises(NotFoundError) as info:
        await service.create_key(team_id="ghost", name="ci")
    assert info.value.code == "team_not_found"


async def test_update_team_changes_named_fields_only(service: KeyService) -> None:
    updated = await service.update_team("acme", policy="strict", budgets={"hour": 7})
    assert updated["policy"] == "strict"
    assert updated["allowed_models"] == ["a", "b"]
    assert updated["budgets"]["hour"] == 7
    widened = await service.update_team("acme", allowed_models=None)
    assert widened["allowed_models"] is None
    with pytest.raises(InvalidRequestError):
        await service.update_team("acme", budgets={"hour": -5})
    assert (await service.show_team("acme"))["budgets"]["hour"] == 7


async def test_rotate_keeps_the_id_and_shows_the_new_secret(
    service: KeyService, store: MemoryKeyStore
) -> None:
    created = await service.create_key(team_id="acme", name="ci")
    rotated = await service.rotate_key(created["id"], grace_s=60)
    assert rotated["id"] == created["id"]
    assert rotated["secret"] != created["secret"]
    assert rotated["replayed"] is False
    assert rotated["previous_secret_valid_until"] == "2027-01-15T08:01:00Z"
    await assert_no_hashes(store, rotated)


async def test_a_retried_rotation_with_a_generated_secret_is_not_applied_twice(
    service: KeyService, store: MemoryKeyStore
) -> None:
    created = await service.create_key(team_id="acme", name="ci")
    first = await service.rotate_key(created["id"], rotation_id="rot-1")
    retry = await service.rotate_key(created["id"], rotation_id="rot-1")
    assert retry["replayed"] is True
    assert "secret" not in retry
    auth = StoreAuthenticator(store, HASHER, lambda: T0)
    assert (await auth.authenticate(first["secret"])).key_id == created["id"]


async def test_a_retried_rotation_with_a_supplied_secret_is_recoverable(
    service: KeyService,
) -> None:
    created = await service.create_key(team_id="acme", name="ci")
    secret = "sk-" + "r" * 40
    first = await service.rotate_key(created["id"], rotation_id="rot-1", secret=secret)
    retry = await service.rotate_key(created["id"], rotation_id="rot-1", secret=secret)
    assert first["replayed"] is False
    assert retry["replayed"] is True
    with pytest.raises(ConflictError) as info:
        await service.rotate_key(created["id"], rotation_id="rot-1", secret="sk-" + "q" * 40)
    assert info.value.status == 409
    assert info.value.param == "rotation_id"


@pytest.mark.parametrize("grace_s", [-1, 31 * 86400])
async def test_rotate_rejects_a_bad_grace(service: KeyService, grace_s: float) -> None:
    created = await service.create_key(team_id="acme", name="ci")
    with pytest.raises(InvalidRequestError) as info:
        await service.rotate_key(created["id"], grace_s=grace_s)
    assert info.value.param == "grace_period"


async def test_revoked_keys_cannot_be_rotated(service: KeyService) -> None:
    created = await service.create_key(team_id="acme", name="ci")
    revoked = await service.revoke_key(created["id"])
    assert revoked["status"] == "revoked"
    assert revoked["revoked_at"] == "2027-01-15T08:00:00Z"
    with pytest.raises(KeyRevokedError):
        await service.rotate_key(created["id"])


async def test_unknown_keys_are_not_found(service: KeyService) -> None:
    for call in (service.show_key("key_x"), service.revoke_key("key_x")):
        with pytest.raises(NotFoundError) as info:
            await call
        assert info.value.code == "key_not_found"


async def test_hashing_needs_the_secret_but_reading_does_not(store: MemoryKeyStore) -> None:
    await KeyService(store, HASHER, lambda: T0).create_team(team_id="acme", name="Acme")
    readonly = KeyService(store)
    assert [t["id"] for t in await readonly.list_teams()] == ["acme"]
    with pytest.raises(HashSecretError, match="GATEWAY_KEY_HASH_SECRET"):
        await readonly.create_key(team_id="acme", name="ci")


async def test_demo_key_is_fixed_and_idempotent(store: MemoryKeyStore) -> None:
    service = KeyService(store, HASHER, lambda: T0)
    first = await service.ensure_demo_key()
    second = await service.ensure_demo_key()
    assert first["id"] == second["id"] == DEMO_KEY_ID
    assert first["secret"] == DEMO_SECRET
    assert len(await service.list_keys()) == 1
    principal = await StoreAuthenticator(store, HASHER, lambda: T0).authenticate(DEMO_SECRET)
    assert principal.key_id == DEMO_KEY_ID


# -- policy names ---------------------------------------------------------------------------


def known(*names: str) -> Callable[[], frozenset[str]]:
    return lambda: frozenset({"default", *names})


async def test_unknown_policy_names_are_refused_naming_the_field(store: MemoryKeyStore) -> None:
    service = KeyService(store, HASHER, lambda: T0, known_policies=known("strict"))
    await service.create_team(team_id="acme", name="Acme", policy="strict")
    refusals = [
        service.create_team(team_id="other", name="Other", policy="strcit"),
        service.update_team("acme", policy="strcit"),
        service.create_key(team_id="acme", name="ci", policy="strcit"),
    ]
    for call in refusals:
        with pytest.raises(InvalidRequestError) as info:
            await call
        assert (info.value.status, info.value.param) == (400, "policy")
        assert info.value.code == "unknown_policy"
        assert "'strcit'" in info.value.message
        assert "known: default, strict" in info.value.message
    assert [t["id"] for t in await service.list_teams()] == ["acme"]
    assert (await service.show_team("acme"))["policy"] == "strict"
    assert await service.list_keys() == []
    key = await service.create_key(team_id="acme", name="ci", policy="strict")
    assert key["policy"] == "strict"


async def test_known_names_are_read_at_each_call(store: MemoryKeyStore) -> None:
    names = {"default"}
    service = KeyService(store, HASHER, known_policies=lambda: frozenset(names))
    with pytest.raises(InvalidRequestError):
        await service.create_team(team_id="acme", name="Acme", policy="strict")
    names.add("strict")  # a reload defined it
    assert (await service.create_team(team_id="acme", name="Acme", policy="strict"))["policy"] == (
        "strict"
    )


async def test_default_needs_no_lookup(store: MemoryKeyStore) -> None:
    def unavailable() -> frozenset[str]:
        raise AssertionError("looked up")

    service = KeyService(store, HASHER, known_policies=unavailable)
    await service.create_team(team_id="acme", name="Acme")
    await service.update_team("acme", policy="default")
    await service.create_key(team_id="acme", name="ci", policy="default")
    await service.create_key(team_id="acme", name="inherits")


async def test_a_long_list_of_known_names_is_cut(store: MemoryKeyStore) -> None:
    service = KeyService(store, HASHER, known_policies=known(*(f"p{i:02}" for i in range(40))))
    with pytest.raises(InvalidRequestError) as info:
        await service.create_team(name="Acme", policy="nope")
    assert info.value.message.count(", ") == 20  # 20 names, then "…"
    assert info.value.message.endswith(
        "…); add its file to the gateway's policy directory and reload the gateway first."
    )
