"""Summarise one pytest-benchmark run: each measurement's min / median / max time, its speed, and
its speed relative to the baseline of its group measured in the same run (2.00x = twice as fast).
Draws the KV cache against no cache plot from the "cache ..." groups.

    python benchmarks/summary.py [results/bench/latest.json ...] [--plot PATH] [--markdown PATH]

Several files (runs of separate benchmark modules) are read as one; each group's ratios still come
from the one run that measured the group.

Each benchmark's extra_info says how much work one round does (`work`, in `unit`s) and whether it
is its group's `baseline` (benchmarks/bench.py). Speed = work / time; the ratio compares speeds
at the median, and its range pairs the slowest round of one with the fastest of the other.
"""
from __future__ import annotations

import argparse
import json
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

DEFAULT_JSON = Path("results/bench/latest.json")
DEFAULT_PLOT = Path("results/bench/cache_vs_nocache.png")


@dataclass
class Row:
    group: str
    label: str
    min: float  # seconds per round
    median: float
    max: float
    rounds: int
    work: float  # units of work per round
    unit: str
    baseline: bool
    info: dict
    ratio: float | None = None  # speed / baseline speed, at the medians
    ratio_low: float | None = None  # slowest round against the baseline's fastest
    ratio_high: float | None = None  # fastest round against the baseline's slowest

    @property
    def speed(self) -> float:
        return self.work / self.median


def rows(data: dict) -> list[Row]:
    """The benchmarks of a pytest-benchmark JSON document, with ratios against their group's baseline."""
    out = []
    for bench in data.get("benchmarks", []):
        stats, info = bench["stats"], bench.get("extra_info", {})
        out.append(Row(group=bench.get("group") or "", label=info.get("label", bench["name"]),
                       min=stats["min"], median=stats["median"], max=stats["max"],
                       rounds=stats["rounds"], work=info.get("work", 1), unit=info.get("unit", "calls"),
                       baseline=bool(info.get("baseline")), info=info))
    for row in out:
        base = next((b for b in out if b.group == row.group and b.baseline), None)
        if base is not None:
            row.ratio = (row.work / row.median) / (base.work / base.median)
            row.ratio_low = (row.work / row.max) / (base.work / base.min)
            row.ratio_high = (row.work / row.min) / (base.work / base.max)
    # groups in the order they ran, each baseline first
    order = {g: i for i, g in reversed(list(enumerate(r.group for r in out)))}
    return sorted(out, key=lambda r: (order[r.group], not r.baseline))


def machine_line(data: dict) -> str:
    machine, kit = data.get("machine_info", {}), data.get("machine_info", {}).get("textgen_kit", {})
    cpu = machine.get("cpu", {})
    parts = [
        f"device {kit.get('device', '?')} ({kit.get('device_name') or cpu.get('brand_raw', '?')})",
        f"{cpu.get('count', '?')} CPU cores, {kit.get('torch_threads', '?')} torch threads",
        f"model {kit.get('model', '?')}, {kit.get('dtype', '?')}",
        f"torch {kit.get('torch', '?')}, transformers {kit.get('transformers', '?')}",
        f"submission {kit.get('submission', '?')}",
    ]
    commit = data.get("commit_info", {}).get("id")
    when = data.get("datetime", "")
    return "; ".join(parts) + (f"; {when[:19]}" if when else "") + (f"; commit {commit[:8]}" if commit else "")


def _speed(row: Row) -> str:
    v = row.speed
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.3g}"


def _ratio(row: Row) -> str:
    if row.baseline:
        return "1.00x (baseline)"
    if row.ratio is None:
        return "-"
    return f"{row.ratio:.2f}x ({row.ratio_low:.2f}-{row.ratio_high:.2f})"


def markdown(table: list[Row], machine: str = "") -> str:
    lines = ([f"Machine: {machine}", ""] if machine else []) + [
        "| Group | Measurement | Rounds | Min s | Median s | Max s | Speed (median) | vs baseline (range) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in table:
        lines.append(f"| {r.group} | {r.label} | {r.rounds} | {r.min:.3f} | {r.median:.3f} | {r.max:.3f} "
                     f"| {_speed(r)} {r.unit}/s | {_ratio(r)} |")
    return "\n".join(lines)


def plot_cache(table: list[Row], path: Path, title: str = "") -> Path | None:
    """Seconds for n new tokens, with and without the KV cache (median; bars from min to max), and
    the same per new token. Returns the path, or None when the run has no "cache" groups."""
    points = [r for r in table if r.group.startswith("cache") and "new_tokens" in r.info]
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (total, per_token) = plt.subplots(1, 2, figsize=(10, 4.4))
    for cached, name in ((True, "KV cache"), (False, "no cache")):
        series = sorted((r for r in points if bool(r.info.get("cached")) == cached), key=lambda r: r.info["new_tokens"])
        if not series:
            continue
        n = [r.info["new_tokens"] for r in series]
        for axis, scale in ((total, [1.0] * len(n)), (per_token, [1000.0 / k for k in n])):
            med = [r.median * s for r, s in zip(series, scale)]
            low = [(r.median - r.min) * s for r, s in zip(series, scale)]
            high = [(r.max - r.median) * s for r, s in zip(series, scale)]
            axis.errorbar(n, med, yerr=[low, high], marker="o", capsize=3, label=name)
    total.set(xlabel="new tokens", ylabel="seconds (median, min-max)", title="Time to decode n tokens")
    per_token.set(xlabel="new tokens", ylabel="ms per new token", title="Cost of one new token")
    for axis in (total, per_token):
        axis.set_xticks(sorted({r.info["new_tokens"] for r in points}))
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
        axis.legend()
    if title:
        fig.suptitle(textwrap.fill(title, 130), fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", nargs="*", type=Path, default=[DEFAULT_JSON],
                        help=f"pytest-benchmark JSON files (--benchmark-json or saved runs; default {DEFAULT_JSON})")
    parser.add_argument("--plot", type=Path, default=DEFAULT_PLOT, help=f"cache plot (default {DEFAULT_PLOT})")
    parser.add_argument("--markdown", type=Path, default=None,
                        help="also write the table there (default: summary.md beside the JSON)")
    args = parser.parse_args(argv)
    runs = []
    for path in args.json:
        try:
            runs.append(json.loads(path.read_text()))
        except (OSError, ValueError) as err:
            print(f"error: cannot read benchmark results {path}: {err}; run `make bench` first", file=sys.stderr)
            return 2
    # one document: the first run's machine, every run's benchmarks
    data = {**runs[0], "benchmarks": [b for run in runs for b in run.get("benchmarks", [])]}
    table = rows(data)
    if not table:
        print(f"error: {' '.join(map(str, args.json))} holds no benchmark results (were they all skipped?)",
              file=sys.stderr)
        return 2
    machine = machine_line(data)
    text = markdown(table, machine)
    print(text)
    out = args.markdown or args.json[0].with_name("summary.md")
    out.write_text(text + "\n")
    print(f"\nTable written to {out}")
    plot = plot_cache(table, args.plot, title=machine)
    if plot:
        print(f"Cache plot written to {plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
