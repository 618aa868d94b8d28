"""Store benchmark: SQLite with 10k, 100k (and, with ``--max 1000000``, 1M) conversations.

For each size a fresh database is built with the real schema (``SqliteStore.open``), then
bulk-filled in one transaction with ``executemany``: conversations whose records come from
random walks over the real flows (realistic sizes), a few event-log rows per conversation,
cases for 10% and pending reminders for 5% of them.

The measurements run in a **fresh subprocess** per size (so the bulk insert's memory does not
count): open/start-up time (``SqliteStore.open`` plus the first load), per-update
load + commit over random chats (what :class:`bot.service.Service` does per update: one load,
one commit carrying the conversation and one event-log entry), and resident memory after the
updates (``VmRSS``/``VmHWM`` from ``/proc/self/status``, plus the baseline before opening).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bench import ROOT, content_root, load_note, median, percentile, proc_status_kb
from bot.store.base import Changes, LogEntry
from bot.store.sqlite import DB_NAME, SqliteStore

#: Event-log rows written per conversation when filling.
LOG_PER_CONV = 3
_TEMPLATES = 256


def templates(root: Path = ROOT) -> list[dict[str, Any]]:
    """Returns conversation records (storage form) taken from random walks over the flows."""
    from bench.engine import random_walk
    from bot.engine.engine import Engine

    engine = Engine.load(content_root(root))
    pairs = random_walk(engine, _TEMPLATES * 4, seed=11)
    out: list[dict[str, Any]] = []
    for conv, event in pairs[:: max(1, len(pairs) // _TEMPLATES)][:_TEMPLATES]:
        after = engine.handle(conv, event).conversation
        data = after.to_dict()
        data.pop("version", None)
        out.append(data)
    return out


def fill(path: Path, n: int, recs: Sequence[dict[str, Any]], seed: int = 1) -> float:
    """Creates the schema at ``path`` and inserts ``n`` conversations; returns seconds taken."""
    started = time.perf_counter()
    SqliteStore(path).close()  # the real schema and PRAGMAs
    rng = random.Random(seed)
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -200000")
    base = 1_790_000_000.0
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

    def conversations() -> Iterator[tuple[int, str, str, int, float]]:
        for i in range(n):
            rec = dict(recs[i % len(recs)])
            rec["chat_id"] = chat = 10_000_000 + i
            rec["updated_at"] = at = base - rng.random() * 86400 * 30
            yield chat, str(rec["state"]), dumps(rec), 1 + i % 40, at

    def log_rows() -> Iterator[tuple[int, float, str, str, str]]:
        for i in range(n):
            rec = recs[i % len(recs)]
            for j in range(LOG_PER_CONV):
                yield 10_000_000 + i, base + j, "callback", "menu.start", str(rec["state"])

    def cases() -> Iterator[tuple[str, int, str, float, float, str, str]]:
        fields = dumps({"reason": "seller_refused", "stage": "intro", "order_no": "P1234567890123"})
        timeline = dumps([{"at": base, "what": "opened"}, {"at": base + 60, "what": "updated"}])
        for i in range(0, n, 10):
            yield f"C-2611-{i:07d}", 10_000_000 + i, "open", base, base, fields, timeline

    def reminders() -> Iterator[tuple[int, str, float, str, str, float]]:
        payload = dumps({"state": "track.followup", "set": {"nudged": True}})
        for i in range(0, n, 20):
            yield 10_000_000 + i, "nudge", base + rng.random() * 86400, payload, "pending", base

    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO conversations (chat_id, state, data, version, updated_at) "
        "VALUES (?, ?, ?, ?, ?)",
        conversations(),
    )
    conn.executemany(
        "INSERT INTO event_log (chat_id, at, kind, state_before, state_after) "
        "VALUES (?, ?, ?, ?, ?)",
        log_rows(),
    )
    conn.executemany(
        "INSERT INTO cases (case_id, chat_id, status, created_at, updated_at, fields, timeline) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        cases(),
    )
    conn.executemany(
        "INSERT INTO reminders (chat_id, kind, due, payload, status, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        reminders(),
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - started


def measure(path: Path, n: int, updates: int, seed: int = 5) -> dict[str, Any]:
    """Opens the store and times per-update load + commit (run this in a fresh process)."""
    rss_before = proc_status_kb("VmRSS")
    rng = random.Random(seed)
    t0 = time.perf_counter()
    store = SqliteStore(path)
    first = store.load(10_000_000 + rng.randrange(n))
    startup = time.perf_counter() - t0
    assert first is not None, "the filled database has no such conversation"
    samples: list[float] = []
    cpu: list[float] = []
    clock, thread = time.perf_counter_ns, time.thread_time_ns
    for k in range(updates):
        chat = 10_000_000 + rng.randrange(n)
        c = thread()
        t = clock()
        conv = store.load(chat)
        assert conv is not None
        expected = conv.version
        conv.step += 1
        conv.updated_at = 1_790_000_000.0 + k
        conv.slots["bench_k"] = k
        store.commit(
            Changes(
                conversation=conv,
                expected_version=expected,
                log=[LogEntry(chat, conv.updated_at, "text", conv.state, conv.state)],
            )
        )
        samples.append((clock() - t) / 1e6)
        cpu.append((thread() - c) / 1e6)
    rss_after = proc_status_kb("VmRSS")
    hwm = proc_status_kb("VmHWM")
    store.close()
    return {
        "n": n,
        "startup_ms": startup * 1000,
        "median_ms": median(samples),
        "p99_ms": percentile(samples, 99),
        "cpu_median_ms": median(cpu),
        "cpu_p99_ms": percentile(cpu, 99),
        "updates": len(samples),
        "rss_base_mb": rss_before / 1024,
        "rss_mb": rss_after / 1024,
        "hwm_mb": hwm / 1024,
    }


def _worker(argv: Sequence[str]) -> str:
    path, n, updates = Path(argv[0]), int(argv[1]), int(argv[2])
    return json.dumps(measure(path, n, updates))


def run(sizes: Sequence[int], updates: int, keep: Path | None) -> str:
    """Runs the store benchmark over ``sizes``; returns the final line."""
    recs = templates()
    avg = sum(len(json.dumps(r, ensure_ascii=False).encode()) for r in recs) / len(recs)
    print(f"store: conversation records from random walks, {avg:.0f} bytes of JSON on average")
    tmp = Path(tempfile.mkdtemp(prefix="bench-store-")) if keep is None else keep
    results: list[dict[str, Any]] = []
    try:
        for n in sizes:
            path = tmp / f"{n}" / DB_NAME
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                took = fill(path, n, recs)
                print(f"  {n:>9,d}: filled in {took:.1f} s", end="")
            else:
                print(f"  {n:>9,d}: reusing {path}", end="")
            size_mb = sum(p.stat().st_size for p in path.parent.iterdir()) / 1e6
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench",
                    "store",
                    "--worker",
                    str(path),
                    str(n),
                    str(updates),
                ],
                check=False,
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            if out.returncode != 0:
                raise SystemExit(f"\nstore worker failed:\n{out.stderr}")
            r = json.loads(out.stdout.strip().splitlines()[-1])
            r["db_mb"] = size_mb
            results.append(r)
            print(
                f", {size_mb:.0f} MB on disk; start-up {r['startup_ms']:.1f} ms; load+commit "
                f"median {r['median_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms (CPU time median "
                f"{r['cpu_median_ms']:.3f}, p99 {r['cpu_p99_ms']:.3f} ms); "
                f"RSS {r['rss_mb']:.1f} MB (peak {r['hwm_mb']:.1f}, "
                f"{r['rss_base_mb']:.1f} before opening)"
            )
    finally:
        if keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    last = results[-1]
    return (
        f"store: at {last['n']:,d} conversations load+commit median {last['median_ms']:.3f} ms, "
        f"p99 {last['p99_ms']:.3f} ms (CPU p99 {last['cpu_p99_ms']:.3f} ms), "
        f"start-up {last['startup_ms']:.1f} ms, RSS {last['rss_mb']:.1f} MB "
        f"(peak {last['hwm_mb']:.1f}) (n={last['updates']}; "
        f"{load_note()}; targets <= 1 ms, <= 2 s, <= 150 MB at 1M)"
    )


def main(argv: Sequence[str] | None = None) -> str:
    """Command-line entry for ``store``."""
    args_in = list(sys.argv[2:] if argv is None else argv)
    if args_in[:1] == ["--worker"]:
        return _worker(args_in[1:])
    parser = argparse.ArgumentParser(prog="python -m bench store")
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated sizes")
    parser.add_argument("--max", type=int, default=0, help="add sizes x10 up to this (1000000)")
    parser.add_argument("--updates", type=int, default=3000, help="timed updates per size")
    parser.add_argument("--keep", type=Path, default=None, help="build/reuse databases here")
    args = parser.parse_args(args_in)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    while args.max and sizes[-1] * 10 <= args.max:
        sizes.append(sizes[-1] * 10)
    return run(sizes, args.updates, args.keep)
