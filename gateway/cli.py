"""The ``gateway`` command: serve, emulator, teams, keys, policies."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gateway.settings import SettingsError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gateway", description="OpenAI-compatible Bedrock gateway"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--host", help="bind address (GATEWAY_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (GATEWAY_PORT, default 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (GATEWAY_WORKERS, default 1)")
    serve.add_argument("--config", help="YAML configuration file (GATEWAY_CONFIG)")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="embedded defaults: the bundled Bedrock emulator in-process, in-memory state",
    )
    serve.add_argument("--server", choices=("uvicorn", "granian"), default="uvicorn")

    emu = sub.add_parser("emulator", help="run the bundled Bedrock Runtime emulator")
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=int, default=8001)

    from gateway.keys.cli_args import add_commands
    from gateway.policy.cli import add_commands as add_policy_commands

    add_commands(sub)
    add_policy_commands(sub)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from gateway.keys.service import DEMO_SECRET
    from gateway.server import export_to_environ, serve

    flags: dict[str, str] = {}
    if args.host:
        flags["GATEWAY_HOST"] = args.host
    if args.port:
        flags["GATEWAY_PORT"] = str(args.port)
    if args.workers:
        flags["GATEWAY_WORKERS"] = str(args.workers)
    if args.config:
        flags["GATEWAY_CONFIG"] = args.config
    if args.demo:
        flags["GATEWAY_DEMO"] = "true"
    export_to_environ(flags)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    from gateway.metrics_multiproc import prepare_multiprocess_dir

    # Before any worker imports prometheus_client: several workers share one metrics dir.
    export_to_environ(prepare_multiprocess_dir(settings.server.workers))
    base = f"http://{settings.server.host}:{settings.server.port}/v1"
    if settings.demo:
        print(
            "bedrock-gateway demo: the bundled Bedrock emulator answers in place of AWS.\n"
            f"  base_url = {base}\n"
            f"  api_key  = {DEMO_SECRET}\n"
            f"  model    = claude-3-haiku",
            flush=True,
        )
    else:
        print(f"bedrock-gateway listening on {base}", flush=True)
    serve(settings, server=args.server)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "emulator":
        from gateway.emulator.server import run

        run(args.host, args.port)
        return 0
    if args.command == "policies":
        from gateway.policy.cli import run as run_policies

        return run_policies(args)
    if args.command in ("teams", "keys"):
        from gateway.keys.cli import run as run_admin

        return run_admin(args)
    return 2
