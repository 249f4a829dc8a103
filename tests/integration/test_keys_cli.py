"""``gateway teams``/``gateway keys`` as real processes against a real Redis, parsed via --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import AuthenticationError
from gateway.keys.authenticator import StoreAuthenticator
from gateway.keys.hashing import KeyHasher
from gateway.keys.redis_store import RedisKeyStore
from gateway.keys.service import DEMO_KEY_ID, DEMO_SECRET
from tests.fixtures.processes import ROOT, free_port

pytestmark = pytest.mark.integration

HASH_SECRET = "cli-test-hash-secret-0123456789abcdef"


class Cli:
    def __init__(self, redis_url: str, namespace: str) -> None:
        self.env = {
            # The built-in policy set unless a test names a policy directory.
            **{k: v for k, v in os.environ.items() if k != "GATEWAY_POLICY_DIR"},
            "GATEWAY_REDIS_URL": redis_url,
            "GATEWAY_KEY_NAMESPACE": namespace,
            "GATEWAY_KEY_HASH_SECRET": HASH_SECRET,
        }
        self.redis_url = redis_url
        self.namespace = namespace

    def run(
        self, *args: str, stdin: str = "", env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gateway.keys.cli", *args],
            cwd=ROOT,
            env=env if env is not None else self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def json(self, *args: str, stdin: str = "") -> Any:
        done = self.run(*args, "--json", stdin=stdin)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def authenticator(self) -> tuple[StoreAuthenticator, RedisKeyStore]:
        store = RedisKeyStore.from_url(self.redis_url, namespace=self.namespace)
        hasher = KeyHasher(HASH_SECRET.encode())
        return StoreAuthenticator(store, hasher, cache_ttl_s=0), store


@pytest.fixture
def cli(redis_url: str, redis_namespace: str) -> Cli:
    return Cli(redis_url, redis_namespace)


async def test_team_and_key_lifecycle(cli: Cli) -> None:
    team = cli.json("teams", "create", "--id", "acme", "--name", "Acme", "--models", "a,b")
    assert team["id"] == "acme"
    assert team["allowed_models"] == ["a", "b"]
    assert [t["id"] for t in cli.json("teams", "list")] == ["acme"]

    created = cli.json(
        "keys", "create", "--team", "acme", "--name", "ci",
        "--meta", "env=ci", "--rpm", "60", "--budget-day", "5000", "--expires-in", "30d",
    )  # fmt: skip
    assert set(created) >= {"id", "secret"}
    assert created["rpm"] == 60
    assert created["budgets"]["day"] == 5000
    assert created["metadata"] == {"env": "ci"}
    assert created["expires_at"] is not None

    auth, store = cli.authenticator()
    try:
        principal = await auth.authenticate(created["secret"])
        assert (principal.key_id, principal.team_id) == (created["id"], "acme")
        assert principal.allowed_models == frozenset({"a", "b"})

        rotated = cli.json("keys", "rotate", created["id"], "--grace", "1h")
        assert rotated["id"] == created["id"]
        assert rotated["previous_secret_valid_until"] is not None
        for secret in (created["secret"], rotated["secret"]):
            assert (await auth.authenticate(secret)).key_id == created["id"]

        revoked = cli.json("keys", "revoke", created["id"])
        assert revoked["status"] == "revoked"
        for secret in (created["secret"], rotated["secret"]):
            with pytest.raises(AuthenticationError):
                await auth.authenticate(secret)
    finally:
        await store.close()

    shown = cli.json("keys", "show", created["id"])
    assert shown["status"] == "revoked"
    assert "secret" not in shown
    assert [k["id"] for k in cli.json("keys", "list", "--team", "acme")] == [created["id"]]


def test_team_update_clears_and_sets(cli: Cli) -> None:
    cli.json(
        "teams", "create", "--id", "acme", "--name", "Acme", "--models", "a", "--budget-day", "9"
    )
    updated = cli.json(
        "teams", "update", "acme", "--all-models", "--budget-day", "none", "--budget-hour", "3"
    )
    assert updated["allowed_models"] is None
    assert updated["budgets"] == {"minute": None, "hour": 3, "day": None, "month": None}
    assert cli.json("teams", "show", "acme") == updated


def test_rotation_with_a_supplied_secret_is_idempotent(cli: Cli) -> None:
    cli.json("teams", "create", "--id", "acme", "--name", "Acme")
    key_id = cli.json("keys", "create", "--team", "acme", "--name", "ci")["id"]
    secret = "sk-" + "s" * 40 + "\n"
    args = ("keys", "rotate", key_id, "--rotation-id", "r-1", "--secret-stdin")
    first = cli.json(*args, stdin=secret)
    retry = cli.json(*args, stdin=secret)
    assert (first["replayed"], retry["replayed"]) == (False, True)
    assert first["secret"] == secret.strip()
    conflict = cli.run(*args, "--json", stdin="sk-" + "t" * 40)
    assert conflict.returncode == 1
    assert json.loads(conflict.stdout)["error"]["code"] == "conflict"


def test_demo_key_is_kept_fixed(cli: Cli) -> None:
    first = cli.json("keys", "create", "--demo")
    second = cli.json("keys", "create", "--demo")
    assert first["id"] == second["id"] == DEMO_KEY_ID
    assert first["secret"] == second["secret"] == DEMO_SECRET
    assert [k["id"] for k in cli.json("keys", "list")] == [DEMO_KEY_ID]


def test_human_output(cli: Cli) -> None:
    cli.json("teams", "create", "--id", "acme", "--name", "Acme")
    created = cli.run("keys", "create", "--team", "acme", "--name", "ci")
    assert created.returncode == 0, created.stderr
    assert "shown once" in created.stdout
    listing = cli.run("keys", "list")
    header, row = listing.stdout.splitlines()
    assert header.split()[:4] == ["ID", "TEAM_ID", "NAME", "STATUS"]
    assert row.split()[1:4] == ["acme", "ci", "active"]


def test_unknown_records_exit_1_with_a_json_error(cli: Cli) -> None:
    done = cli.run("teams", "show", "ghost", "--json")
    assert done.returncode == 1
    error = json.loads(done.stdout)["error"]
    assert (error["code"], error["param"]) == ("team_not_found", "team_id")
    assert "ghost" in done.stderr


@pytest.mark.parametrize(
    ("drop", "set_", "args", "message"),
    [
        ("GATEWAY_REDIS_URL", {}, ("keys", "list"), "GATEWAY_REDIS_URL is not set"),
        ("GATEWAY_KEY_HASH_SECRET", {}, ("keys", "create", "--demo"), "GATEWAY_KEY_HASH_SECRET"),
        (None, {"GATEWAY_REDIS_URL": "http://x"}, ("keys", "list"), "not a valid Redis URL"),
    ],
)
def test_configuration_problems_exit_2(
    cli: Cli, drop: str | None, set_: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    env = {k: v for k, v in cli.env.items() if k != drop} | set_
    done = cli.run(*args, env=env)
    assert done.returncode == 2
    assert message in done.stderr


def test_unreachable_redis_exits_1_without_leaking_the_password(cli: Cli) -> None:
    url = f"redis://admin:hunter2-password@127.0.0.1:{free_port()}/0"
    done = cli.run("keys", "list", env={**cli.env, "GATEWAY_REDIS_URL": url})
    assert done.returncode == 1
    assert "cannot reach the key store at redis://127.0.0.1:" in done.stderr
    assert "hunter2" not in done.stderr + done.stdout


def test_policy_names_must_be_known_to_the_gateway(cli: Cli) -> None:
    # No GATEWAY_POLICY_DIR: like the gateway, only the built-in "default" exists.
    refused = cli.run(
        "teams", "create", "--id", "acme", "--name", "Acme", "--policy", "strict", "--json"
    )
    assert refused.returncode == 1
    error = json.loads(refused.stdout)["error"]
    assert (error["param"], error["code"]) == ("policy", "unknown_policy")
    assert "known: default)" in refused.stderr
    assert cli.json("teams", "list") == []

    shipped = {**cli.env, "GATEWAY_POLICY_DIR": str(ROOT / "policies")}
    done = cli.run(
        "teams",
        "create",
        "--id",
        "acme",
        "--name",
        "Acme",
        "--policy",
        "strict",
        "--json",
        env=shipped,
    )
    assert done.returncode == 0, done.stderr
    key = cli.run(
        "keys",
        "create",
        "--team",
        "acme",
        "--name",
        "ci",
        "--policy",
        "pseudonymize",
        "--json",
        env=shipped,
    )
    assert json.loads(key.stdout)["policy"] == "pseudonymize"
    for args in (
        ("teams", "update", "acme", "--policy", "strcit"),
        ("keys", "create", "--team", "acme", "--name", "ci2", "--policy", "strcit"),
    ):
        done = cli.run(*args, "--json", env=shipped)
        assert done.returncode == 1
        assert json.loads(done.stdout)["error"]["param"] == "policy"
        assert "known: default, guardrail-only, pseudonymize, strict)" in done.stderr
    assert cli.json("teams", "show", "acme")["policy"] == "strict"
    assert len(cli.json("keys", "list")) == 1


def test_a_policy_directory_that_does_not_load_refuses_only_policy_changes(
    cli: Cli, tmp_path: Path
) -> None:
    (tmp_path / "default.yaml").write_text("version: 1\n")
    (tmp_path / "strict.yaml").write_text("version: 1\npii: {input: maybe}\n")
    broken = {**cli.env, "GATEWAY_POLICY_DIR": str(tmp_path)}
    done = cli.run(
        "teams", "create", "--id", "acme", "--name", "Acme", "--policy", "strict", env=broken
    )
    assert done.returncode == 2
    assert f"the policies in {tmp_path} do not load" in done.stderr
    assert "strict.yaml:2: pii.input" in done.stderr
    # Commands that set no policy (or "default", which every gateway has) still work.
    for args in (("teams", "create", "--id", "acme", "--name", "Acme"), ("teams", "list")):
        assert cli.run(*args, env=broken).returncode == 0
