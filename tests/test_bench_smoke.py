"""Smoke runs of the benchmarks at tiny sizes: each runs and prints its figure last.

No timing is asserted here (figures live in docs/performance.md); only that every sub-command
works end to end and reports in the documented one-line form.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import percentile
from bench.engine import random_walk, write_synthetic
from bot.engine.engine import Engine

ROOT = Path(__file__).resolve().parents[1]


def run_bench(*args: str, timeout: float = 240) -> str:
    """Runs ``python -m bench ARGS``; returns the last line of its output."""
    done = subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr[-3000:]
    return lines[-1]


def test_percentile_is_nearest_rank() -> None:
    samples = [float(x) for x in range(1, 101)]
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 99) == 99.0
    assert percentile([3.0], 99) == 3.0
    assert percentile([], 50) == 0.0


@pytest.mark.parametrize("states", [10, 30])
def test_synthetic_flows_load_with_the_requested_size(tmp_path: Path, states: int) -> None:
    write_synthetic(tmp_path, states)
    engine = Engine.load(tmp_path)
    assert len(engine.bundle.states) == states + 2  # plus menu.start and menu.human
    pairs = random_walk(engine, 50, seed=1)
    assert len(pairs) == 50
    assert {event.kind for _, event in pairs} >= {"callback", "text"}


def test_engine_prints_median_and_p99() -> None:
    line = run_bench("engine", "-n", "300")
    assert re.match(r"^engine: median [\d.]+ µs/update, p99 [\d.]+ µs \(n=300;", line), line


def test_engine_scale_reports_each_size() -> None:
    line = run_bench("engine-scale", "-n", "200", "--sizes", "10,30")
    assert re.match(r"^engine-scale: median 12 states [\d.]+ µs, 32 states [\d.]+ µs;", line), line


def test_store_reports_load_commit_startup_and_rss() -> None:
    line = run_bench("store", "--sizes", "300", "--updates", "30")
    assert re.match(
        r"^store: at 300 conversations load\+commit median [\d.]+ ms, p99 [\d.]+ ms .*"
        r"start-up [\d.]+ ms, RSS [\d.]+ MB",
        line,
    ), line


def test_memory_reports_bytes_per_conversation() -> None:
    line = run_bench("memory", "-n", "40")
    assert re.match(r"^memory: -?\d+ bytes per active conversation", line), line


def test_e2e_compares_our_bot_with_echo() -> None:
    line = run_bench(
        "e2e",
        "--latency",
        "0",
        "--users",
        "2",
        "--echo-n",
        "1",
        "--ours-n",
        "2",
        "--rate",
        "10",
        "--seconds",
        "0.5",
        "--rounds",
        "1",
    )
    assert re.match(r"^e2e: 0 ms: ours [\d.]+/s .* vs echo [\d.]+/s .* = [\d.]+x", line), line
    assert "steady 10/s at 50 ms: p99" in line, line


def test_workers_reports_each_configuration(
    pg_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENCH_DATABASE_URL", pg_server)
    line = run_bench("workers", "--latency", "0", "--users", "2", "--workers", "1", "2")
    assert re.match(
        r"^workers at 0 ms: sqlite x1 [\d.]+/s .*postgres x1 .*postgres x2 .*"
        r"2 workers / 1 = [\d.]+x",
        line,
    ), line
