"""Memory benchmark: bytes held in the process per active conversation.

Runs ``N`` new chats through :class:`bot.service.Service` (real engine, SQLite store in a
temporary directory), a few events each (``/start``, a tap, typed text, a photo), after a
warm-up that fills every cache that does not grow with the number of chats. ``tracemalloc``
snapshots before and after (``gc.collect()`` first) give the bytes still allocated; divided by
``N`` that is what one more active conversation costs the process. The conversations
themselves live in SQLite, so the figure should be close to zero; the per-chat structures the
Telegram layer keeps (PTB's ``chat_data``/``user_data``, the per-chat rate limiter) are
measured separately in the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import tracemalloc
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from bench import ROOT, content_root
from bench.engine import START, shown_buttons
from bot.engine.engine import Engine
from bot.engine.model import Event
from bot.service import Service
from bot.store.sqlite import SqliteStore


async def _chat(service: Service, chat_id: int, minute: int) -> None:
    now = START + timedelta(minutes=minute)
    out = await service.handle(chat_id, Event("command", now, command="start"))
    buttons = shown_buttons(out)
    if buttons:
        out = await service.handle(chat_id, Event("callback", now, data=buttons[0].data))
    await service.handle(chat_id, Event("text", now, text="卖家不同意退货怎么办"))
    await service.handle(chat_id, Event("media", now, media="photo", file_id=f"F{chat_id}"))


def _held(snapshot_a: tracemalloc.Snapshot, snapshot_b: tracemalloc.Snapshot) -> int:
    return sum(stat.size_diff for stat in snapshot_b.compare_to(snapshot_a, "filename"))


async def measure_service(n: int, root: Path = ROOT) -> float:
    """Returns bytes held per chat after ``n`` chats went through the service."""
    engine = Engine.load(content_root(root))
    with tempfile.TemporaryDirectory(prefix="bench-mem-") as tmp:
        store = SqliteStore.open(Path(tmp))
        service = Service(engine, store, clock=lambda: START)
        for i in range(200):  # warm-up: caches that do not grow with chats
            await _chat(service, 1 + i, i)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        for i in range(n):
            await _chat(service, 10_000 + i, i)
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        held = _held(before, after)
        top = after.compare_to(before, "lineno")[:3]
        for stat in top:
            print(f"    {stat}")
        store.close()
    return held / n


async def measure_telegram_layer(n: int) -> tuple[float, float]:
    """Returns bytes per chat held by PTB's per-chat data and by the per-chat rate limiter."""
    from telegram.ext import Application

    from bot.tg.transport import RateLimiter

    app = Application.builder().token("123:" + "A" * 30).build()
    limiter = RateLimiter()
    for i in range(50):
        _ = app.chat_data[i], app.user_data[i]
        limiter._chat_limiter(i)
    gc.collect()
    tracemalloc.start()
    a = tracemalloc.take_snapshot()
    for i in range(n):
        _ = app.chat_data[1000 + i], app.user_data[1000 + i]  # what a handler touching them adds
    gc.collect()
    b = tracemalloc.take_snapshot()
    for i in range(n):
        limiter._chat_limiter(1000 + i)  # pruned to ~1024 idle entries
    gc.collect()
    c = tracemalloc.take_snapshot()
    tracemalloc.stop()
    return _held(a, b) / n, _held(b, c) / n


def main(argv: Sequence[str] | None = None) -> str:
    """Command-line entry for ``memory``."""
    parser = argparse.ArgumentParser(prog="python -m bench memory")
    parser.add_argument("-n", type=int, default=2000, help="chats (4 events each)")
    args = parser.parse_args(argv)
    per_chat = asyncio.run(measure_service(args.n))
    ptb, limiter = asyncio.run(measure_telegram_layer(args.n))
    print(
        f"  service+engine+store: {per_chat:.0f} B/chat; PTB chat_data+user_data if touched: "
        f"{ptb:.0f} B/chat; per-chat rate limiter: {limiter:.0f} B/chat (capped ~1024 chats)"
    )
    total = per_chat + limiter
    return (
        f"memory: {total:.0f} bytes per active conversation (service+engine+store {per_chat:.0f}, "
        f"rate limiter {limiter:.0f}; n={args.n}; target <= 2048)"
    )
