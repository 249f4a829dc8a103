"""The benchmark's data: scenarios, gateway variants and the targets they are judged by."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class Kind(StrEnum):
    """How a scenario's requests are made (and so which load generator drives them)."""

    PLAIN = "plain"  # one JSON reply per request: wrk + Lua
    STREAM = "stream"  # event stream / SSE: the asyncio stream client


@dataclass(frozen=True, slots=True)
class Scenario:
    """One load shape, run once against every target."""

    name: str
    kind: Kind
    concurrency: int
    tokens: int
    token_delay_ms: int = 0
    # Peak RSS (VmHWM) is a whole-life peak, so a scenario whose memory figure matters
    # gets a gateway process of its own.
    fresh_gateway: bool = False
    # Runs only as part of the full set (too slow or too heavy for --quick).
    full_only: bool = False
    quick_only: bool = False
    direct: bool = True  # also measure the emulator alone, for the "added" columns
    # Warm-up must outlast one request's latency, or the window starts before a steady state.
    min_warmup: float = 0.0

    def directive(self) -> dict[str, int]:
        """The emulator directive embedded in the prompt: reply length and pacing."""
        knobs = {"tokens": self.tokens}
        if self.token_delay_ms:
            knobs["token_delay_ms"] = self.token_delay_ms
        return knobs


@dataclass(frozen=True, slots=True)
class Variant:
    """One way of running the gateway: an ASGI server plus extra environment.

    A later variant (budgets on, Redis) is one more entry with its own ``env``.
    """

    name: str
    server: str
    env: Mapping[str, str] = field(default_factory=dict)
    # Only these scenarios (None: all); extra variants measure what they change, not everything.
    only: frozenset[str] | None = None
    # Create the bench key as a team key in Redis before the gateway starts (a private
    # redis-server on the load core), with budgets and RPM when ``budgets``.
    redis_key: bool = False
    budgets: bool = False


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("plain-c1", Kind.PLAIN, 1, tokens=32),
    Scenario("plain-c32", Kind.PLAIN, 32, tokens=32),
    Scenario("plain-c256", Kind.PLAIN, 256, tokens=32),
    Scenario("stream-c1", Kind.STREAM, 1, tokens=32),
    Scenario("stream-c32", Kind.STREAM, 32, tokens=32),
    Scenario("stream-c256", Kind.STREAM, 256, tokens=32),
    Scenario("paced-c1", Kind.STREAM, 1, tokens=20, token_delay_ms=10),
    Scenario("paced-c32", Kind.STREAM, 32, tokens=20, token_delay_ms=10),
    Scenario("paced-c256", Kind.STREAM, 256, tokens=20, token_delay_ms=10, full_only=True),
    Scenario(
        "paced-c1000",
        Kind.STREAM,
        1000,
        tokens=20,
        token_delay_ms=10,
        fresh_gateway=True,
        full_only=True,
        min_warmup=5.0,
    ),
    # --quick still exercises a fresh gateway and many concurrent streams, but smaller.
    Scenario(
        "paced-c200",
        Kind.STREAM,
        200,
        tokens=20,
        token_delay_ms=10,
        fresh_gateway=True,
        quick_only=True,
    ),
)

# Scenarios kept by --quick (with short durations); all the other non-full_only ones are dropped.
QUICK_NAMES: frozenset[str] = frozenset({"plain-c1", "plain-c32", "paced-c32"})

# The core gateway is measured with redaction off; the variants below add one stage each.
_CORE = {"GATEWAY_POLICY_DIR": str(Path(__file__).parent / "policies" / "passthrough")}
_FOCUS = frozenset({"plain-c1", "plain-c32", "stream-c32", "paced-c1", "paced-c32"})
BENCH_HASH_SECRET = "bench-hash-secret-0123456789abcdef0123456789"

# Keys in Redis: the run sets GATEWAY_REDIS_URL to its private redis-server.
_REDIS_KEYS = {**_CORE, "GATEWAY_KEY_HASH_SECRET": BENCH_HASH_SECRET, "GATEWAY_API_KEYS": ""}

VARIANTS: tuple[Variant, ...] = (
    Variant("uvicorn", server="uvicorn", env=_CORE),
    Variant("granian", server="granian", env=_CORE),
    # The shipped default policy: every PII type masked in prompts and (streamed) answers.
    Variant("uvicorn+pii", server="uvicorn", only=_FOCUS),
    # The bench key as a team key in Redis, without limits: what keys in Redis cost alone,
    # so the budgets row can be read against it as well as against the core.
    Variant("uvicorn+keys", server="uvicorn", env=_REDIS_KEYS, only=_FOCUS, redis_key=True),
    # Budgets on: that key with team and key budgets and RPM (one EVALSHA before, one after).
    Variant(
        "uvicorn+budgets",
        server="uvicorn",
        env=_REDIS_KEYS,
        only=_FOCUS,
        redis_key=True,
        budgets=True,
    ),
)


def select(quick: bool, only: frozenset[str] | None = None) -> list[Scenario]:
    """The scenarios for this run, in their declared order."""
    if quick:
        chosen = [s for s in SCENARIOS if s.quick_only or s.name in QUICK_NAMES]
    else:
        chosen = [s for s in SCENARIOS if not s.quick_only]
    if only:
        unknown = only - {s.name for s in SCENARIOS}
        if unknown:
            raise SystemExit(f"unknown scenario(s): {', '.join(sorted(unknown))}")
        chosen = [s for s in SCENARIOS if s.name in only]
    return chosen


@dataclass(frozen=True, slots=True)
class Target:
    """A pass/fail goal from the issue, checked per gateway variant."""

    label: str
    scenario: str
    metric: str  # a key of the result row
    limit: float
    at_most: bool  # True: value <= limit passes; False: value >= limit passes


TARGETS: tuple[Target, ...] = (
    Target("added p50 latency ≤ 1 ms at c=1", "plain-c1", "added_p50_ms", 1.0, at_most=True),
    Target("≥ 1,000 req/s at 32 connections", "plain-c32", "rps", 1000.0, at_most=False),
    Target("paced c=32 adds ≤ 2 ms to TTFT", "paced-c32", "added_ttft_ms", 2.0, at_most=True),
    Target("1,000 paced streams: 0 errors", "paced-c1000", "errors", 0.0, at_most=True),
    Target("1,000 paced streams: ≤ 300 MB RSS", "paced-c1000", "peak_rss_mb", 300.0, at_most=True),
)
