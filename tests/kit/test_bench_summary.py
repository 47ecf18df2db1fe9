"""benchmarks/summary.py: ratios against the baseline of the same run, from a hand-made
pytest-benchmark JSON whose answers are known."""
import json
import subprocess
import sys

import pytest

from benchmarks import summary
from grader.submission import REPO

pytestmark = pytest.mark.kit


def bench(group, label, median, *, work, unit="tokens", baseline=False, spread=0.1, **info):
    return {"group": group, "name": f"test_{label}", "fullname": f"benchmarks/x.py::test_{label}",
            "stats": {"min": median - spread, "median": median, "max": median + spread, "rounds": 3},
            "extra_info": {"label": label, "work": work, "unit": unit, "baseline": baseline, **info}}


RUN = {
    "machine_info": {"cpu": {"count": 2}, "textgen_kit": {"device": "cpu", "model": "default"}},
    "benchmarks": [
        bench("greedy", "reference", 1.6, work=32),
        bench("greedy", "generate", 2.0, work=32, baseline=True),  # 16 tokens/s
        bench("greedy", "slow submission", 4.0, work=32),
        bench("samples x8", "8 single runs", 16.0, work=256, baseline=True),  # 16 tokens/s
        bench("samples x8", "one batch", 4.0, work=240),  # 60 tokens/s (rows ended early)
        bench("cache 016 tokens", "no cache", 1.5, work=16, baseline=True, new_tokens=16, cached=False),
        bench("cache 016 tokens", "KV cache", 1.0, work=16, new_tokens=16, cached=True),
        bench("cache 032 tokens", "no cache", 5.0, work=32, baseline=True, new_tokens=32, cached=False),
        bench("cache 032 tokens", "KV cache", 2.0, work=32, new_tokens=32, cached=True),
        bench("orphan", "no baseline here", 1.0, work=1),
    ],
}


def by_label(rows):
    return {(r.group, r.label): r for r in rows}


def test_ratios_compare_speeds_with_the_baseline_of_the_same_group():
    rows = by_label(summary.rows(RUN))
    assert rows["greedy", "reference"].ratio == pytest.approx(2.0 / 1.6)  # faster than generate()
    assert rows["greedy", "slow submission"].ratio == pytest.approx(0.5)
    assert rows["greedy", "generate"].ratio == pytest.approx(1.0)
    # speeds, not times: the batch did fewer tokens than the eight runs
    assert rows["samples x8", "one batch"].ratio == pytest.approx((240 / 4.0) / (256 / 16.0))
    assert rows["cache 032 tokens", "KV cache"].ratio == pytest.approx(2.5)
    assert rows["orphan", "no baseline here"].ratio is None


def test_ratio_range_pairs_the_slowest_round_with_the_fastest():
    reference = by_label(summary.rows(RUN))["greedy", "reference"]
    assert reference.ratio_low == pytest.approx((32 / 1.7) / (32 / 1.9))
    assert reference.ratio_high == pytest.approx((32 / 1.5) / (32 / 2.1))
    assert reference.ratio_low < reference.ratio < reference.ratio_high


def test_each_baseline_comes_first_in_its_group_and_groups_keep_their_order():
    rows = summary.rows(RUN)
    assert [r.group for r in rows][:3] == ["greedy"] * 3 and rows[0].label == "generate"
    assert rows[3].label == "8 single runs"


def test_command_prints_the_table_and_draws_the_cache_plot(tmp_path):
    results = tmp_path / "latest.json"
    results.write_text(json.dumps(RUN))
    plot = tmp_path / "cache.png"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "summary.py"), str(results), "--plot", str(plot)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "| greedy | reference | 3 | 1.500 | 1.600 | 1.700 | 20.0 tokens/s | 1.25x (" in done.stdout
    assert "| orphan | no baseline here |" in done.stdout and done.stdout.count("(baseline)") == 4
    assert (tmp_path / "summary.md").read_text().startswith("Machine: device cpu")
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_missing_results_are_one_line_of_error(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "summary.py"), str(tmp_path / "none.json")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "make bench" in done.stderr
