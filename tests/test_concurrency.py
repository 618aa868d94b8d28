"""Concurrency: 500 shoppers at once and bursts of taps from one shopper.

Per-chat order holds and no transition is lost or doubled: the event log of every chat is a
chain (each entry starts where the previous one ended) with exactly one entry per update, and
every shopper ends where their script leads. Through the Service over MemoryStore and SQLite,
and through the real Telegram application against the fake Bot API.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from bot.engine.model import Event
from bot.service import Service
from bot.store.base import Store
from bot.store.memory import MemoryStore
from bot.store.sqlite import open_store
from tests.e2e.harness import button, running_bot, with_buttons
from tests.fakes.bot_api import FakeBotAPI
from tests.support import TZ
from tests.test_bad_input import Shopper, clock, engine

SHOPPERS = 500
#: The refusal script: what each step does and the state it must lead to.
SCRIPT: list[tuple[str, str, str]] = [
    ("send", "/start", "menu.start"),
    ("tap", "正在派送", "menu.problem"),
    ("tap", "包裹破损", "menu.confirm"),
    ("tap", "对，就是这样", "k2.start"),
]


def _stores(tmp: Path) -> dict[str, Callable[[], Store]]:
    return {"memory": MemoryStore, "sqlite": lambda: open_store(tmp)}


def assert_chain(store: Store, chat_id: int, updates: int) -> None:
    """The chat's log has one entry per update, each starting where the previous ended."""
    log = list(store.log_of(chat_id, limit=1000))
    assert len(log) == updates, (chat_id, [(e.kind, e.state_before, e.state_after) for e in log])
    for prev, cur in itertools.pairwise(log):
        assert cur.state_before == prev.state_after, (chat_id, prev, cur)


async def _play(shopper: Shopper) -> None:
    for kind, arg, state in SCRIPT:
        await (shopper.send(arg) if kind == "send" else shopper.tap(arg))
        assert shopper.state() == state, (shopper.chat_id, arg, shopper.state())
        await asyncio.sleep(0)  # let the other shoppers in between steps


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
async def test_500_shoppers_at_once_through_the_service(tmp_path: Path, backend: str) -> None:
    store = _stores(tmp_path)[backend]()
    try:
        svc = Service(engine(), store, clock())
        shoppers = [Shopper(svc, 100_000 + i) for i in range(SHOPPERS)]
        await asyncio.gather(*(_play(s) for s in shoppers))
        assert store.count_conversations() == SHOPPERS
        for s in shoppers:
            conv = store.load(s.chat_id)
            assert conv is not None and conv.state == "k2.start"
            assert conv.version == len(SCRIPT)
            assert_chain(store, s.chat_id, len(SCRIPT))
        assert len(svc.locks) == 0  # no lock left behind
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
async def test_a_burst_of_taps_moves_once_and_keeps_arrival_order(
    tmp_path: Path, backend: str
) -> None:
    store = _stores(tmp_path)[backend]()
    try:
        svc = Service(engine(), store, clock())
        shopper = Shopper(svc, 7001)
        await shopper.send("/start")
        data = next(b.data for b in shopper.buttons if "正在派送" in b.label)
        other = next(b.data for b in shopper.buttons if "正在派送" not in b.label)
        # Ten taps on the same button plus one on another, all at once.
        taps = [data] * 10 + [other]
        outs = await asyncio.gather(
            *(svc.handle(7001, lambda now, d=d: Event("callback", now, data=d)) for d in taps)
        )
        moved = [o for o in outs if o.state_before != o.conversation.state]
        assert len(moved) == 1 and moved[0].conversation.state == "menu.problem"
        assert outs[0] is moved[0]  # the first tap to arrive is the one applied
        # Every duplicate was answered with a toast, never silence.
        for out in outs[1:]:
            assert out.replies or any(e.kind == "toast" for e in out.effects)
        conv = store.load(7001)
        assert conv is not None and conv.state == "menu.problem"
        assert_chain(store, 7001, 1 + len(taps))
        # Typed events in a burst are applied in the order they arrived.
        kinds = ["text", "command", "media", "text", "command"]

        def event(kind: str) -> Callable[..., Event]:
            if kind == "text":
                return lambda now: Event("text", now, text="嗯")
            if kind == "command":
                return lambda now: Event("command", now, command="help")
            return lambda now: Event("media", now, media="photo", file_id="F")

        await asyncio.gather(*(svc.handle(7001, event(k)) for k in kinds))
        log = list(store.log_of(7001, limit=1000))
        assert [e.kind for e in log[-len(kinds) :]] == kinds
    finally:
        store.close()


def test_two_threads_sharing_one_memory_store_lose_nothing() -> None:
    """Two services (own event loops, own threads) on one store: every update lands once."""
    store = MemoryStore()
    errors: list[BaseException] = []

    def worker(offset: int) -> None:
        async def main() -> None:
            svc = Service(engine(), store, clock())
            await asyncio.gather(*(_play(Shopper(svc, offset + i)) for i in range(50)))

        try:
            asyncio.run(main())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(o,)) for o in (200_000, 300_000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for offset in (200_000, 300_000):
        for i in range(50):
            assert_chain(store, offset + i, len(SCRIPT))


async def test_500_shoppers_at_once_through_telegram(bot_api: FakeBotAPI, tmp_path: Path) -> None:
    """The real PTB application over HTTP: every shopper gets every reply once, in order."""
    bot_api.latency = 0.0
    users = [bot_api.user(400_000 + i, f"U{i}") for i in range(SHOPPERS)]
    async with running_bot(bot_api, tmp_path / "data", CONCURRENCY=str(64)):
        for u in users:
            u.send_text("/start")
        await bot_api.wait_until(
            lambda: all(bot_api.sent(u.id) for u in users), 120, "a greeting for everyone"
        )
        for u in users:
            menu = with_buttons(bot_api.sent(u.id))
            u.tap(menu, button(menu, "正在派送"))
        await bot_api.wait_until(
            lambda: all(
                any("遇到了什么问题" in (m.text or "") for m in bot_api.sent(u.id)) for u in users
            ),
            120,
            "the problem question for everyone",
        )
        await bot_api.wait_until(lambda: not bot_api.unanswered_callbacks(), 30, "answers")
    for u in users:
        texts = [m.text or "" for m in bot_api.sent(u.id)]
        assert sum("订单现在到哪一步了" in t for t in texts) == 1, texts
        assert sum("遇到了什么问题" in t for t in texts) == 1, texts
        first = next(i for i, t in enumerate(texts) if "订单现在到哪一步了" in t)
        second = next(i for i, t in enumerate(texts) if "遇到了什么问题" in t)
        assert first < second
    store = open_store(tmp_path / "data")
    try:
        for u in users[:: max(1, SHOPPERS // 50)]:
            conv = store.load(u.chat_id)
            assert conv is not None and conv.state == "menu.problem"
            assert_chain(store, u.chat_id, 2)
    finally:
        store.close()


def test_one_engine_shared_by_threads_keeps_every_conversation_apart() -> None:
    """The engine is built once and may be shared by threads (several services, a worker pool):
    each conversation follows its own script. The interpreter switches threads every microsecond
    here so that a race in the engine shows up on every run, not once in a while under load."""
    eng = engine()
    now = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)
    wrong: list[object] = []

    def worker(base: int) -> None:
        try:
            for i in range(200):
                out = eng.handle(
                    eng.new_conversation(base + i), Event("command", now, command="start")
                )
                for kind, label, state in SCRIPT[1:]:
                    assert kind == "tap"
                    data = next(
                        b.data
                        for r in out.replies
                        for row in r.buttons
                        for b in row
                        if label in b.label
                    )
                    out = eng.handle(out.conversation, Event("callback", now, data=data))
                    assert out.conversation.state == state, (base + i, label, state)
        except BaseException as exc:
            wrong.append(exc)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=worker, args=(k * 10_000,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        sys.setswitchinterval(old)
    assert not wrong, wrong[:3]
