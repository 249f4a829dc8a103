"""The PNG chart: req/s and p50 latency per scenario, direct against each gateway variant."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from benchmarks.report import Row


def render(rows: Sequence[Row], path: Path) -> None:
    # Imported here: matplotlib is a bench-only dependency and slow to import.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = list(dict.fromkeys(r.scenario for r in rows))
    series = list(dict.fromkeys((r.target, r.server) for r in rows))
    by_key = {(r.scenario, r.target, r.server): r for r in rows}
    width = 0.8 / max(1, len(series))

    fig, (ax_rps, ax_p50) = plt.subplots(2, 1, figsize=(max(8, 1.3 * len(scenarios)), 8))
    for i, (target, server) in enumerate(series):
        label = "direct (emulator)" if server == "emulator" else f"{target} ({server})"
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(scenarios))]
        found = [by_key.get((s, target, server)) for s in scenarios]
        bars = ax_rps.bar(xs, [r.rps if r else 0.0 for r in found], width, label=label)
        ax_rps.bar_label(bars, fmt="%.0f", fontsize=6, rotation=90, padding=2)
        bars = ax_p50.bar(xs, [r.p50_ms or 0.0 if r else 0.0 for r in found], width, label=label)
        ax_p50.bar_label(bars, fmt="%.1f", fontsize=6, rotation=90, padding=2)

    for ax, title, unit in (
        (ax_rps, "Throughput", "requests/s (log scale)"),
        (ax_p50, "p50 latency (whole reply)", "ms (log scale)"),
    ):
        # Log scales: paced streams run at a few req/s, plain calls at thousands.
        ax.set_yscale("log")
        ax.margins(y=0.25)
        ax.set_title(title)
        ax.set_ylabel(unit)
        ax.set_xticks(range(len(scenarios)), scenarios, rotation=20, ha="right")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
