"""Prometheus metrics: the only module importing prometheus_client; one registry, closed labels.

Names are a fixed contract with deploy/ (alert rules, dashboard); see docs/operations.md. Where
they fit, the OpenTelemetry GenAI conventions are followed: ``kind`` is ``gen_ai.token.type``
(plus cache kinds), ``operation`` is the Bedrock operation (``gen_ai.operation.name`` level),
``model`` is the request model, time-to-first-token and durations are histograms in seconds, and
the TTFT buckets are the ones the convention advises for ``gen_ai.server.time_to_first_token``.

Multiprocess mode and import order
    prometheus_client chooses where values live when ``prometheus_client.values`` is *first
    imported*: in process memory, or — if ``PROMETHEUS_MULTIPROC_DIR`` is set at that moment —
    in mmap files under that directory, which :meth:`Metrics.render` then sums over every worker.
    So the variable must be in the environment before a worker imports this module. The CLI
    gets it from :func:`gateway.metrics_multiproc.prepare_multiprocess_dir` (a module that does
    not import prometheus_client) and exports it before the server spawns workers; uvicorn
    spawns fresh interpreters, which inherit it. If the order is ever wrong, constructing
    :class:`Metrics` raises at start-up instead of serving a scrape that misses every worker.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable
from importlib import metadata

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
    values,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from gateway.metrics_families import Families, ModelSeries, PairSeries
from gateway.metrics_labels import (
    BUDGET_REASONS,
    OTHER,
    PII_ACTIONS,
    PII_DIRECTIONS,
    STREAM_VALUES,
    UPSTREAM_ERRORS,
    WINDOWS,
    CappedLabel,
    ClosedLabel,
    guardrail_action,
    guardrail_source,
    model_label,
)
from gateway.metrics_multiproc import MULTIPROC_ENV
from gateway.metrics_workers import WorkerFilesCollector, forget_dead_workers, mark_process_dead

# Advertise the classic text format (0.0.4) explicitly: every Prometheus server version and
# promtool read it, and the body generate_latest writes is exactly that format.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


class Metrics:
    """Always on; one per process. Every ``record_*`` costs a few dict lookups plus the
    prometheus_client increments themselves (label children are cached, never re-resolved)."""

    def __init__(
        self,
        models: Iterable[str],
        team_cap: int = 100,
        *,
        teams: Iterable[str] = (),
        policy_cap: int = 50,
        entity_type_cap: int = 64,
        version: str | None = None,
    ) -> None:
        self._mp_dir = os.environ.get(MULTIPROC_ENV) or None
        multiprocess_values = bool(getattr(values.ValueClass, "_multiprocess", False))
        if self._mp_dir and not multiprocess_values:
            raise RuntimeError(
                f"{MULTIPROC_ENV} was set after prometheus_client was imported in this process, "
                "so this worker's metrics would be missing from the scrape. Set it before the "
                "process starts (gateway serve does this before spawning workers)."
            )
        # _created series double the series count and mean nothing to our dashboards.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        # In multiprocess mode the live objects only write files; the scrape reads the files
        # through a collector, so registering the objects too would export them twice.
        self._f = Families(None if self._mp_dir else self.registry)
        if self._mp_dir:
            self.registry.register(WorkerFilesCollector(self._mp_dir))

        self._model = model_label(models)
        self._team = CappedLabel(team_cap, teams)
        self._policy = CappedLabel(policy_cap)
        self._entity_type = CappedLabel(entity_type_cap)
        self._source = guardrail_source()
        self._action = guardrail_action()
        self._direction = ClosedLabel(PII_DIRECTIONS)
        self._pii_action = ClosedLabel(PII_ACTIONS)
        self._reason = ClosedLabel(BUDGET_REASONS)
        self._window = ClosedLabel(WINDOWS)
        self._error = ClosedLabel(UPSTREAM_ERRORS)

        self._models: dict[str, ModelSeries] = {}
        self._pairs: dict[tuple[str, str], PairSeries] = {}
        # Keys start with a tag naming the family, so one dict serves several of them.
        self._counters: dict[tuple[str, ...], Counter] = {}
        self._gauges: dict[tuple[str, ...], Gauge] = {}
        self._overhead = tuple(self._f.overhead.labels(stream) for stream in STREAM_VALUES)
        self._in_flight = self._f.in_flight
        self._active_streams = self._f.active_streams
        self._f.build_info.labels(version or _package_version(), platform.python_version()).set(1)

    # -- label normalisation (public so the pipeline and tests can see what a value becomes)

    def model_label(self, model: str) -> str:
        return self._model(model)

    def team_label(self, team: str) -> str:
        return self._team(team)

    # -- per-request recording: the hot path

    def record_request(
        self,
        *,
        model: str,
        team: str,
        stream: bool,
        status: int,
        duration_s: float,
        upstream_s: float | None = None,
    ) -> None:
        """One finished request. ``upstream_s`` (time spent waiting on Bedrock) also yields
        the gateway's own overhead, ``duration_s - upstream_s``."""
        m = self._model(model)
        pair = self._pair(m, self._team(team))
        cls = 0 if status < 400 else 1 if status < 500 else 2
        pair.requests[3 * stream + cls].inc()
        self._model_series(m).duration[stream].observe(duration_s)
        if upstream_s is not None:
            self._overhead[stream].observe(max(duration_s - upstream_s, 0.0))

    def record_tokens(
        self,
        *,
        model: str,
        team: str,
        input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> None:
        pair = self._pair(self._model(model), self._team(team))
        if input_tokens > 0:
            pair.input.inc(input_tokens)
        if output_tokens > 0:
            pair.output.inc(output_tokens)
        if cache_read_tokens > 0:
            pair.cache_read.inc(cache_read_tokens)
        if cache_write_tokens > 0:
            pair.cache_write.inc(cache_write_tokens)

    def record_ttft(self, model: str, seconds: float) -> None:
        self._model_series(self._model(model)).ttft.observe(seconds)

    def record_upstream(self, model: str, operation: str, seconds: float) -> None:
        """One Bedrock call as the pipeline saw it: retries and their back-off included, and
        for a stream, until its last event (so that overhead = duration - upstream)."""
        child = self._model_series(self._model(model)).upstream.get(operation)
        if child is None:
            raise ValueError(f"unknown upstream operation {operation!r}")
        child.observe(seconds)

    def record_upstream_error(self, model: str, error: str | None) -> None:
        """``error`` is the gateway error code (GatewayError.code) the call ended with."""
        labels = ("err", self._model(model), self._error(error or OTHER))
        self._counter(labels, self._f.upstream_errors).inc()

    def record_retry(self, model: str, count: int = 1) -> None:
        if count > 0:
            self._model_series(self._model(model)).retries.inc(count)

    def request_started(self) -> None:
        self._in_flight.inc()

    def request_finished(self) -> None:
        self._in_flight.dec()

    def stream_started(self) -> None:
        self._active_streams.inc()

    def stream_finished(self) -> None:
        self._active_streams.dec()

    # -- budgets and policy

    def record_budget_rejection(self, team: str, reason: str) -> None:
        labels = ("rej", self._team(team), self._reason(reason))
        self._counter(labels, self._f.budget_rejections).inc()

    def set_budget(self, team: str, window: str, *, limit: int, remaining: int) -> None:
        """The latest known limit and remaining tokens of a team's window (from the store)."""
        t, w = self._team(team), self._window(window)
        self._gauge(("lim", t, w), self._f.budget_limit).set(limit)
        self._gauge(("rem", t, w), self._f.budget_remaining).set(max(remaining, 0))

    def record_guardrail(self, policy: str, source: str, action: str) -> None:
        labels = ("gr", self._policy(policy), self._source(source), self._action(action))
        self._counter(labels, self._f.guardrail).inc()

    def record_pii(self, entity_type: str, direction: str, action: str, count: int = 1) -> None:
        if count <= 0:
            return
        labels = (
            "pii",
            self._entity_type(entity_type),
            self._direction(direction),
            self._pii_action(action),
        )
        self._counter(labels, self._f.pii).inc(count)

    # -- exposition

    def render(self) -> tuple[bytes, str]:
        """The scrape body and its content type; with several workers, the sum over all."""
        if self._mp_dir:
            forget_dead_workers(self._mp_dir)
        return generate_latest(self.registry), CONTENT_TYPE

    # -- cached children

    def _model_series(self, model: str) -> ModelSeries:
        series = self._models.get(model)
        if series is None:
            series = self._models[model] = ModelSeries(self._f, model)
        return series

    def _pair(self, model: str, team: str) -> PairSeries:
        key = (model, team)
        series = self._pairs.get(key)
        if series is None:
            series = self._pairs[key] = PairSeries(self._f, model, team)
        return series

    def _counter(self, key: tuple[str, ...], family: Counter) -> Counter:
        child = self._counters.get(key)
        if child is None:
            child = self._counters[key] = family.labels(*key[1:])
        return child

    def _gauge(self, key: tuple[str, ...], family: Gauge) -> Gauge:
        child = self._gauges.get(key)
        if child is None:
            child = self._gauges[key] = family.labels(*key[1:])
        return child


def _package_version() -> str:
    try:
        return metadata.version("bedrock-gateway")
    except metadata.PackageNotFoundError:
        return "unknown"


__all__ = ["CONTENT_TYPE", "OTHER", "Metrics", "WorkerFilesCollector", "mark_process_dead"]
