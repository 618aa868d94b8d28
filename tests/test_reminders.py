"""The reminder scheduler over real stores: restarts, quiet hours, cancel, 403 (issue 5)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bot.engine.model import Conversation, Event, Outcome, Reply
from bot.reminders import (
    CALLBACK_PREFIX,
    ReminderScheduler,
    cancel_all,
    on_reminder_callback,
    reminders_view,
)
from bot.store.base import Changes, Reminder, Store
from bot.store.memory import MemoryStore
from bot.store.sqlite import SqliteStore
from tests.support import TZ, Clock, at


class FakeService:
    """Records reminder events; answers with one reply naming the target state."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.events: list[tuple[int, Event]] = []
        self.engine = SimpleNamespace(tz=TZ)

    async def handle(
        self,
        chat_id: int,
        event: Event | Callable[[datetime], Event],
        locale_hint: str | None = None,
    ) -> Outcome:
        ev = event if isinstance(event, Event) else event(self.clock())
        await asyncio.sleep(0)  # let another scheduler run in between (as a real service would)
        self.events.append((chat_id, ev))
        state = str(ev.payload.get("state"))
        return Outcome(Conversation(chat_id=chat_id, state=state), (Reply(f"ask {state}"),))


class Forbidden(Exception):
    """Like telegram.error.Forbidden (matched by class name)."""


class Outbox:
    """The front end's send function: records what reached each chat."""

    def __init__(self, blocked: frozenset[int] = frozenset(), flaky: frozenset[int] = frozenset()):
        self.sent: list[tuple[int, str]] = []
        self.attempts: list[int] = []
        self.blocked = blocked
        self.flaky = flaky
        self.arrived = asyncio.Event()

    async def __call__(self, chat_id: int, outcome: Outcome) -> None:
        self.attempts.append(chat_id)
        if chat_id in self.blocked:
            raise Forbidden("Forbidden: bot was blocked by the user")
        if chat_id in self.flaky:
            raise ConnectionError("network down")
        for reply in outcome.replies:
            self.sent.append((chat_id, reply.text or ""))
        self.arrived.set()


def add(store: Store, chat_id: int, kind: str, due: datetime, state: str = "") -> None:
    payload: dict[str, Any] = {"state": state or f"followup.{kind}", "set": {}}
    store.commit(Changes(reminders_add=[Reminder(None, chat_id, kind, due.timestamp(), payload)]))


def scheduler(store: Store, clock: Clock, out: Outbox) -> tuple[ReminderScheduler, FakeService]:
    service = FakeService(clock)
    return ReminderScheduler(store, service, out, clock), service


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "bot.sqlite3"


@pytest.fixture
def stores(db: Path) -> Iterator[list[SqliteStore]]:
    opened: list[SqliteStore] = []
    yield opened
    for s in opened:
        s.close()


def reopen(db: Path, opened: list[SqliteStore]) -> SqliteStore:
    store = SqliteStore(db)
    opened.append(store)
    return store


# -- restart: due and overdue, sent once, never twice ------------------------------------------


async def test_restart_sends_overdue_once_and_due_later_once(
    db: Path, stores: list[SqliteStore]
) -> None:
    clock = Clock(at("2026-11-23", 9))
    first = reopen(db, stores)
    add(first, 1, "seller", at("2026-11-20", 10))  # fell due while the bot was down
    add(first, 2, "refund", at("2026-11-23", 11))  # due later today
    first.close()
    stores.remove(first)

    out = Outbox()
    sched, service = scheduler(reopen(db, stores), clock, out)
    assert await sched.run_due() == 1
    assert out.sent == [(1, "ask followup.seller")]
    assert service.events[0][1].kind == "reminder"
    assert service.events[0][1].data == "seller"

    # a second start-up over the same file: nothing new to send
    sched2, _ = scheduler(reopen(db, stores), clock, out)
    assert await sched2.run_due() == 0
    assert out.sent == [(1, "ask followup.seller")]

    clock.now = at("2026-11-23", 11, 1)
    sched3, _ = scheduler(reopen(db, stores), clock, out)
    assert await sched3.run_due() == 1
    assert await sched3.run_due() == 0
    assert await sched.run_due() == 0  # the old instance does not resend either
    assert out.sent == [(1, "ask followup.seller"), (2, "ask followup.refund")]


async def test_two_schedulers_on_one_database_deliver_once(
    db: Path, stores: list[SqliteStore]
) -> None:
    clock = Clock(at("2026-11-23", 9))
    for chat in range(1, 21):
        add(reopen(db, stores) if chat == 1 else stores[0], chat, "seller", at("2026-11-23", 8))
    out = Outbox()
    a, _ = scheduler(reopen(db, stores), clock, out)
    b, _ = scheduler(reopen(db, stores), clock, out)
    counts = await asyncio.gather(a.run_due(), b.run_due())
    assert sum(counts) == 20
    assert sorted(chat for chat, _ in out.sent) == list(range(1, 21))


async def test_a_reminder_not_yet_due_is_not_sent() -> None:
    store = MemoryStore()
    clock = Clock(at("2026-11-23", 9))
    add(store, 1, "window", at("2026-11-23", 10))
    out = Outbox()
    sched, _ = scheduler(store, clock, out)
    assert await sched.run_due() == 0
    assert [r.kind for r in store.pending_reminders(1)] == ["window"]


async def test_more_due_reminders_than_one_batch() -> None:
    store = MemoryStore()
    clock = Clock(at("2026-11-23", 9))
    for chat in range(250):
        add(store, chat, "seller", at("2026-11-23", 8))
    out = Outbox()
    sched = ReminderScheduler(store, FakeService(clock), out, clock, batch=100)
    assert await sched.run_due() == 250
    assert len({chat for chat, _ in out.sent}) == 250


# -- quiet hours -------------------------------------------------------------------------------


async def test_quiet_hours_delay_not_drop(db: Path, stores: list[SqliteStore]) -> None:
    store = reopen(db, stores)
    clock = Clock(at("2026-11-23", 23, 30))
    add(store, 1, "seller", at("2026-11-23", 23))
    out = Outbox()
    sched, _ = scheduler(store, clock, out)
    assert await sched.run_due() == 0
    assert out.sent == []
    [pending] = store.pending_reminders(1)
    assert pending.due == at("2026-11-24", 8).timestamp()

    clock.now = at("2026-11-24", 7, 59)
    assert await sched.run_due() == 0
    # the delay survives a restart: a new scheduler sends it at 08:00
    clock.now = at("2026-11-24", 8)
    sched2, _ = scheduler(reopen(db, stores), clock, out)
    assert await sched2.run_due() == 1
    assert out.sent == [(1, "ask followup.seller")]


async def test_custom_quiet_hours() -> None:
    store = MemoryStore()
    clock = Clock(at("2026-11-23", 12, 30))
    add(store, 1, "seller", at("2026-11-23", 12))
    out = Outbox()
    sched = ReminderScheduler(
        store, FakeService(clock), out, clock, quiet=(time(12, 0), time(14, 0))
    )
    assert await sched.run_due() == 0
    assert store.pending_reminders(1)[0].due == at("2026-11-23", 14).timestamp()


# -- cancel ------------------------------------------------------------------------------------


async def test_cancelled_reminders_are_never_sent() -> None:
    store = MemoryStore()
    clock = Clock(at("2026-11-23", 9))
    add(store, 1, "window", at("2026-11-23", 8))
    add(store, 1, "seller", at("2026-11-23", 8))
    store.commit(Changes(reminders_cancel=[(1, "window")]))
    out = Outbox()
    sched, _ = scheduler(store, clock, out)
    assert await sched.run_due() == 1
    assert out.sent == [(1, "ask followup.seller")]


def text(key: str, **values: object) -> str:
    return key + "".join(f" {k}={v}" for k, v in sorted(values.items()))


def test_reminders_view_lists_only_own_and_cancels_only_own() -> None:
    store = MemoryStore()
    add(store, 1, "window", at("2026-11-26", 10))
    add(store, 1, "seller", at("2026-11-25", 15))
    add(store, 2, "refund", at("2026-12-04", 10))
    [reply] = reminders_view(store, text, 1, "Asia/Shanghai", now=at("2026-11-23"))
    assert reply.text is not None
    # the times go to the locale (which formats them for the shopper's language)
    assert "text=followup.kind.seller today=2026-11-23 when=2026-11-25 15:00:00+08:00" in reply.text
    assert "text=followup.kind.window today=2026-11-23 when=2026-11-26 10:00:00+08:00" in reply.text
    assert "refund" not in reply.text
    datas = [b.data for row in reply.buttons for b in row]
    mine = [r.id for r in store.pending_reminders(1)]
    theirs = store.pending_reminders(2)[0].id
    assert datas == [f"{CALLBACK_PREFIX}{i}" for i in mine] + [f"{CALLBACK_PREFIX}all"]
    assert all(len(d.encode()) <= 64 for d in datas)

    # someone else's id: refused, nothing cancelled
    replies = on_reminder_callback(store, text, 1, f"{CALLBACK_PREFIX}{theirs}", "Asia/Shanghai")
    assert replies is not None and replies[0].text == "followup.cancel_gone"
    assert len(store.pending_reminders(2)) == 1

    replies = on_reminder_callback(store, text, 1, f"{CALLBACK_PREFIX}{mine[0]}", "Asia/Shanghai")
    assert replies is not None and replies[0].text == "followup.cancelled_one"
    assert [r.kind for r in store.pending_reminders(1)] == ["window"]
    # a second tap on the same button
    replies = on_reminder_callback(store, text, 1, f"{CALLBACK_PREFIX}{mine[0]}", "Asia/Shanghai")
    assert replies is not None and replies[0].text == "followup.cancel_gone"
    assert on_reminder_callback(store, text, 1, "3|menu.start|0", "Asia/Shanghai") is None


def test_reminders_view_empty() -> None:
    store = MemoryStore()
    [reply] = reminders_view(store, text, 1, "Asia/Shanghai")
    assert reply.text == "followup.list.empty" and reply.buttons == ()


async def test_stop_cancels_all_records_consent_and_can_be_undone() -> None:
    store = MemoryStore()
    clock = Clock(at("2026-11-23", 9))
    add(store, 1, "window", at("2026-11-26", 10))
    add(store, 1, "seller", at("2026-11-25", 15))
    assert cancel_all(store, 1) == 2
    assert store.pending_reminders(1) == []
    assert store.chat_flags(1)["reminders_consent"] is False
    [reply] = reminders_view(store, text, 1, "Asia/Shanghai")
    assert reply.text == "followup.list.off"
    # planned after /stop (e.g. by a flow action): not delivered, cancelled
    add(store, 1, "refund", at("2026-11-23", 8))
    out = Outbox()
    sched, _ = scheduler(store, clock, out)
    assert await sched.run_due() == 0
    assert out.sent == [] and store.pending_reminders(1) == []
    assert on_reminder_callback(store, text, 1, f"{CALLBACK_PREFIX}on", "Asia/Shanghai") is not None
    assert store.chat_flags(1)["reminders_consent"] is True


# -- 403 -------------------------------------------------------------------------------------


async def test_forbidden_marks_blocked_and_never_retries() -> None:
    store = MemoryStore()
    clock = Clock(at("2026-11-23", 9))
    add(store, 1, "seller", at("2026-11-23", 8))
    add(store, 1, "refund", at("2026-11-30", 10))
    add(store, 2, "seller", at("2026-11-23", 8))
    out = Outbox(blocked=frozenset({1}))
    sched, _ = scheduler(store, clock, out)
    assert await sched.run_due() == 1
    assert store.chat_flags(1)["blocked"] is True
    assert store.pending_reminders(1) == []
    assert out.sent == [(2, "ask followup.seller")]

    # later reminders for the blocked chat are not even attempted
    add(store, 1, "nudge", at("2026-11-23", 8))
    clock.now = at("2026-12-01", 9)
    assert await sched.run_due() == 0
    assert out.attempts.count(1) == 1
    assert store.pending_reminders(1) == []


async def test_other_delivery_errors_do_not_block_and_do_not_resend() -> None:
    store = MemoryStore()
    clock = Clock(at("2026-11-23", 9))
    add(store, 1, "seller", at("2026-11-23", 8))
    out = Outbox(flaky=frozenset({1}))
    sched, _ = scheduler(store, clock, out)
    assert await sched.run_due() == 0
    assert await sched.run_due() == 0
    assert out.attempts == [1]
    assert store.chat_flags(1)["blocked"] is False


# -- nudge: at most one per case ---------------------------------------------------------------


async def test_nudge_sent_once_per_case() -> None:
    store = MemoryStore()
    clock = Clock(at("2026-11-24", 15))
    payload = {"state": "followup.nudge", "set": {"nudged_case": "C-1"}}
    for _ in range(2):
        store.commit(
            Changes(
                reminders_add=[Reminder(None, 1, "nudge", at("2026-11-24", 9).timestamp(), payload)]
            )
        )
    out = Outbox()
    sched, service = scheduler(store, clock, out)
    assert await sched.run_due() == 1
    assert store.chat_flags(1)["nudged_case"] == "C-1"
    assert service.events[0][1].payload["set"] == {"nudged_case": "C-1"}
    assert store.pending_reminders(1) == []


# -- the loop ------------------------------------------------------------------------------------


async def test_loop_delivers_at_start_up_and_after_wake() -> None:
    store = MemoryStore()
    clock = Clock(at("2026-11-23", 9))
    add(store, 1, "seller", at("2026-11-22", 9))
    out = Outbox()
    sched = ReminderScheduler(store, FakeService(clock), out, clock, poll=3600)
    sched.start()
    try:
        await asyncio.wait_for(out.arrived.wait(), 10)
        assert out.sent == [(1, "ask followup.seller")]
        out.arrived.clear()
        add(store, 2, "refund", clock.now - timedelta(minutes=1))
        sched.wake()
        await asyncio.wait_for(out.arrived.wait(), 10)
        assert out.sent[-1] == (2, "ask followup.refund")
    finally:
        await sched.stop()
    assert len(out.sent) == 2


def test_bad_settings_fail_when_built() -> None:
    store = MemoryStore()
    clock = Clock(at("2026-11-23"))
    with pytest.raises(ValueError, match="poll"):
        ReminderScheduler(store, FakeService(clock), Outbox(), clock, poll=0)


def test_the_loop_sleeps_until_the_next_due_reminder_at_most_poll() -> None:
    store = MemoryStore()
    clock = Clock(at("2026-11-23", 9))
    sched = ReminderScheduler(store, FakeService(clock), Outbox(), clock, poll=3600)
    assert sched._sleep_for() == 3600
    add(store, 1, "seller", at("2026-11-23", 11))
    assert sched._sleep_for() == 3600
    add(store, 1, "refund", at("2026-11-23", 9, 10))
    assert sched._sleep_for() == 600
    add(store, 1, "window", at("2026-11-23", 8))
    assert sched._sleep_for() == 0


async def test_a_failing_pass_does_not_stop_the_loop() -> None:
    class Flaky(MemoryStore):
        calls = 0

        def due_reminders(self, now: float, limit: int = 100) -> list[Reminder]:
            self.calls += 1
            if self.calls == 1:
                raise OSError("disk hiccup")
            return super().due_reminders(now, limit)

    store = Flaky()
    clock = Clock(at("2026-11-23", 9))
    add(store, 1, "seller", at("2026-11-23", 8))
    out = Outbox()
    sched = ReminderScheduler(store, FakeService(clock), out, clock, poll=3600)
    sched.start()

    async def keep_waking() -> None:
        while True:
            sched.wake()
            await asyncio.sleep(0.01)

    waker = asyncio.get_running_loop().create_task(keep_waking())
    try:
        await asyncio.wait_for(out.arrived.wait(), 10)
    finally:
        waker.cancel()
        await sched.stop()
    assert store.calls >= 2
    assert out.sent == [(1, "ask followup.seller")]


async def test_a_service_error_for_one_chat_does_not_hold_up_the_others() -> None:
    store = MemoryStore()
    clock = Clock(at("2026-11-23", 9))

    class Broken(FakeService):
        async def handle(
            self,
            chat_id: int,
            event: Event | Callable[[datetime], Event],
            locale_hint: str | None = None,
        ) -> Outcome:
            if chat_id == 1:
                raise KeyError("corrupt conversation")
            return await super().handle(chat_id, event, locale_hint)

    add(store, 1, "seller", at("2026-11-23", 7))
    add(store, 2, "seller", at("2026-11-23", 8))
    out = Outbox()
    sched = ReminderScheduler(store, Broken(clock), out, clock)
    assert await sched.run_due() == 1
    assert out.sent == [(2, "ask followup.seller")]
    assert await sched.run_due() == 0
