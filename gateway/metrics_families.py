"""The metric families the gateway exports (names, help, labels, buckets, gauge modes) and the
cached label children the hot path increments."""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gateway.metrics_labels import OPERATIONS, STATUS_CLASSES, STREAM_VALUES

# 1 ms … 120 s: a cached reply on loopback up to the longest stream a client waits for.
DURATION_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0,
)  # fmt: skip
# The OpenTelemetry GenAI advice for gen_ai.server.time_to_first_token, plus a long tail for
# reasoning models that think before their first token.
TTFT_BUCKETS: Final = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
    1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 30.0, 60.0,
)  # fmt: skip
# 50 µs … 1 s: what the gateway itself adds is normally well under a millisecond.
OVERHEAD_BUCKETS: Final = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.0025, 0.005,
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
)  # fmt: skip


class Families:
    """Every family, registered in ``registry`` (None: recorded to multiprocess files only).

    Gauge modes matter only with several workers: in-flight requests and active streams are
    summed over the workers still alive (``livesum``); budget gauges take the newest value any
    worker saw (``mostrecent``: all read the same store); build info is 1 whoever reports it.
    """

    def __init__(self, registry: CollectorRegistry | None) -> None:
        r = registry
        self.requests = Counter(
            "gateway_requests",
            "Chat requests answered, by model, team, streaming and HTTP status class.",
            ("model", "team", "stream", "status_class"),
            registry=r,
        )
        self.duration = Histogram(
            "gateway_request_duration_seconds",
            "Time from request start to the last byte of the response.",
            ("model", "stream"),
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "gateway_time_to_first_token_seconds",
            "Streams: time from request start to the first content chunk sent to the client.",
            ("model",),
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.upstream = Histogram(
            "gateway_upstream_duration_seconds",
            "Duration of Bedrock calls (retries included; streams to their last event).",
            ("model", "operation"),
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.overhead = Histogram(
            "gateway_overhead_seconds",
            "Time the gateway itself adds to a request: total duration minus upstream time.",
            ("stream",),
            buckets=OVERHEAD_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "gateway_tokens",
            "Tokens by model, team and kind (input, output, cache_read, cache_write).",
            ("model", "team", "kind"),
            registry=r,
        )
        self.budget_rejections = Counter(
            "gateway_budget_rejections",
            "Requests refused by a token budget or rate limit, by team and reason.",
            ("team", "reason"),
            registry=r,
        )
        self.budget_limit = Gauge(
            "gateway_budget_limit_tokens",
            "Token budget of a team for a window.",
            ("team", "window"),
            multiprocess_mode="mostrecent",
            registry=r,
        )
        self.budget_remaining = Gauge(
            "gateway_budget_remaining_tokens",
            "Tokens a team has left in the current window, as last seen by the gateway.",
            ("team", "window"),
            multiprocess_mode="mostrecent",
            registry=r,
        )
        self.guardrail = Counter(
            "gateway_guardrail_interventions",
            "Guardrail interventions by policy, source (input, output) and action.",
            ("policy", "source", "action"),
            registry=r,
        )
        self.pii = Counter(
            "gateway_pii_redactions",
            "PII entities acted on, by entity type, direction and action.",
            ("entity_type", "direction", "action"),
            registry=r,
        )
        self.upstream_errors = Counter(
            "gateway_upstream_errors",
            "Bedrock calls that ended in an error, by model and gateway error code.",
            ("model", "error"),
            registry=r,
        )
        self.retries = Counter(
            "gateway_upstream_retries",
            "Bedrock call attempts retried after a retryable error, by model.",
            ("model",),
            registry=r,
        )
        self.in_flight = Gauge(
            "gateway_in_flight_requests",
            "Chat requests being handled now.",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.active_streams = Gauge(
            "gateway_active_streams",
            "Streaming responses open now.",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.build_info = Gauge(
            "gateway_build_info",
            "Always 1; labels carry the gateway version and Python version.",
            ("version", "python"),
            multiprocess_mode="max",
            registry=r,
        )


class ModelSeries:
    """Children of the families labelled by model alone, made once per model label."""

    __slots__ = ("duration", "retries", "ttft", "upstream")

    def __init__(self, f: Families, model: str) -> None:
        # Indexed by the stream flag: [False] / [True].
        self.duration = tuple(f.duration.labels(model, stream) for stream in STREAM_VALUES)
        self.ttft = f.ttft.labels(model)
        self.upstream = {op: f.upstream.labels(model, op) for op in OPERATIONS}
        self.retries = f.retries.labels(model)


class PairSeries:
    """Children labelled by (model, team). All are created at once, at zero, so that rate()
    and increase() see the first request of a new team instead of a series born at 1."""

    __slots__ = ("cache_read", "cache_write", "input", "output", "requests")

    def __init__(self, f: Families, model: str, team: str) -> None:
        # Indexed by 3 * stream flag + status class index: a tuple lookup, no string keys.
        self.requests = tuple(
            f.requests.labels(model, team, stream, cls)
            for stream in STREAM_VALUES
            for cls in STATUS_CLASSES
        )
        self.input = f.tokens.labels(model, team, "input")
        self.output = f.tokens.labels(model, team, "output")
        self.cache_read = f.tokens.labels(model, team, "cache_read")
        self.cache_write = f.tokens.labels(model, team, "cache_write")
