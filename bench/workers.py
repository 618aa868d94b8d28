"""Scale-out benchmark: 1, 2 and 4 webhook workers on PostgreSQL, and one on SQLite.

Every configuration runs the shipped ``python -m bot webhook`` processes against the fake Bot
API in this process, with 50 ms added to every Bot API call (``--latency``). The fake delivers
updates by webhook over up to 40 connections at once, as Telegram does. The PostgreSQL workers
share one listening port (``SO_REUSEPORT``: the kernel spreads the fake's connections over them),
each with a fresh schema of ``BENCH_DATABASE_URL`` (default ``TEST_DATABASE_URL``, else
``postgresql://127.0.0.1:5432/test``). SQLite is the single-process bot in webhook mode (PTB's
own webhook server).

``--users`` shoppers each run the e2e script (``/start``, a tap, a typed question, a tap) in a
closed loop; reported per configuration: updates/s, p50/p99 latency from injection to the last
reply, and CPU per update of all the bot processes together. The last line gives the speed-up of
2 workers over 1 (goal ≥ 1.7×).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from bench import load_note, median, percentile
from bench.e2e import _SENDING, OURS_SCRIPT, Driver, cpu_seconds, ours_environment, py_spy

SECRET = "bench-workers-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _database_url() -> str:
    return (
        os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("TEST_DATABASE_URL")
        or "postgresql://127.0.0.1:5432/test"
    )


@contextlib.asynccontextmanager
async def workers(
    api: Any, count: int, backend: str, log_path: Path
) -> AsyncIterator[list[subprocess.Popen[bytes]]]:
    """Starts ``count`` webhook workers (``backend`` ``postgres`` or ``sqlite``) on one port."""
    from tests.support import pg_schema_url

    port = _free_port()
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    base = _database_url()
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        env = ours_environment(api, 24, Path(tmp))
        env.update(
            WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram",
            WEBHOOK_LISTEN="127.0.0.1",
            WEBHOOK_PORT=str(port),
            WEBHOOK_SECRET=SECRET,
        )
        if backend == "postgres":
            env["DATABASE_URL"] = pg_schema_url(base, schema)
        seen = len(api.calls)
        try:
            with open(log_path, "ab") as log:
                for _ in range(count):
                    procs.append(
                        subprocess.Popen(
                            [sys.executable, "-m", "bot", "webhook"],
                            cwd=tmp,
                            env=env,
                            stdout=log,
                            stderr=log,
                        )
                    )
            deadline = time.perf_counter() + 180
            while sum(1 for name, _ in api.calls[seen:] if name == "setWebhook") < count:
                for proc in procs:
                    if proc.poll() is not None:
                        tail = log_path.read_bytes()[-2000:].decode("utf-8", "replace")
                        raise RuntimeError(f"a worker exited with {proc.returncode}:\n{tail}")
                if time.perf_counter() > deadline:
                    raise RuntimeError("the workers did not start in time")
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
            yield procs
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    await asyncio.to_thread(proc.wait, 20)
                except subprocess.TimeoutExpired:
                    proc.kill()
            api._updates.clear()
            if backend == "postgres":
                await asyncio.to_thread(_drop_schema, base, schema)


def _drop_schema(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def system_share(pids: list[int]) -> float:
    """System (kernel) CPU seconds of ``pids`` so far."""
    total = 0.0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[12]) / os.sysconf("SC_CLK_TCK")
    return total


def server_cpu() -> float:
    """CPU seconds used so far by the local PostgreSQL server's processes (0 if none is seen)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() not in ("postgres", "postmaster"):
                continue
            total += cpu_seconds(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return total


async def measure(
    api: Any, count: int, backend: str, latency: float, users: int, log_path: Path
) -> tuple[float, list[float], float, float]:
    """Returns updates/s, the latencies (ms), and the CPU ms per update of all the workers and
    of the PostgreSQL server."""
    spy = os.environ.get("BENCH_PYSPY")
    try:
        async with workers(api, count, backend, log_path) as procs:
            driver = Driver(api, OURS_SCRIPT)
            await driver.probe(0.05)
            api.latency = latency
            await driver.closed_loop(min(users, 16))  # warm-up
            out = f"{spy}.{backend}-x{count}.txt" if spy else None
            with py_spy(procs[0].pid, out):
                pids = [p.pid for p in procs]
                calls0 = len(api.calls)
                cpu0, db0, sys0 = (
                    sum(cpu_seconds(p) for p in pids),
                    server_cpu(),
                    system_share(pids),
                )
                me0 = time.process_time()
                n, secs, lat = await driver.closed_loop(users)
                cpu = sum(cpu_seconds(p) for p in pids) - cpu0
                db = server_cpu() - db0
                kernel = system_share(pids) - sys0
                me = time.process_time() - me0
                made: dict[str, int] = {}
                for name, _ in api.calls[calls0:]:
                    made[name] = made.get(name, 0) + 1
                per = ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(made.items()))
                print(
                    f"    {backend} x{count}: {kernel / cpu:.0%} of the workers' CPU in the "
                    f"kernel; fake Bot API + driver {me * 1000 / n:.2f} ms CPU/update; machine "
                    f"busy {(cpu + db + me) / secs:.2f} of {os.cpu_count()} cores; Bot API "
                    f"calls per update: {per}",
                    flush=True,
                )
    finally:
        api.latency = 0.0
        for name in _SENDING:
            api._handlers[name] = getattr(api, f"_m_{name}")
    return n / secs, lat, cpu * 1000 / n, db * 1000 / n


async def run(args: argparse.Namespace) -> str:
    from tests.fakes.bot_api import FakeBotAPI

    log_path = Path(tempfile.gettempdir()) / "bench-workers.log"
    log_path.write_bytes(b"")
    configs = [("sqlite", 1)] + [("postgres", n) for n in args.workers]
    best: dict[tuple[str, int], tuple[float, list[float], float, float]] = {}
    async with FakeBotAPI() as api:
        api.webhook_parallel = 40
        for _ in range(args.rounds):
            for backend, count in configs:
                rate, lat, cpu, db = await measure(
                    api, count, backend, args.latency, args.users, log_path
                )
                print(
                    f"  {backend:8s} x{count}: {rate:6.1f} updates/s, p50 {median(lat):6.1f} ms, "
                    f"p99 {percentile(lat, 99):6.1f} ms, CPU/update: workers {cpu:.2f} ms, "
                    f"PostgreSQL server {db:.2f} ms",
                    flush=True,
                )
                key = (backend, count)
                if key not in best or rate > best[key][0]:
                    best[key] = (rate, lat, cpu, db)
        if api.violations:
            print(f"  spec violations: {api.violations[:5]}", flush=True)
    parts = [
        f"{b} x{n} {r:.0f}/s (p50 {median(lat):.0f} ms, p99 {percentile(lat, 99):.0f} ms)"
        for (b, n), (r, lat, _, _) in best.items()
    ]
    one = best.get(("postgres", 1))
    two = best.get(("postgres", 2))
    speedup = f"; 2 workers / 1 = {two[0] / one[0]:.2f}x (goal >= 1.7x)" if one and two else ""
    return (
        f"workers at {args.latency * 1000:.0f} ms: "
        + ", ".join(parts)
        + speedup
        + f" ({load_note()})"
    )


def main(argv: Sequence[str] | None = None) -> str:
    """Command-line entry for ``workers``."""
    parser = argparse.ArgumentParser(prog="python -m bench workers", description=__doc__)
    parser.add_argument("--latency", type=float, default=0.05, help="Bot API latency, s")
    parser.add_argument("--users", type=int, default=200, help="shoppers in flight")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(list(sys.argv[2:] if argv is None else argv))
    return asyncio.run(run(args))
