"""The record stage: one place turns a finished request into metrics and one access line."""

from __future__ import annotations

import time
from dataclasses import dataclass

from gateway.keys.principal import Principal
from gateway.logs import AccessLog, log_access
from gateway.metrics import Metrics
from gateway.pipeline import ChatContext

# Codes that are a budget/rate refusal (counted as budget rejections).
_BUDGET_CODES = frozenset({"insufficient_quota", "rate_limit_exceeded"})


@dataclass(slots=True)
class Outcome:
    """What the HTTP layer knows when a request ends."""

    request_id: str
    started: float  # perf_counter at arrival
    stream: bool
    status: int = 200
    error_code: str | None = None
    principal: Principal | None = None
    ctx: ChatContext | None = None


class Recorder:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def finish(self, outcome: Outcome) -> None:
        duration = time.perf_counter() - outcome.started
        ctx, principal = outcome.ctx, outcome.principal
        team = principal.team_id if principal else "-"
        model = ctx.route.name if ctx else "other"
        m = self.metrics
        upstream_s = ctx.upstream_s if ctx and ctx.upstream_s else None
        m.record_request(
            model=model,
            team=team,
            stream=outcome.stream,
            status=outcome.status,
            duration_s=duration,
            upstream_s=upstream_s,
        )
        if outcome.error_code in _BUDGET_CODES and outcome.status == 429:
            m.record_budget_rejection(team, outcome.error_code or "")
        usage = (ctx.usage if ctx else None) or {}
        prompt = int(usage.get("inputTokens") or 0)
        completion = int(usage.get("outputTokens") or 0)
        cache_read = int(usage.get("cacheReadInputTokens") or 0)
        cache_write = int(usage.get("cacheWriteInputTokens") or 0)
        redactions_in = redactions_out = 0
        if ctx is not None:
            self._record_context(ctx, team)
            if usage:
                m.record_tokens(
                    model=model,
                    team=team,
                    input_tokens=prompt,
                    output_tokens=completion,
                    cache_read_tokens=cache_read,
                    cache_write_tokens=cache_write,
                )
            redactions_in = sum(ctx.redactions_in.values()) if ctx.redactions_in else 0
            redactions_out = sum(ctx.redactions_out.values()) if ctx.redactions_out else 0
        log_access(
            AccessLog(
                request_id=outcome.request_id,
                team=team,
                key_id=principal.key_id if principal else "-",
                model=model,
                stream=outcome.stream,
                status=outcome.status,
                prompt_tokens=prompt + cache_read + cache_write,
                completion_tokens=completion,
                cache_read_tokens=cache_read,
                cache_write_tokens=cache_write,
                duration_ms=duration * 1000,
                ttft_ms=ctx.ttft_s * 1000 if ctx and ctx.ttft_s is not None else None,
                upstream_ms=upstream_s * 1000 if upstream_s is not None else None,
                overhead_ms=(duration - upstream_s) * 1000 if upstream_s is not None else None,
                retries=ctx.retries if ctx else 0,
                redactions_request=redactions_in,
                redactions_response=redactions_out,
                guardrail_action=(ctx.guardrail_action if ctx else None) or "none",
                error_code=outcome.error_code,
            )
        )

    def _record_context(self, ctx: ChatContext, team: str) -> None:
        m = self.metrics
        model = ctx.route.name
        if ctx.upstream_s:
            operation = "converse_stream" if ctx.call.stream else "converse"
            m.record_upstream(model, operation, ctx.upstream_s)
        if ctx.retries:
            m.record_retry(model, ctx.retries)
        if ctx.upstream_error:
            m.record_upstream_error(model, ctx.upstream_error)
        if ctx.ttft_s is not None:
            m.record_ttft(model, ctx.ttft_s)
        for direction, findings in (
            ("request", ctx.redactions_in),
            ("response", ctx.redactions_out),
        ):
            if findings:
                for (entity_type, action), count in findings.items():
                    m.record_pii(entity_type, direction, action, count)
        for bucket in ctx.admission.buckets:
            if bucket.limit.scope == "team" and bucket.limit.kind == "budget":
                m.set_budget(
                    team,
                    str(bucket.limit.window),
                    limit=bucket.limit.amount,
                    remaining=bucket.remaining,
                )
        for source, action in ctx.guardrail_events:
            m.record_guardrail(ctx.policy.name if ctx.policy else "default", source, action)
