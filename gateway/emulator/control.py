"""The ``/_emulator/*`` control API: config, reset, health, request log and stats."""

from __future__ import annotations

from dataclasses import asdict

import msgspec

from gateway.emulator import responses
from gateway.emulator.protocol import Request
from gateway.emulator.state import ConfigUpdate, State

_config_decoder = msgspec.json.Decoder(ConfigUpdate)


def handle(state: State, request: Request, name: str) -> bytes:
    """Answer ``<method> /_emulator/<name>``."""
    method = request.method
    rid = state.request_id()
    keep = request.keep_alive

    def ok(body: object) -> bytes:
        return responses.response(200, msgspec.json.encode(body), rid, keep)

    if name == "health" and method in (b"GET", b"HEAD"):
        return ok({"status": "ok"})
    if name == "config" and method == b"POST":
        try:
            update = _config_decoder.decode(request.body or b"{}")
        except msgspec.DecodeError as exc:
            return responses.error("ValidationException", f"bad config: {exc}", rid, keep)
        state.settings = state.settings.updated(update)
        return ok(state.settings.as_json())
    if name == "config" and method == b"GET":
        return ok(state.settings.as_json())
    if name == "reset" and method == b"POST":
        state.reset()
        return ok(state.settings.as_json())
    if name == "requests" and method == b"GET":
        return ok(state.log_json())
    if name == "requests" and method == b"DELETE":
        state.log.clear()
        return ok({"cleared": True})
    if name == "stats" and method == b"GET":
        return ok(asdict(state.stats))
    return responses.error(
        "ResourceNotFoundException", f"no control endpoint {method.decode()} {name}", rid, keep
    )
