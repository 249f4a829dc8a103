"""``gateway policies check FILE|DIR…``: validate policy files before a reload or a rollout."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import msgspec

from gateway.policy.files import PolicyFileError, check_directory, check_file

if TYPE_CHECKING:
    # Generic only in the stubs; at run time the class cannot be subscripted.
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

# The hash action needs the gateway's secret key, which a check has no business reading;
# a stand-in lets the rest of such a file be checked. The server still refuses to start if
# a policy uses hash and no key is configured.
_CHECK_HASH_KEY = b"policy-check"


class _ErrorOut(msgspec.Struct):
    path: str
    line: int | None
    field: str
    message: str


class _Report(msgspec.Struct):
    ok: bool
    policies: list[str]
    errors: list[_ErrorOut]


def add_commands(subparsers: Subparsers) -> None:
    """Register ``policies check`` on the ``gateway`` parser."""
    policies = subparsers.add_parser("policies", help="work with policy files")
    actions = policies.add_subparsers(dest="action", required=True)
    check = actions.add_parser(
        "check",
        help="validate policy files",
        description="Validate policy files. A directory is checked as a whole, as the "
        "gateway loads it: unique names and a default policy are required.",
    )
    check.add_argument("paths", nargs="+", type=Path, metavar="FILE", help="file or directory")
    check.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``policies check``: 0 when everything is valid, 1 otherwise."""
    out = sys.stdout if out is None else out
    names: list[str] = []
    errors: list[PolicyFileError] = []
    for path in args.paths:
        if path.is_dir():
            policies, found = check_directory(path, hash_key=_CHECK_HASH_KEY)
            names.extend(policies)
        else:
            policy, found = check_file(path, hash_key=_CHECK_HASH_KEY)
            names.extend([policy.name] if policy is not None else [])
        errors.extend(found)
    if args.json:
        report = _Report(
            ok=not errors,
            policies=names,
            errors=[_ErrorOut(str(e.path), e.line, e.field, e.message) for e in errors],
        )
        out.write(msgspec.json.encode(report).decode() + "\n")
    else:
        out.writelines(f"{error}\n" for error in errors)
        if not errors:
            out.write(f"ok: {len(names)} policies\n")
    return 1 if errors else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gateway")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(["policies", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":
    sys.exit(main())
