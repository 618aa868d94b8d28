"""Concurrency benchmark: updates/s of the real bot for several ``CONCURRENCY`` values.

``python -m bench.concurrency [--updates 256] [--latency 0 0.05] [--n 1 8 32 64 256]``

For each latency the fake Bot API adds to every call and each N, it starts the real PTB
application (``bot.tg.app.build_application``, SQLite store in a temporary directory) against
the fake server on 127.0.0.1, lets ``--updates`` different shoppers send ``/start`` at once and
times until every reply has been delivered. The overall 30 messages/s rate limit is lifted
here: it caps what Telegram accepts, not what the bot can handle (see docs/telegram.md).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bot.config import load_settings
from bot.engine.engine import Engine
from bot.store.sqlite import open_store
from bot.tg.app import ALLOWED_UPDATES, ROOT, build_application
from bot.tg.transport import Limits
from tests.fakes.bot_api import FakeBotAPI

UNLIMITED = Limits(overall_per_second=1_000_000, chat_per_second=1_000_000, chat_burst=1_000_000)


async def measure(engine: Engine, n: int, latency: float, updates: int) -> float:
    """Returns updates/s for ``updates`` shoppers sending ``/start`` with concurrency ``n``."""
    async with FakeBotAPI() as api:
        api.latency = latency
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(
                {
                    "TELEGRAM_BOT_TOKEN": api.token,
                    "TELEGRAM_API_URL": api.url,
                    "BOT_DATA_DIR": tmp,
                    "CONCURRENCY": str(n),
                },
                None,
            )
            app = build_application(settings, engine, open_store(Path(tmp)), limits=UNLIMITED)
            await app.initialize()
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(
                poll_interval=0, timeout=1, allowed_updates=ALLOWED_UPDATES
            )
            try:
                # One shopper first, to learn how many messages /start produces.
                probe = api.user(9_000_000, "probe")
                probe.send_text("/start")
                await api.wait_until(lambda: bool(api.sent(probe.id)), 30, "probe reply")
                await asyncio.sleep(0.3 + 3 * latency)
                per_update = len(api.sent(probe.id))
                users = [api.user(10_000_000 + i, f"u{i}") for i in range(updates)]
                started = time.perf_counter()
                for user in users:
                    user.send_text("/start")
                await api.wait_until(
                    lambda: sum(len(api.sent(u.id)) for u in users) >= per_update * updates,
                    600,
                    "all replies",
                )
                elapsed = time.perf_counter() - started
            finally:
                await app.updater.stop()
                await app.stop()
                await app.shutdown()
            if api.violations:
                raise AssertionError(f"spec violations: {api.violations[:3]}")
    return updates / elapsed


async def run(ns: Sequence[int], latencies: Sequence[float], updates: int) -> str:
    """Prints one line per (latency, N); returns the best N per latency as the final line."""
    engine = Engine.load(ROOT)
    best: list[str] = []
    for latency in latencies:
        figures: dict[int, float] = {}
        for n in ns:
            figures[n] = await measure(engine, n, latency, updates)
            print(f"latency {latency * 1000:4.0f} ms  N={n:<4d} {figures[n]:8.1f} updates/s")
        top = max(figures, key=lambda k: figures[k])
        best.append(f"{latency * 1000:.0f} ms: best N={top} ({figures[top]:.0f}/s)")
    return "concurrency: " + "; ".join(best)


def main(argv: Sequence[str] = ()) -> str:
    """Parses options, runs the measurements, prints and returns the final line."""
    parser = argparse.ArgumentParser(prog="python -m bench.concurrency")
    parser.add_argument("--n", type=int, nargs="+", default=[1, 8, 32, 64, 256])
    parser.add_argument("--latency", type=float, nargs="+", default=[0.0, 0.05])
    parser.add_argument("--updates", type=int, default=256)
    args = parser.parse_args(list(argv))
    logging.basicConfig(level=logging.WARNING)
    line = asyncio.run(run(args.n, args.latency, args.updates))
    print(line)
    return line


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
