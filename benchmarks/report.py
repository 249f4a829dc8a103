"""Result rows and what is made of them: the Markdown report, target verdicts and the raw JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

from benchmarks.scenarios import TARGETS, Target

DIRECT = "direct"
GATEWAY = "gateway"
# A load generator or the emulator above this share of its core may be capping the result.
BUSY = 0.9
# Processes outside the benchmark above this share of a core make a row unreliable.
NOISY = 0.2


@dataclass(slots=True)
class Row:
    """One scenario measured against one target (the emulator alone, or a gateway variant)."""

    scenario: str
    target: str  # DIRECT or GATEWAY
    server: str  # "emulator" for direct rows, else the gateway variant's name
    concurrency: int
    rps: float
    p50_ms: float | None  # None when no request completed in the window
    p99_ms: float | None
    errors: int
    ttft_p50_ms: float | None = None
    ttft_p99_ms: float | None = None
    cpu_ms_per_req: float | None = None  # of the process under test (emulator for direct rows)
    cpu_util: float | None = None  # its CPU seconds per second of the window
    peak_rss_mb: float | None = None  # summed over the process tree
    peak_rss_max_proc_mb: float | None = None  # the largest single process (the worker)
    loadgen_util: float | None = None
    emulator_util: float | None = None  # for gateway rows: is the emulator keeping up?
    other_util: float | None = None  # CPU used by processes outside the benchmark (noise)
    peak_inflight: int | None = None
    error_kinds: dict[str, int] = field(default_factory=dict)
    added_p50_ms: float | None = None
    added_ttft_ms: float | None = None


def add_deltas(rows: Sequence[Row]) -> None:
    """Fill in the gateway rows' latency and TTFT added over the direct row of the same scenario."""
    direct = {r.scenario: r for r in rows if r.target == DIRECT}
    for row in rows:
        base = direct.get(row.scenario)
        if row.target != GATEWAY or base is None:
            continue
        if row.p50_ms is not None and base.p50_ms is not None:
            row.added_p50_ms = row.p50_ms - base.p50_ms
        if row.ttft_p50_ms is not None and base.ttft_p50_ms is not None:
            row.added_ttft_ms = row.ttft_p50_ms - base.ttft_p50_ms


@dataclass(frozen=True, slots=True)
class Verdict:
    target: Target
    server: str
    value: float | None  # None: the scenario was not run

    @property
    def passed(self) -> bool | None:
        if self.value is None:
            return None
        limit = self.target.limit
        return self.value <= limit if self.target.at_most else self.value >= limit


def verdicts(rows: Sequence[Row], servers: Sequence[str]) -> list[Verdict]:
    by_key = {(r.scenario, r.server): r for r in rows if r.target == GATEWAY}
    out = []
    for target in TARGETS:
        for server in servers:
            row = by_key.get((target.scenario, server))
            value = getattr(row, target.metric) if row is not None else None
            out.append(Verdict(target, server, None if value is None else float(value)))
    return out


def _f(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.2f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


_COLUMNS = (
    "scenario | target | server | c | req/s | p50 ms | p99 ms | added p50 ms | TTFT p50 ms "
    "| added TTFT ms | CPU ms/req | peak RSS MB | errors"
)


def _table(rows: Sequence[Row]) -> list[str]:
    lines = [f"| {_COLUMNS} |", "|" + "---|" * (_COLUMNS.count("|") + 1)]
    for r in rows:
        cells = (
            r.scenario, r.target, r.server, str(r.concurrency), _f(r.rps, 0), _f(r.p50_ms),
            _f(r.p99_ms), _signed(r.added_p50_ms), _f(r.ttft_p50_ms), _signed(r.added_ttft_ms),
            _f(r.cpu_ms_per_req), _f(r.peak_rss_mb, 0), str(r.errors),
        )  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _load_table(rows: Sequence[Row]) -> list[str]:
    lines = [
        "| scenario | server | CPU (process under test) | load generator CPU | "
        "emulator CPU | other processes CPU | largest process peak RSS MB | peak in-flight "
        "| error kinds | note |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        busy = [
            name
            for name, util in (("load generator", r.loadgen_util), ("emulator", r.emulator_util))
            if util is not None and util >= BUSY
        ]
        notes = [f"{' and '.join(busy)} near saturation"] if busy else []
        # Gateway runs put the emulator and the load generator on one core: together they
        # may fill it even when neither does alone.
        shared = (r.emulator_util or 0.0) + (r.loadgen_util or 0.0)
        if not busy and shared >= BUSY:
            notes.append(f"emulator + load generator use {shared * 100:.0f}% of the load core")
        if r.other_util is not None and r.other_util >= NOISY:
            notes.append("other processes busy: noisy")
        note = "; ".join(notes)
        kinds = ", ".join(f"{k}={v}" for k, v in sorted(r.error_kinds.items())) or "—"
        inflight = "—" if r.peak_inflight is None else str(r.peak_inflight)
        lines.append(
            f"| {r.scenario} | {r.server} | {_pct(r.cpu_util)} | {_pct(r.loadgen_util)} | "
            f"{_pct(r.emulator_util)} | {_pct(r.other_util)} | {_f(r.peak_rss_max_proc_mb, 0)} "
            f"| {inflight} | {kinds} | {note} |"
        )
    return lines


def _verdict_table(found: Sequence[Verdict]) -> list[str]:
    lines = ["| target | server | measured | result |", "|---|---|---|---|"]
    for v in found:
        result = {True: "**PASS**", False: "**FAIL**", None: "not run"}[v.passed]
        lines.append(f"| {v.target.label} | {v.server} | {_f(v.value)} | {result} |")
    return lines


def _servers_table(rows: Sequence[Row], servers: Sequence[str]) -> list[str]:
    head = " | ".join(f"{s} req/s | {s} p50 ms" for s in servers)
    lines = [f"| scenario | {head} |", "|---|" + "---|---|" * len(servers)]
    by_key = {(r.scenario, r.server): r for r in rows if r.target == GATEWAY}
    for scenario in dict.fromkeys(r.scenario for r in rows):
        cells = []
        for s in servers:
            row = by_key.get((scenario, s))
            cells += [_f(row.rps, 0), _f(row.p50_ms)] if row else ["—", "—"]
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    return lines


# Budgets on is compared with each "off" variant measured in the same run: the core gateway
# (static keys) and the same team key held in Redis without limits.
BUDGETS_ON = "uvicorn+budgets"
BUDGETS_OFF = ("uvicorn", "uvicorn+keys")
MAX_ADDED_P50_MS = 0.3  # at c=1
MAX_THROUGHPUT_LOSS = 0.15  # at c=32


def _budget_table(rows: Sequence[Row]) -> list[str]:
    by_key = {(r.scenario, r.server): r for r in rows if r.target == GATEWAY}
    lines: list[str] = []
    for off in BUDGETS_OFF:
        c1_on, c1_off = by_key.get(("plain-c1", BUDGETS_ON)), by_key.get(("plain-c1", off))
        c32_on, c32_off = by_key.get(("plain-c32", BUDGETS_ON)), by_key.get(("plain-c32", off))
        if c1_on and c1_off and c1_on.p50_ms is not None and c1_off.p50_ms is not None:
            added = c1_on.p50_ms - c1_off.p50_ms
            verdict = "**PASS**" if added <= MAX_ADDED_P50_MS else "**FAIL**"
            lines.append(
                f"| added p50 at c=1 ≤ {MAX_ADDED_P50_MS} ms | {off} | "
                f"{c1_off.p50_ms:.2f} → {c1_on.p50_ms:.2f} ms | {added:+.2f} ms | {verdict} |"
            )
        if c32_on and c32_off and c32_off.rps:
            loss = 1 - c32_on.rps / c32_off.rps
            verdict = "**PASS**" if loss <= MAX_THROUGHPUT_LOSS else "**FAIL**"
            lines.append(
                f"| throughput loss at c=32 ≤ {MAX_THROUGHPUT_LOSS:.0%} | {off} | "
                f"{c32_off.rps:,.0f} → {c32_on.rps:,.0f} req/s | {-loss:+.1%} | {verdict} |"
            )
    if not lines:
        return []
    return [
        "| target | budgets off = | off → on | change | result |",
        "|---|---|---|---|---|",
        *lines,
    ]


def markdown(
    rows: Sequence[Row], servers: Sequence[str], meta: Mapping[str, object], chart: str | None
) -> str:
    found = verdicts(rows, servers)
    out = [f"# Benchmark results — {meta['started']}", ""]
    out += [f"- {k}: {v}" for k, v in meta.items() if k != "started"]
    out += ["", "## Targets", "", *_verdict_table(found), ""]
    out += ["## Results", "", *_table(rows), ""]
    out += [
        "Latencies are wall-clock per request as seen by the load generator. For streams, p50/p99 "
        "are the whole stream and TTFT is the time to the first content token. "
        "CPU ms/req and peak RSS are those of the process under test (the emulator for direct "
        "rows, the gateway process tree for gateway rows); peak RSS is VmHWM since that process "
        "started. CPU figures in the load check are shares of one core.",
        "",
    ]
    budgets = _budget_table(rows)
    if budgets:
        out += ["## Budgets on against budgets off (issue 3 targets)", "", *budgets, ""]
    if len(servers) > 1:
        out += ["## ASGI servers side by side", "", *_servers_table(rows, servers), ""]
    out += ["## Load check (is anything but the process under test the bottleneck?)", ""]
    out += [*_load_table(rows), ""]
    if chart:
        out += ["## Chart", "", f"![req/s and p50 latency by scenario]({chart})", ""]
    return "\n".join(out)


def raw_json(rows: Sequence[Row], servers: Sequence[str], meta: Mapping[str, object]) -> str:
    found = verdicts(rows, servers)
    return json.dumps(
        {
            "meta": dict(meta),
            "rows": [asdict(r) for r in rows],
            "targets": [
                {"label": v.target.label, "server": v.server, "value": v.value, "pass": v.passed}
                for v in found
            ],
        },
        indent=2,
    )
