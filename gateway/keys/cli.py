"""``gateway teams …`` and ``gateway keys …``: team and key administration against Redis.

The store is the one named by GATEWAY_REDIS_URL (keys under GATEWAY_KEY_NAMESPACE, default
``gw:k``); creating and rotating keys also need GATEWAY_KEY_HASH_SECRET. A policy named
with ``--policy`` must be defined in GATEWAY_POLICY_DIR (the gateway's policy directory),
or be ``default`` when that is unset, as for the gateway itself. Every command takes
``--json`` for scripts. Exit status: 0 done, 1 refused (not found, conflict, invalid,
unknown policy, store unreachable), 2 bad usage or configuration (including a policy
directory that does not load).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gateway.errors import GatewayError
from gateway.keys.cli_args import add_commands, budgets_from, expires_at_from
from gateway.keys.cli_output import render
from gateway.keys.errors import KeyStoreUnavailableError
from gateway.keys.hashing import HashSecretError, KeyHasher
from gateway.keys.redis_store import DEFAULT_NAMESPACE, RedisKeyStore
from gateway.keys.service import KeyService

REDIS_URL_ENV = "GATEWAY_REDIS_URL"
NAMESPACE_ENV = "GATEWAY_KEY_NAMESPACE"
POLICY_DIR_ENV = "GATEWAY_POLICY_DIR"

__all__ = ["add_commands", "main", "parse", "run"]


class UsageError(ValueError):
    """A command line or environment problem (exit status 2)."""


def run(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    """Execute a parsed ``teams``/``keys`` command; returns the exit status."""
    env = os.environ if environ is None else environ
    try:
        return asyncio.run(_run(args, env))
    except UsageError as exc:
        _fail(args, f"gateway: {exc}")
        return 2


async def _run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    url = env.get(REDIS_URL_ENV, "")
    if not url:
        raise UsageError(f"{REDIS_URL_ENV} is not set: it names the Redis that holds keys")
    try:
        store = RedisKeyStore.from_url(url, namespace=env.get(NAMESPACE_ENV) or DEFAULT_NAMESPACE)
    except ValueError as exc:
        raise UsageError(f"{REDIS_URL_ENV} is not a valid Redis URL: {exc}") from None
    try:
        service = KeyService(store, _hasher(args, env), known_policies=_policy_names(env))
        result = await _execute(service, args)
    except KeyStoreUnavailableError as exc:
        _fail(args, f"gateway: cannot reach the key store at {_redacted(url)}", exc)
        return 1
    except HashSecretError as exc:
        raise UsageError(str(exc)) from None
    except GatewayError as exc:
        _fail(args, f"gateway: {exc.message}", exc)
        return 1
    finally:
        await store.close()
    _print(args, result)
    return 0


def _policy_names(env: Mapping[str, str]) -> Callable[[], frozenset[str]]:
    """The policy names the gateway knows, loaded only when a command sets a policy."""
    directory = env.get(POLICY_DIR_ENV) or None

    def load() -> frozenset[str]:
        # Imported here: the policy engine is not needed by commands that set no policy.
        from gateway.policy.files import PolicyLoadError
        from gateway.policy.registry import policy_names

        try:
            return policy_names(None if directory is None else Path(directory))
        except (PolicyLoadError, OSError) as exc:
            raise UsageError(
                f"{POLICY_DIR_ENV}: the policies in {directory} do not load, so a policy "
                f"name cannot be checked (run `gateway policies check {directory}`):\n{exc}"
            ) from None

    return load


def _hasher(args: argparse.Namespace, env: Mapping[str, str]) -> KeyHasher | None:
    # Only commands that hash a secret need (and check) the hashing secret.
    if args.command == "keys" and args.action in ("create", "rotate"):
        return KeyHasher.from_environ(env)
    return None


async def _execute(service: KeyService, args: argparse.Namespace) -> Any:
    if args.command == "teams":
        if args.action == "create":
            return await service.create_team(
                name=args.name,
                team_id=args.id,
                allowed_models=args.models,
                policy=args.policy or "default",
                budgets=budgets_from(args),
            )
        if args.action == "list":
            return await service.list_teams()
        if args.action == "show":
            return await service.show_team(args.team_id)
        return await service.update_team(args.team_id, **_team_changes(args))
    if args.action == "create":
        if args.demo:
            return await service.ensure_demo_key()
        if not args.team or not args.name:
            raise UsageError("keys create needs --team and --name (or --demo)")
        return await service.create_key(
            team_id=args.team,
            name=args.name,
            allowed_models=args.models,
            policy=args.policy,
            metadata=dict(args.meta),
            budgets=budgets_from(args),
            rpm=args.rpm,
            tpm=args.tpm,
            expires_at=expires_at_from(args),
            secret=_stdin_secret() if args.secret_stdin else None,
        )
    if args.action == "list":
        return await service.list_keys(args.team)
    if args.action == "show":
        return await service.show_key(args.key_id)
    if args.action == "revoke":
        return await service.revoke_key(args.key_id)
    return await service.rotate_key(
        args.key_id,
        grace_s=args.grace or 0.0,
        rotation_id=args.rotation_id,
        secret=_stdin_secret() if args.secret_stdin else None,
    )


def _team_changes(args: argparse.Namespace) -> dict[str, Any]:
    changes: dict[str, Any] = {"budgets": budgets_from(args)}
    if args.name is not None:
        changes["name"] = args.name
    if args.policy is not None:
        changes["policy"] = args.policy
    if args.all_models:
        changes["allowed_models"] = None
    elif args.models is not None:
        changes["allowed_models"] = args.models
    return changes


def _stdin_secret() -> str:
    # From stdin, not argv: command lines end up in shell history and process listings.
    return sys.stdin.readline().strip()


def _print(args: argparse.Namespace, result: Any) -> None:
    if args.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    sys.stdout.write(render(args.command, args.action, result))


def _fail(args: argparse.Namespace, message: str, error: GatewayError | None = None) -> None:
    if getattr(args, "json", False) and error is not None:
        sys.stdout.write(json.dumps(error.to_dict()) + "\n")
    cause = error.__cause__ if error is not None else None
    sys.stderr.write(message + (f" ({cause})" if cause is not None else "") + "\n")


def _redacted(url: str) -> str:
    # Never echo a password embedded in the URL.
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """Parse ``teams …``/``keys …`` on their own (``python -m gateway.keys.cli``, tests)."""
    parser = argparse.ArgumentParser(prog="gateway")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return run(parse(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    raise SystemExit(main())
