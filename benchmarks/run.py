"""The benchmark command: ``python -m benchmarks.run [--quick]`` (see benchmarks/README.md)."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import redis

from benchmarks import payloads, pyspy
from benchmarks.chart import render
from benchmarks.conditions import BACKGROUND_OK, background_load, describe
from benchmarks.load import LoadResult, require_wrk, run_plain, run_streams
from benchmarks.procs import (
    Service,
    cores_available,
    cpu_seconds,
    free_port,
    machine_busy_seconds,
    peak_rss_bytes,
    pin,
    post_json,
    repin,
)
from benchmarks.procs import service as start_service
from benchmarks.report import DIRECT, GATEWAY, Row, add_deltas, markdown, raw_json
from benchmarks.scenarios import VARIANTS, Kind, Scenario, Variant, select

RESULTS = Path(__file__).with_name("results")
GATEWAY_CORE, LOAD_CORE = 0, 1


class Bench:
    """One benchmark run: its settings, the emulator it shares, and the rows measured so far."""

    def __init__(self, args: argparse.Namespace, logs: Path) -> None:
        self.duration: float = args.duration
        self.warmup: float = args.warmup
        pin = not args.no_pin and cores_available() >= 2
        self.gateway_core = GATEWAY_CORE if pin else None
        self.load_core = LOAD_CORE if pin else None
        self.logs = logs
        self.profile: bool = args.profile
        self.rows: list[Row] = []
        self.profiles: list[tuple[str, Path]] = []

    def emulator(self) -> AbstractContextManager[Service]:
        port = free_port()
        return start_service(
            "emulator",
            ["emulator", "--host", "127.0.0.1", "--port", str(port)],
            base_url=f"http://127.0.0.1:{port}",
            ready_path="/_emulator/health",
            core=self.load_core,
            env={},
            log=self.logs / "emulator.log",
        )

    def gateway(
        self, variant: Variant, emulator: Service, tag: str
    ) -> AbstractContextManager[Service]:
        port = free_port()
        env = {
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": emulator.url,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "GATEWAY_API_KEYS": payloads.API_KEY,
            **variant.env,
        }
        args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        return start_service(
            f"gateway-{variant.name}",
            [*args, "--server", variant.server],
            base_url=f"http://127.0.0.1:{port}",
            ready_path="/readyz",
            core=self.gateway_core,
            env=env,
            log=self.logs / f"gateway-{variant.name}-{tag}.log",
        )

    def measure(
        self, scenario: Scenario, target: str, server: str, svc: Service, emulator: Service
    ) -> Row:
        """Drive ``svc`` with the scenario's load; read CPU at the edges of the measured window."""
        build = payloads.direct if target == DIRECT else payloads.gateway
        request = build(svc.url, scenario)
        marks: dict[str, tuple[float, float, float, float]] = {}
        samplers: list[pyspy.Sampler] = []
        profile = self.profile and target == GATEWAY

        def mark(phase: str) -> None:
            if profile and phase == "measure":
                raw = self.logs / f"profile-{server}-{scenario.name}.txt"
                samplers.append(pyspy.start(svc.pid, self.duration, raw, self.load_core))
            marks[phase] = (
                time.monotonic(),
                cpu_seconds(svc.pids()),
                cpu_seconds(emulator.pids()),
                machine_busy_seconds(),
            )

        drive = run_plain if scenario.kind is Kind.PLAIN else run_streams
        print(f"  {scenario.name:<12} {target:<8} {server:<9}", end="", flush=True)
        warmup = max(self.warmup, scenario.min_warmup)
        res: LoadResult = drive(
            request, scenario.concurrency, self.duration, warmup, self.load_core, mark
        )
        for sampler in samplers:
            sampler.wait()
            self.profiles.append((f"{scenario.name} — gateway ({server})", sampler.raw))
        (t0, cpu0, emu0, all0), (t1, cpu1, emu1, all1) = marks["measure"], marks["done"]
        peaks = peak_rss_bytes(svc.pids())
        window = max(t1 - t0, 1e-9)
        ours = (cpu1 - cpu0) + (emu1 - emu0 if target == GATEWAY else 0.0)
        ours += (res.loadgen_util or 0.0) * window
        row = Row(
            scenario=scenario.name,
            target=target,
            server=server,
            concurrency=scenario.concurrency,
            rps=res.rps,
            p50_ms=res.p50_ms,
            p99_ms=res.p99_ms,
            errors=res.errors,
            ttft_p50_ms=res.ttft_p50_ms,
            ttft_p99_ms=res.ttft_p99_ms,
            cpu_ms_per_req=(cpu1 - cpu0) * 1000 / res.completed if res.completed else None,
            cpu_util=(cpu1 - cpu0) / window,
            peak_rss_mb=sum(peaks) / 2**20,
            peak_rss_max_proc_mb=max(peaks, default=0) / 2**20,
            loadgen_util=res.loadgen_util,
            emulator_util=(emu1 - emu0) / window if target == GATEWAY else None,
            other_util=max(0.0, (all1 - all0 - ours) / window),
            peak_inflight=res.peak_inflight,
            error_kinds=res.error_kinds,
        )
        p50 = f"{row.p50_ms:7.2f}" if row.p50_ms is not None else "      —"
        ttft = f" ttft p50 {row.ttft_p50_ms:7.2f} ms" if row.ttft_p50_ms is not None else ""
        print(f" {row.rps:9.0f} req/s  p50 {p50} ms{ttft}  errors {row.errors}", flush=True)
        self.rows.append(row)
        return row

    def run(self, scenarios: Sequence[Scenario], variants: Sequence[Variant], direct: bool) -> None:
        with self.emulator() as emu:
            # The request log would grow the emulator's memory and cost it CPU per request.
            post_json(emu.url + "/_emulator/config", b'{"record": false}')
            if direct:
                print("direct (emulator alone)")
                # Measured alone, the emulator takes the core the gateway gets later, so the
                # load generator has the other core to itself, as in the gateway runs.
                repin(emu.pids(), self.gateway_core)
                for s in scenarios:
                    if s.direct:
                        self.measure(s, DIRECT, "emulator", emu, emu)
                repin(emu.pids(), self.load_core)
            for variant in variants:
                print(f"gateway ({variant.name})")
                with contextlib.ExitStack() as stack:
                    if variant.redis_key:
                        url = stack.enter_context(self.redis())
                        variant = replace(variant, env={**variant.env, "GATEWAY_REDIS_URL": url})
                        create_bench_key(variant.env, budgets=variant.budgets)
                    self.run_variant(variant, scenarios, emu)

    def run_variant(self, variant: Variant, scenarios: Sequence[Scenario], emu: Service) -> None:
        mine = [s for s in scenarios if variant.only is None or s.name in variant.only]
        shared = [s for s in mine if not s.fresh_gateway]
        if shared:
            with self.gateway(variant, emu, "shared") as gw:
                for s in shared:
                    self.measure(s, GATEWAY, variant.name, gw, emu)
        for s in mine:
            if s.fresh_gateway:
                with self.gateway(variant, emu, s.name) as gw:
                    self.measure(s, GATEWAY, variant.name, gw, emu)

    @contextlib.contextmanager
    def redis(self) -> Iterator[str]:
        """A private redis-server on the load core: in production Redis is another host, so
        its script time must not land on the gateway's core (an unpinned shared Redis did)."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("the budgets variant needs the redis-server binary")
        port = free_port()
        cmd = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly"]
        cmd += ["no", "--logfile", str(self.logs / "redis.log")]
        proc = subprocess.Popen(pin(cmd, self.load_core))
        url = f"redis://127.0.0.1:{port}/0"
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    with redis.Redis.from_url(url) as client:
                        client.ping()
                    break
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=10)


_STDIN = ("--secret-stdin", "--json")


def create_bench_key(env: Mapping[str, str], *, budgets: bool) -> None:
    """A fresh team and the bench key as its key; with ``budgets``, token budgets far above
    what a run spends on both and an RPM limit on the key (three buckets per call)."""
    full = {**os.environ, **env}
    # The bench owns this database: start from nothing so the fixed bench secret is free.
    with redis.Redis.from_url(env["GATEWAY_REDIS_URL"]) as client:
        client.flushdb()
    team = f"bench{int(time.time())}"
    gateway = [sys.executable, "-m", "gateway"]
    team_limits = ["--budget-day", "100000000000"] if budgets else []
    key_limits = ["--budget-hour", "100000000000", "--rpm", "100000000"] if budgets else []
    subprocess.run(
        [*gateway, "teams", "create", "--id", team, "--name", team, *team_limits, "--json"],
        env=full,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [*gateway, "keys", "create", "--team", team, "--name", "bench", *key_limits, *_STDIN],
        env=full,
        check=True,
        capture_output=True,
        input=payloads.API_KEY.encode(),
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run: few scenarios, ~1 s each")
    parser.add_argument("--duration", type=float, help="measured seconds per scenario (10)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per scenario (2)")
    parser.add_argument(
        "--servers",
        default=",".join(v.name for v in VARIANTS),
        help="gateway variants to run, comma-separated (default: all)",
    )
    parser.add_argument("--scenarios", help="only these scenarios, comma-separated")
    parser.add_argument("--no-direct", action="store_true", help="skip the emulator-only rows")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="scheduling priority for the runner and everything it starts (negative needs "
        "root): on a shared machine, -10 keeps other work from skewing the figures",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the gateway with py-spy in each measured window (hot spots in the report)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    require_wrk()
    if args.nice:
        # Inherited by every process started from here on: emulator, gateway, load generators.
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)
    if args.profile:
        pyspy.require_py_spy()
    if args.duration is None:
        args.duration = 1.0 if args.quick else 10.0
    if args.warmup is None:
        args.warmup = 0.5 if args.quick else 2.0
    only = frozenset(args.scenarios.split(",")) if args.scenarios else None
    scenarios = select(args.quick, only)
    names = args.servers.split(",") if args.servers else []
    known = {v.name: v for v in VARIANTS}
    if unknown := [n for n in names if n not in known]:
        raise SystemExit(f"unknown server variant(s): {', '.join(unknown)}")
    variants = [known[n] for n in names]

    now = datetime.now(UTC)
    started = now.strftime("%Y-%m-%d %H:%M:%S UTC")
    stamp = now.strftime("%Y%m%d-%H%M%S")
    out: Path = args.out
    raw = out / "raw"
    bench = Bench(args, raw / stamp)
    background = background_load()
    if background > BACKGROUND_OK:
        print(f"warning: other processes use {background * 100:.0f}% of a core; expect noise")
    bench.run(scenarios, variants, direct=not args.no_direct)

    add_deltas(bench.rows)
    meta = describe(args, bench.gateway_core, bench.load_core, started, background)
    servers = [v.name for v in variants]
    render(bench.rows, out / f"{stamp}.png")
    report = markdown(bench.rows, servers, meta, chart=f"{stamp}.png")
    if bench.profiles:
        sections = [pyspy.markdown(title, raw) for title, raw in bench.profiles if raw.exists()]
        report += "\n## Profiles (py-spy, measured windows)\n\n" + "\n".join(
            line for section in sections for line in section
        )
    (out / f"{stamp}.md").write_text(report)
    (out / "latest.md").write_text(report.replace(f"]({stamp}.png)", "](latest.png)"))
    (out / "latest.png").write_bytes((out / f"{stamp}.png").read_bytes())
    (raw / f"{stamp}.json").write_text(raw_json(bench.rows, servers, meta))
    print(f"\nwrote {out / f'{stamp}.md'} (and latest.md, {stamp}.png, raw/{stamp}.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
