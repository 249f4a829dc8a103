"""The chat request pipeline: one ordered set of stages shared by plain and streaming requests.

    authenticate → decode → authorise → translate → redact → guard → reserve budget
    → call Bedrock → guard and filter output → translate back → settle budget → record

Plain and streaming requests share ``prepare``; ``complete`` and ``ChatStream`` finish them.
The budget is settled on every path: success, upstream error, mid-stream error and client
disconnect (with the usage so far). Nothing here knows about HTTP.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

import msgspec

from gateway.bedrock.client import BedrockApi, ConverseEvents
from gateway.bedrock.stream import ChunkTranslator, TextFilter
from gateway.bedrock.translate import ConverseCall, encode_completion, from_converse, to_converse
from gateway.budgets.gate import Admission, BudgetGate
from gateway.errors import GatewayError
from gateway.keys.authenticator import ensure_model_allowed
from gateway.keys.principal import Authenticator, Principal
from gateway.openai.decode import decode_chat_request
from gateway.openai.types import ChatCompletionRequest
from gateway.policy.apply import Findings, redact_request, redact_response
from gateway.policy.errors import PiiBlockedError
from gateway.policy.guardrail import ContentFilterError, GuardrailGate, apply_inline
from gateway.policy.guardrail_stream import OutputGuard
from gateway.policy.model import GuardrailMode, GuardrailSettings, Policy
from gateway.policy.pseudonym import PseudonymState
from gateway.routing import Route, RoutingTable

log = logging.getLogger("gateway.pipeline")

T = TypeVar("T")


@dataclass(slots=True)
class ChatContext:
    """Everything the later stages need about one accepted request."""

    request_id: str
    principal: Principal
    request: ChatCompletionRequest
    route: Route
    call: ConverseCall
    completion_id: str
    created: int
    admission: Admission
    policy: Policy | None = None
    # Per-request placeholder map: pseudonymised values are restored only in this answer.
    pseudonyms: PseudonymState | None = None
    redactions_in: Findings | None = None
    redactions_out: Findings | None = None
    # Filled in as the request runs, for the record stage (metrics, access log).
    started: float = 0.0
    upstream_s: float = 0.0
    upstream_started: float = 0.0
    ttft_s: float | None = None
    retries: int = 0
    usage: dict[str, Any] | None = None
    upstream_error: str | None = None
    guardrail_action: str | None = None
    guardrail_events: list[tuple[str, str]] = field(default_factory=list)


def new_completion_id() -> str:
    return "chatcmpl-" + secrets.token_urlsafe(18)


class ChatPipeline:
    def __init__(
        self,
        *,
        routing: RoutingTable,
        authenticator: Authenticator,
        bedrock: BedrockApi,
        budgets: BudgetGate | None = None,
        policies: PolicyLookup | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._routing = routing
        self._auth = authenticator
        self._bedrock = bedrock
        # Built once; rebuilt only if the client is swapped (demo mode, before serving).
        self._guardrails = GuardrailGate(bedrock)
        self.budgets = budgets
        self.policies = policies
        self._clock = clock

    @property
    def bedrock(self) -> BedrockApi:
        return self._bedrock

    @bedrock.setter
    def bedrock(self, client: BedrockApi) -> None:
        self._bedrock = client
        self._guardrails = GuardrailGate(client)

    async def authenticate(self, api_key: str | None) -> Principal:
        return await self._auth.authenticate(api_key)

    async def prepare(
        self, *, principal: Principal, body: bytes, request_id: str, started: float = 0.0
    ) -> ChatContext:
        """Decode, authorise and translate; every failure here is a clean HTTP error."""
        request = decode_chat_request(body)
        route = self._routing.resolve(request.model)
        ensure_model_allowed(principal, route.name)
        call = to_converse(request, route)
        policy = None
        if self.policies is not None:
            # An unknown name raises (503 policy_unavailable): it never falls back to another.
            policy = self.policies.get(
                principal.policy, key_id=principal.key_id, team_id=principal.team_id
            )
        pseudonyms = PseudonymState()
        redactions_in = None
        if policy is not None and policy.redact_input:
            redacted, redactions_in = redact_request(call.body, policy.redactor, pseudonyms)
            call = replace(call, body=redacted)
        guard_events: list[tuple[str, str]] = []
        if policy is not None and policy.guardrail is not None:
            call = await self._guard_input(policy.guardrail, call, guard_events)
        admission = Admission()
        if self.budgets is not None:
            shrink = policy is not None and policy.budget_shrink
            admission, call = await self.budgets.admit(principal, call, allow_shrink=shrink)
        return ChatContext(
            request_id=request_id,
            principal=principal,
            request=request,
            route=route,
            call=call,
            completion_id=new_completion_id(),
            created=int(self._clock()),
            admission=admission,
            policy=policy,
            pseudonyms=pseudonyms,
            redactions_in=redactions_in,
            started=started or time.perf_counter(),
            guardrail_events=guard_events,
        )

    async def _guard_input(
        self, settings: GuardrailSettings, call: ConverseCall, events: list[tuple[str, str]]
    ) -> ConverseCall:
        if settings.mode is GuardrailMode.INLINE:
            return apply_inline(settings, call)
        try:
            guarded = await self._guardrails.check_input(settings, call)
        except ContentFilterError as exc:
            events.append(("input", exc.assessment.action))
            raise
        if guarded.assessment.intervened:
            events.append(("input", guarded.assessment.action))
        return guarded.call

    async def complete(self, ctx: ChatContext) -> bytes:
        began = time.perf_counter()
        result = await self._upstream(ctx, self.bedrock.converse(ctx.call.model_id, ctx.call.body))
        ctx.upstream_s = time.perf_counter() - began
        ctx.retries = result.retries
        response = result.response
        ctx.usage = response.get("usage")
        # Settled now; nothing waits for the store's answer (BudgetGate.begin_settle).
        self.begin_settle(ctx, total_tokens(response.get("usage") or {}))
        policy = ctx.policy
        guardrail = policy.guardrail if policy is not None else None
        if guardrail is not None and guardrail.mode is GuardrailMode.APPLY:
            response = await self._guard_output(ctx, guardrail, response)
        if policy is not None and policy.redact_output and ctx.pseudonyms is not None:
            response, ctx.redactions_out = redact_response(
                response, policy.redactor, ctx.pseudonyms
            )
        completion = from_converse(
            response,
            model=ctx.request.model,
            completion_id=ctx.completion_id,
            created=ctx.created,
        )
        payload = encode_completion(completion)
        if self.budgets is not None:
            # The settlement goes to the store before the answer goes to the client.
            await self.budgets.handed_over(ctx.admission)
        return payload

    async def open_stream(self, ctx: ChatContext) -> ChatStream:
        """Open the upstream stream; errors before its first byte are ordinary HTTP errors."""
        began = time.perf_counter()
        call = self.bedrock.converse_stream(ctx.call.model_id, ctx.call.body)
        upstream = await self._upstream(ctx, call)
        ctx.upstream_started = began  # a stream's upstream time runs to its last event
        ctx.retries = upstream.retries
        translator = ChunkTranslator(
            completion_id=ctx.completion_id,
            created=ctx.created,
            model=ctx.request.model,
            include_usage=ctx.call.include_usage,
            filters=_output_filters(ctx),
        )
        events: AsyncIterator[tuple[str, bytes]] | None = None  # straight from upstream
        guardrail = ctx.policy.guardrail if ctx.policy is not None else None
        if guardrail is not None and guardrail.mode is GuardrailMode.APPLY:
            guard = OutputGuard(self._guardrails, guardrail)
            events = guarded_events(aiter(upstream), guard, ctx)
        return ChatStream(upstream, translator, ctx, self, events)

    async def _guard_output(
        self, ctx: ChatContext, settings: GuardrailSettings, response: dict[str, Any]
    ) -> dict[str, Any]:
        """Apply mode: check the answer; a block replaces it with the guardrail's text."""
        message = (response.get("output") or {}).get("message") or {}
        text = "".join(b.get("text", "") for b in message.get("content", ()))
        if not text:
            return response
        verdict = await self._guardrails.check_output(settings, text)
        if verdict.assessment.intervened:
            ctx.guardrail_events.append(("output", verdict.assessment.action))
            ctx.guardrail_action = verdict.assessment.action
        if not verdict.assessment.intervened:
            return response
        content = [b for b in message.get("content", ()) if "text" not in b]
        if verdict.blocked:
            return {
                **response,
                "output": {"message": {**message, "content": [{"text": verdict.text}]}},
                "stopReason": "guardrail_intervened",
            }
        content.insert(0, {"text": verdict.text})
        return {**response, "output": {"message": {**message, "content": content}}}

    async def _upstream(self, ctx: ChatContext, call: Awaitable[T]) -> T:
        """Await a Bedrock call; on failure record it and release the whole hold (Bedrock
        bills nothing for a failed call) before the error goes on."""
        began = time.perf_counter()
        try:
            return await call
        except BaseException as exc:
            ctx.upstream_s = time.perf_counter() - began
            if isinstance(exc, GatewayError):
                ctx.upstream_error = exc.code
            await self.settle(ctx, 0)
            raise

    async def settle(self, ctx: ChatContext, used_tokens: int) -> None:
        if self.budgets is not None:
            await self.budgets.settle(ctx.admission, used_tokens)

    def begin_settle(self, ctx: ChatContext, used_tokens: int) -> None:
        if self.budgets is not None:
            self.budgets.begin_settle(ctx.admission, used_tokens)

    def stream_usage(self, ctx: ChatContext, translator: ChunkTranslator) -> int:
        """Bedrock's usage when its metadata event arrived, else an estimate of what ran."""
        if translator.usage is not None:
            return total_tokens(translator.usage)
        if self.budgets is None:
            return 0
        return ctx.admission.prompt_estimate + self.budgets.estimate_output(translator.output_chars)


_DELTA = msgspec.json.Decoder(dict[str, Any])
_ENCODE = msgspec.json.Encoder().encode


async def guarded_events(
    events: AsyncIterator[tuple[str, bytes]], guard: OutputGuard, ctx: ChatContext
) -> AsyncIterator[tuple[str, bytes]]:
    """Apply-mode output guardrail on a stream: text is released only once checked; a block
    ends the answer with the guardrail's text and a content_filter finish."""
    index = 0
    async for event_type, payload in events:
        if event_type == "contentBlockDelta":
            event = _DELTA.decode(payload)
            text = (event.get("delta") or {}).get("text")
            if isinstance(text, str):
                index = event.get("contentBlockIndex", 0)
                released = await guard.feed(text)
                if guard.blocked_text is not None:
                    break
                if released:
                    yield event_type, _text_delta(index, released)
                continue
        elif event_type == "messageStop":
            rest = await guard.finish()
            if guard.blocked_text is not None:
                break
            if rest:
                yield "contentBlockDelta", _text_delta(index, rest)
        yield event_type, payload
    else:
        return
    # Blocked: the guardrail's message replaces the rest of the answer.
    ctx.guardrail_action = guard.assessment.action
    ctx.guardrail_events.append(("output", guard.assessment.action))
    yield "contentBlockDelta", _text_delta(index, guard.blocked_text or "")
    yield "messageStop", b'{"stopReason":"guardrail_intervened"}'


def _text_delta(index: int, text: str) -> bytes:
    return _ENCODE({"contentBlockIndex": index, "delta": {"text": text}})


class PolicyLookup(Protocol):
    def get(
        self, name: str | None, *, key_id: str | None = None, team_id: str | None = None
    ) -> Policy: ...


def _output_filters(ctx: ChatContext) -> Callable[[], TextFilter] | None:
    """Streaming redaction/restore for this answer, one filter per content stream."""
    policy, state = ctx.policy, ctx.pseudonyms
    if policy is None or not policy.redact_output or state is None:
        return None
    redactor = policy.redactor
    return lambda: redactor.output_filter(state)


def total_tokens(usage: dict[str, object]) -> int:
    """Every token Bedrock counted: input (incl. cache reads/writes) plus output."""
    total = 0
    for name in ("inputTokens", "outputTokens", "cacheReadInputTokens", "cacheWriteInputTokens"):
        value = usage.get(name)
        if isinstance(value, int):
            total += value
    return total


class ChatStream:
    """SSE bytes for one streamed completion; every event is yielded as soon as Bedrock sends it.

    Events that arrived together (one upstream read) are yielded as one write: the client gets
    them at the same instant either way, with one system call instead of one per event (the
    role chunk and the first token, or a burst after a slow read).
    """

    def __init__(
        self,
        upstream: ConverseEvents,
        translator: ChunkTranslator,
        ctx: ChatContext,
        pipeline: ChatPipeline,
        events: AsyncIterator[tuple[str, bytes]] | None = None,
    ) -> None:
        self._events = events if events is not None else aiter(upstream)
        # Only the upstream itself knows whether its next event is already here; a stage in
        # between (the output guardrail) may wait on a call of its own before the next event,
        # so then every event is written on its own.
        self._coalesce = events is None
        self.upstream = upstream
        self.translator = translator
        self.ctx = ctx
        self._pipeline = pipeline

    async def events(self) -> AsyncIterator[bytes]:
        translator = self.translator
        ctx = self.ctx
        upstream = self.upstream
        coalesce = self._coalesce
        held: list[bytes] = []
        tail: bytes
        try:
            # Read to the end of the body even after [DONE] (only the chunk terminator is
            # left): a fully read response returns its connection to the pool.
            async for event_type, payload in self._events:
                out = translator.feed(event_type, payload)
                if out:
                    held.append(out)
                if held and not (coalesce and upstream.ready):
                    if ctx.ttft_s is None and translator.first_token:
                        ctx.ttft_s = time.perf_counter() - ctx.started
                    yield held[0] if len(held) == 1 else b"".join(held)
                    held.clear()
            tail = translator.finish()
        except PiiBlockedError as exc:
            tail = translator.fail(exc)
        except GatewayError as exc:
            ctx.upstream_error = exc.code
            tail = translator.fail(exc, flush=True)
        except Exception:
            # A bug must still end the stream the way the SDK understands: an error event.
            log.exception("stream failed", extra={"request_id": self.ctx.request_id})
            tail = translator.fail(GatewayError("The gateway failed while streaming."))
        held.append(tail)
        if ctx.ttft_s is None and translator.first_token:
            ctx.ttft_s = time.perf_counter() - ctx.started
        out = b"".join(held)
        if out:
            yield out

    async def aclose(self) -> None:
        """Close upstream at once, then settle with what was used (idempotent)."""
        await self.upstream.aclose()
        ctx = self.ctx
        if ctx.usage is None:
            ctx.usage = self.translator.usage
            ctx.upstream_s = time.perf_counter() - ctx.upstream_started
        await self._pipeline.settle(
            self.ctx, self._pipeline.stream_usage(self.ctx, self.translator)
        )
