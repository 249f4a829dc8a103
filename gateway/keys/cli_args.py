"""The argparse trees of ``gateway teams`` and ``gateway keys``, and their value parsers."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from gateway.keys.models import BUDGET_WINDOWS

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}

if TYPE_CHECKING:
    # Generic only in the stubs; at run time the class cannot be subscripted.
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def add_commands(subparsers: Subparsers) -> None:
    """Register ``teams`` and ``keys`` (each with its actions) on the ``gateway`` parser."""
    teams = subparsers.add_parser("teams", help="create, list, show and update teams")
    team_actions = teams.add_subparsers(dest="action", required=True)

    create = _leaf(team_actions, "create", "create a team")
    create.add_argument("--id", help="team id (a-z, 0-9, '_', '-'); default: generated team_…")
    create.add_argument("--name", required=True)
    _access_options(create)
    _budget_options(create)

    _leaf(team_actions, "list", "list teams")
    _leaf(team_actions, "show", "show one team").add_argument("team_id")

    update = _leaf(team_actions, "update", "change a team (unnamed fields stay as they are)")
    update.add_argument("team_id")
    update.add_argument("--name")
    _access_options(update)
    update.add_argument("--all-models", action="store_true", help="allow every routed model")
    _budget_options(update, removable=True)

    keys = subparsers.add_parser("keys", help="create, list, show, revoke and rotate API keys")
    key_actions = keys.add_subparsers(dest="action", required=True)

    create = _leaf(key_actions, "create", "create a key; its secret is shown once")
    create.add_argument("--team", help="the team the key belongs to")
    create.add_argument("--name")
    _access_options(create)
    expiry = create.add_mutually_exclusive_group()
    expiry.add_argument("--expires-in", type=duration_s, help="e.g. 3600, 90m, 12h, 30d")
    expiry.add_argument("--expires-at", type=_timestamp, help="ISO 8601 time (UTC if no zone)")
    create.add_argument(
        "--meta",
        action="append",
        type=_pair,
        default=[],
        metavar="KEY=VALUE",
        help="free-form metadata (repeatable)",
    )
    _budget_options(create)
    create.add_argument("--rpm", type=int, help="requests per minute for this key")
    create.add_argument("--tpm", type=int, help="tokens per minute for this key")
    create.add_argument(
        "--secret-stdin", action="store_true", help="read the secret from stdin (migrations)"
    )
    create.add_argument(
        "--demo",
        action="store_true",
        help="ensure the fixed demo team and key exist (local trials only: the secret is public)",
    )

    _leaf(key_actions, "list", "list keys").add_argument("--team", help="only this team's keys")
    _leaf(key_actions, "show", "show one key").add_argument("key_id")
    _leaf(key_actions, "revoke", "revoke a key at once").add_argument("key_id")

    rotate = _leaf(key_actions, "rotate", "new secret for the same key id; shown once")
    rotate.add_argument("key_id")
    rotate.add_argument(
        "--grace", type=duration_s, help="keep the old secret working this long (e.g. 1h)"
    )
    rotate.add_argument(
        "--rotation-id", help="idempotency id: a retried rotation with it is not applied twice"
    )
    rotate.add_argument(
        "--secret-stdin", action="store_true", help="read the new secret from stdin"
    )


def budgets_from(args: argparse.Namespace) -> dict[str, int | None]:
    """The budget windows named on the command line (``none`` removes one on update)."""
    budgets: dict[str, int | None] = {}
    for window in BUDGET_WINDOWS:
        value = getattr(args, f"budget_{window}", None)
        if value is not None:
            budgets[window] = None if value == "none" else int(value)
    return budgets


def expires_at_from(args: argparse.Namespace) -> float | None:
    if args.expires_at is not None:
        return float(args.expires_at)
    if args.expires_in is not None:
        return datetime.now(UTC).timestamp() + float(args.expires_in)
    return None


def duration_s(text: str) -> float:
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 3600, 90m, 12h, 30d)")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def _timestamp(text: str) -> float:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _models(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _amount(text: str) -> str:
    if text == "none" or text.isdigit():
        return text
    raise argparse.ArgumentTypeError(f"expected a whole number of tokens or 'none', got {text!r}")


def _leaf(actions: Subparsers, name: str, help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = actions.add_parser(name, help=help_text)
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    return parser


def _access_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models", type=_models, help="comma-separated model names (default: the team's / all)"
    )
    parser.add_argument(
        "--policy",
        help="policy name, defined in GATEWAY_POLICY_DIR or 'default' "
        "(default: the team's / 'default')",
    )


def _budget_options(parser: argparse.ArgumentParser, *, removable: bool = False) -> None:
    for window in BUDGET_WINDOWS:
        parser.add_argument(
            f"--budget-{window}",
            type=_amount,
            metavar="TOKENS" + ("|none" if removable else ""),
            help=f"token budget per {window} (fixed UTC window)",
        )
