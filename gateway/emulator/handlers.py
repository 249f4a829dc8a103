"""What every Bedrock operation shares (logging, directive errors, pacing), and ApplyGuardrail."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from gateway.emulator import directives as emu_directives
from gateway.emulator import responses, stream
from gateway.emulator.directives import MARK_BYTES, DirectiveError, Directives
from gateway.emulator.guardrail import apply_guardrail_response
from gateway.emulator.protocol import AsyncResponder, Request
from gateway.emulator.shapes import ERROR_STATUS, STREAM_EXCEPTIONS, apply_guardrail_decoder
from gateway.emulator.state import Recorded, Settings, State

Reply = bytes | AsyncResponder


def record(state: State, request: Request, operation: str, model_id: str | None) -> None:
    """Count the request and, unless switched off, keep it (raw) in the request log."""
    state.stats.requests += 1
    if state.settings.record:
        state.log.append(Recorded(operation, model_id, request.path, request.headers, request.body))


def knobs_from(texts: Iterable[str], has_directives: bool) -> Directives:
    """The validated directives in ``texts`` (raises DirectiveError for a bad one)."""
    if not has_directives:
        return emu_directives.NONE
    knobs = emu_directives.parse(texts)
    if knobs.stream_error is not None and knobs.stream_error not in STREAM_EXCEPTIONS:
        raise DirectiveError(
            f"stream_error must be one of {sorted(STREAM_EXCEPTIONS)}, not {knobs.stream_error!r}"
        )
    if knobs.error is not None and knobs.error not in ERROR_STATUS:
        raise DirectiveError(f"error must be one of {sorted(ERROR_STATUS)}, not {knobs.error!r}")
    return knobs


def error_shape(state: State, knobs: Directives, streaming: bool) -> str | None:
    """The HTTP error this request fails with, if any; counts ``error_times`` requests."""
    shape = knobs.error
    if knobs.error_times is not None:
        failing = state.should_fail(knobs.error_key, knobs.error_times)
        shape = (shape or "ThrottlingException") if failing else None
    if shape is None and not streaming and knobs.stream_error is not None:
        # A plain Converse has no event stream: the stream exception becomes its HTTP twin.
        shape = STREAM_EXCEPTIONS[knobs.stream_error]
    return shape


def error_reply(shape: str, request_id: bytes, keep_alive: bool, model_id: str | None) -> bytes:
    """The HTTP error response for a shape, with the extra members its shape models."""
    extra: dict[str, object] | None = None
    if shape == "ModelErrorException":
        extra = {"originalStatusCode": 500, "resourceName": model_id or ""}
    elif shape == "ModelStreamErrorException":
        extra = {"originalStatusCode": 500, "originalMessage": "emulated model failure"}
    return responses.error(shape, f"Emulated {shape}", request_id, keep_alive, extra)


def pacing(settings: Settings, knobs: Directives) -> stream.Pacing:
    """Directive timings, falling back to the configured defaults."""
    ttfb = settings.ttfb_ms if knobs.ttfb_ms is None else knobs.ttfb_ms
    delay = settings.token_delay_ms if knobs.token_delay_ms is None else knobs.token_delay_ms
    return stream.Pacing((knobs.hang_ms or 0.0) + ttfb, delay, knobs.stall_after, knobs.stall_ms)


def apply_guardrail(state: State, request: Request) -> Reply:
    """``POST /guardrail/{id}/version/{version}/apply``."""
    record(state, request, "ApplyGuardrail", None)
    rid = state.request_id()
    keep = request.keep_alive
    try:
        body = apply_guardrail_decoder.decode(request.body)
    except msgspec.DecodeError as exc:
        return responses.error("ValidationException", f"Malformed request: {exc}", rid, keep)
    texts = [block.text.text for block in body.content if block.text is not None]
    has_directives = MARK_BYTES in request.body
    try:
        knobs = knobs_from(texts, has_directives)
    except DirectiveError as exc:
        return responses.error("ValidationException", str(exc), rid, keep)
    shape = error_shape(state, knobs, streaming=False)
    if has_directives:
        texts = [emu_directives.strip(t) for t in texts]
    policy = state.settings.guardrail
    source = body.source

    def build() -> bytes:
        if shape is not None:
            return error_reply(shape, rid, keep, None)
        verdict = policy.evaluate(source, texts)
        body = msgspec.json.encode(apply_guardrail_response(verdict))
        return responses.response(200, body, rid, keep)

    before_ms = pacing(state.settings, knobs).before_ms
    return stream.delayed(before_ms, build) if before_ms else build()
