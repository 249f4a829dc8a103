"""Records, their JSON form, the shared record changes, budget limits and public views."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.budgets.model import Limit, LimitKind, Subject, check_limits
from gateway.budgets.windows import Window
from gateway.keys.errors import KeyRevokedError
from gateway.keys.hashing import SecretHash
from gateway.keys.limits import budget_limits, subject_for
from gateway.keys.models import (
    ApiKey,
    Budgets,
    Team,
    decode_key,
    decode_team,
    encode,
    new_key_id,
    new_team_id,
    valid_id,
)
from gateway.keys.store import Rotation, TeamUpdate, rehashed, revoked, rotated
from gateway.keys.views import key_view, team_view

H1, H2, H3 = "1" * 64, "2" * 64, "3" * 64


def make_key(**changes: object) -> ApiKey:
    base = ApiKey(
        id="key_a",
        team_id="acme",
        name="ci",
        secret_hash=H1,
        hash_version="v1",
        secret_hint="sk-...abcd",
        created_at=100.0,
    )
    return msgspec.structs.replace(base, **changes)


amounts = st.none() | st.integers(min_value=0, max_value=10**12)
budgets = st.builds(Budgets, minute=amounts, hour=amounts, day=amounts, month=amounts)
times = st.floats(min_value=0, max_value=4e9, allow_nan=False)
models = st.none() | st.lists(st.text(min_size=1), max_size=4).map(tuple)
hashes = st.text("0123456789abcdef", min_size=64, max_size=64)


@given(
    st.builds(
        ApiKey,
        id=st.text(min_size=1),
        team_id=st.text(min_size=1),
        name=st.text(),
        secret_hash=hashes,
        hash_version=st.text(),
        secret_hint=st.text(),
        created_at=times,
        expires_at=st.none() | times,
        revoked_at=st.none() | times,
        allowed_models=models,
        policy=st.none() | st.text(),
        metadata=st.dictionaries(st.text(), st.text(), max_size=4),
        budgets=budgets,
        rpm=amounts,
        tpm=amounts,
        previous_hash=st.none() | hashes,
        previous_expires_at=st.none() | times,
        rotated_at=st.none() | times,
        rotation_id=st.none() | st.text(),
    )
)
def test_key_json_round_trips(key: ApiKey) -> None:
    assert decode_key(encode(key)) == key


@given(
    st.builds(
        Team,
        id=st.text(min_size=1),
        name=st.text(),
        allowed_models=models,
        policy=st.text(),
        budgets=budgets,
        created_at=times,
    )
)
def test_team_json_round_trips(team: Team) -> None:
    assert decode_team(encode(team)) == team


def test_stored_records_tolerate_fields_from_newer_versions() -> None:
    # During a rolling upgrade old replicas read records written by new ones.
    data = json.loads(encode(make_key()))
    data["added_later"] = {"x": 1}
    assert decode_key(json.dumps(data)) == make_key()


@pytest.mark.parametrize(
    ("changes", "now", "status"),
    [
        ({}, 1e9, "active"),
        ({"expires_at": 200.0}, 199.9, "active"),
        ({"expires_at": 200.0}, 200.0, "expired"),
        ({"revoked_at": 150.0}, 120.0, "revoked"),
        ({"revoked_at": 150.0, "expires_at": 120.0}, 130.0, "revoked"),
    ],
)
def test_status(changes: dict[str, object], now: float, status: str) -> None:
    assert make_key(**changes).status(now) == status


@pytest.mark.parametrize(
    ("changes", "secret_hash", "now", "accepted"),
    [
        ({}, H1, 150.0, True),
        ({}, H2, 150.0, False),
        ({"previous_hash": H2, "previous_expires_at": 200.0}, H2, 199.0, True),
        ({"previous_hash": H2, "previous_expires_at": 200.0}, H2, 200.0, False),
        ({"previous_hash": H2, "previous_expires_at": 200.0}, H1, 250.0, True),
        ({"previous_hash": H2}, H2, 150.0, False),
        ({"revoked_at": 120.0}, H1, 150.0, False),
        ({"expires_at": 140.0}, H1, 150.0, False),
        ({"expires_at": 140.0, "previous_hash": H2, "previous_expires_at": 200.0}, H2, 150, False),
    ],
)
def test_accepts(changes: dict[str, object], secret_hash: str, now: float, accepted: bool) -> None:
    assert make_key(**changes).accepts(secret_hash, now) is accepted


@pytest.mark.parametrize(
    ("changes", "live"),
    [
        ({}, (H1,)),
        ({"previous_hash": H2, "previous_expires_at": 1.0}, (H1, H2)),
        ({"previous_hash": H2, "revoked_at": 1.0}, ()),
    ],
)
def test_live_hashes(changes: dict[str, object], live: tuple[str, ...]) -> None:
    assert make_key(**changes).live_hashes() == live


def test_generated_ids_are_valid_and_distinct() -> None:
    team_ids = {new_team_id() for _ in range(200)}
    key_ids = {new_key_id() for _ in range(200)}
    assert len(team_ids) == len(key_ids) == 200
    assert all(valid_id(i) and i.startswith("team_") for i in team_ids)
    assert all(valid_id(i) and i.startswith("key_") for i in key_ids)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("acme", True),
        ("team-7_x", True),
        ("a" * 64, True),
        ("a" * 65, False),
        ("", False),
        ("Acme", False),
        ("-acme", False),
        ("a:b", False),
        ("{acme}", False),
        ("a b", False),
    ],
)
def test_valid_id(value: str, ok: bool) -> None:
    assert valid_id(value) is ok


def test_team_update_touches_only_named_fields() -> None:
    team = Team(id="t", name="T", allowed_models=("a",), policy="p", budgets=Budgets(day=5))
    assert TeamUpdate().apply(team) == team
    assert TeamUpdate(name="U", budgets={"hour": 1, "day": None}).apply(team) == Team(
        id="t", name="U", allowed_models=("a",), policy="p", budgets=Budgets(hour=1)
    )
    assert TeamUpdate(allowed_models=None).apply(team).allowed_models is None
    with pytest.raises(ValueError, match="unknown budget windows"):
        TeamUpdate(budgets={"week": 1}).apply(team)


def test_rotated_without_grace() -> None:
    key = make_key(previous_hash=H3, previous_expires_at=1e12)
    new = rotated(key, Rotation(SecretHash(H2, "v2"), "sk-...wxyz", 500.0))
    assert new == make_key(
        secret_hash=H2, hash_version="v2", secret_hint="sk-...wxyz", rotated_at=500.0
    )


def test_rotated_with_grace_and_replay() -> None:
    rotation = Rotation(SecretHash(H2, "v1"), "sk-...wxyz", 500.0, grace_s=60, rotation_id="r")
    new = rotated(make_key(), rotation)
    assert new is not None
    assert (new.previous_hash, new.previous_expires_at, new.rotation_id) == (H1, 560.0, "r")
    assert rotated(new, rotation) is None
    with pytest.raises(KeyRevokedError):
        rotated(make_key(revoked_at=1.0), rotation)


def test_revoked_keeps_the_first_time() -> None:
    once = revoked(make_key(), 300.0)
    assert once.revoked_at == 300.0
    assert revoked(once, 400.0) is once


@pytest.mark.parametrize(
    ("changes", "old", "expected"),
    [
        ({}, H1, {"secret_hash": H3, "hash_version": "v2"}),
        ({"previous_hash": H2}, H2, {"previous_hash": H3}),
        ({}, H2, None),
        ({"revoked_at": 1.0}, H1, None),
    ],
)
def test_rehashed(changes: dict[str, object], old: str, expected: dict[str, object] | None) -> None:
    key = make_key(**changes)
    result = rehashed(key, old, SecretHash(H3, "v2"))
    assert result == (None if expected is None else msgspec.structs.replace(key, **expected))


def test_budget_limits_cover_key_rates_and_team_budgets() -> None:
    key = make_key(budgets=Budgets(minute=10, month=1000), rpm=5, tpm=700)
    team = Team(id="acme", name="Acme", budgets=Budgets(day=50_000))
    limits = budget_limits(key, team)
    assert limits == (
        Limit("key", "key_a", Window.MINUTE, 10),
        Limit("key", "key_a", Window.MONTH, 1000),
        Limit("key", "key_a", Window.MINUTE, 5, LimitKind.RPM),
        Limit("key", "key_a", Window.MINUTE, 700, LimitKind.TPM),
        Limit("team", "acme", Window.DAY, 50_000),
    )
    # The budget layer accepts them together for this key's subject.
    assert subject_for(key) == Subject("key_a", "acme")
    check_limits(subject_for(key), limits)


def test_no_limits_without_budgets() -> None:
    assert budget_limits(make_key(), Team(id="acme", name="Acme")) == ()


def test_views_hold_no_secret_hash() -> None:
    key = make_key(previous_hash=H2, previous_expires_at=1e10, rotated_at=1.0)
    view = key_view(key, 200.0)
    text = json.dumps(view)
    assert H1 not in text
    assert H2 not in text
    assert view["previous_secret_valid_until"] == "2286-11-20T17:46:40Z"
    assert view["status"] == "active"
    assert key_view(key, 1e10)["previous_secret_valid_until"] is None
    team = team_view(Team(id="t", name="T", created_at=0.0))
    assert team["created_at"] == "1970-01-01T00:00:00Z"
    assert team["budgets"] == {"minute": None, "hour": None, "day": None, "month": None}
