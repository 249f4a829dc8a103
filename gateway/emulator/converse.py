"""Converse and ConverseStream: request → (cached) plan → JSON body or event stream."""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import msgspec

from gateway.emulator import behaviour, responses, stream, validation, wire
from gateway.emulator.directives import MARK_BYTES, NONE, DirectiveError, Directives
from gateway.emulator.guardrail import converse_trace
from gateway.emulator.handlers import Reply, error_reply, error_shape, knobs_from, pacing, record
from gateway.emulator.pacer import Pacer
from gateway.emulator.protocol import Request
from gateway.emulator.shapes import ConverseRequest, converse_decoder
from gateway.emulator.state import Settings, State

# Benchmarks send one body again and again; what it plans to is kept for bodies up to this
# size, in a small FIFO cache. Everything cached is a pure function of (body, settings).
CACHE_BODY_LIMIT = 64 * 1024
CACHE_ENTRIES = 256


class Prepared(NamedTuple):
    """A request decoded, validated and planned under ``settings``."""

    settings: Settings
    invalid: str | None  # the ValidationException message, when Bedrock would refuse it
    knobs: Directives
    plan: behaviour.Plan | None
    pacing: stream.Pacing | None
    trace: dict[str, Any] | None
    delay_ms: float  # how long a plain Converse waits before answering


def _trace(body: ConverseRequest, plan: behaviour.Plan) -> dict[str, Any] | None:
    config = body.guardrailConfig
    if plan.verdict is None or config is None or config.trace not in ("enabled", "enabled_full"):
        return None
    return converse_trace(config.guardrailIdentifier, plan.verdict, plan.model_output)


def prepare(settings: Settings, raw: bytes) -> Prepared:
    """Everything about a reply that depends only on the body and the settings."""
    try:
        body = converse_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        return Prepared(settings, f"Malformed request: {exc}", NONE, None, None, None, 0.0)
    problem = validation.problem(body)
    if problem is not None:
        return Prepared(settings, problem, NONE, None, None, None, 0.0)
    # Directive parsing only runs for the bodies that can hold one.
    has_directives = MARK_BYTES in raw
    try:
        knobs = knobs_from(behaviour.directive_texts(body), has_directives)
    except DirectiveError as exc:
        return Prepared(settings, str(exc), NONE, None, None, None, 0.0)
    plan = behaviour.plan(body, knobs, settings.tokens, settings.guardrail, has_directives)
    pace = pacing(settings, knobs)
    delay_ms = pace.total_ms(len(plan.pieces) if plan.tool is None else wire.TOOL_FRAGMENTS)
    return Prepared(settings, None, knobs, plan, pace, _trace(body, plan), delay_ms)


class ConverseHandler:
    """``POST /model/{modelId}/converse`` and ``.../converse-stream`` for one emulator."""

    def __init__(self, state: State, pacer: Pacer) -> None:
        self._state = state
        self._pacer = pacer
        self._cache: dict[bytes, Prepared] = {}

    def _prepared(self, raw: bytes) -> Prepared:
        settings = self._state.settings
        found = self._cache.get(raw)
        if found is not None and found.settings is settings:
            return found
        prepared = prepare(settings, raw)
        if len(raw) <= CACHE_BODY_LIMIT:
            if len(self._cache) >= CACHE_ENTRIES:
                del self._cache[next(iter(self._cache))]
            self._cache[raw] = prepared
        return prepared

    def __call__(self, request: Request, model_id: str, streaming: bool) -> Reply:
        state = self._state
        record(state, request, "ConverseStream" if streaming else "Converse", model_id)
        rid = state.request_id()
        keep = request.keep_alive
        prepared = self._prepared(request.body)
        plan, pace = prepared.plan, prepared.pacing
        if plan is None or pace is None:
            message = prepared.invalid or "invalid request"
            return responses.error("ValidationException", message, rid, keep)
        knobs, trace = prepared.knobs, prepared.trace

        shape = None if knobs is NONE else error_shape(state, knobs, streaming)
        if shape is not None:
            if not pace.before_ms:
                return error_reply(shape, rid, keep, model_id)
            return stream.delayed(pace.before_ms, lambda: error_reply(shape, rid, keep, model_id))

        started = request.started
        if streaming:
            reply = stream.StreamReply(plan, knobs, pace, rid, keep, started, trace)
            return stream.converse_stream(state, self._pacer, reply)

        def build() -> bytes:
            latency_ms = int((time.monotonic() - started) * 1000)
            body = wire.converse_body(plan, knobs, latency_ms, trace)
            return responses.response(200, body, rid, keep)

        return stream.delayed(prepared.delay_ms, build) if prepared.delay_ms else build()
