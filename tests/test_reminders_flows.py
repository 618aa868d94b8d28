"""Reminders through the real engine, service and SQLite store (issue 5).

The follow-up states are entered by reminder events. Until ``flows/menu.yaml`` lists them under
``specials:`` (see docs/reminders.md, "Hooks for the flows"), the loader would call them
unreachable, so these tests run on a copy of the content with that row added.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from bot.engine.effects import CancelReminders
from bot.engine.engine import Engine
from bot.engine.model import Event, Outcome
from bot.reminders import (
    ReminderScheduler,
    reminders_from_effects,
)
from bot.service import Service
from bot.store.base import Changes, Reminder
from bot.store.sqlite import SqliteStore
from tests.support import Clock, at

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {
    "followup_window": "followup.window_tomorrow",
    "followup_seller": "followup.seller_handled",
    "followup_refund": "followup.refund_arrived",
    "followup_nudge": "followup.nudge",
}


def content_root(tmp: Path) -> Path:
    """A copy of flows/locales/config with the follow-up flow reachable."""
    for part in ("flows", "locales", "config"):
        shutil.copytree(ROOT / part, tmp / part)
    flow = ROOT / "flows" / "followup.yaml"
    if not flow.exists():
        shutil.copy(ROOT / "flows" / "followup.yaml.pending", tmp / "flows" / "followup.yaml")
    menu_path = tmp / "flows" / "menu.yaml"
    menu = yaml.safe_load(menu_path.read_text(encoding="utf-8"))
    specials = menu.setdefault("specials", {})
    if not set(TARGETS.values()) <= set(specials.values()):
        specials.update(TARGETS)
        menu_path.write_text(yaml.safe_dump(menu, allow_unicode=True), encoding="utf-8")
    return tmp


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return Engine.load(content_root(tmp_path_factory.mktemp("content")))


class Sent:
    def __init__(self) -> None:
        self.outcomes: list[tuple[int, Outcome]] = []

    async def __call__(self, chat_id: int, outcome: Outcome) -> None:
        self.outcomes.append((chat_id, outcome))


def texts(outcome: Outcome) -> str:
    return "\n".join(r.text or "" for r in outcome.replies)


def tap(outcome: Outcome, label: str) -> Event:
    for reply in outcome.replies:
        for row in reply.buttons:
            for b in row:
                if label in b.label:
                    return Event(kind="callback", now=at("2026-11-26", 10), data=b.data)
    raise AssertionError(f"no button {label!r}")


async def deliver_one(
    engine: Engine, store: SqliteStore, kind: str, state: str, clock: Clock
) -> tuple[Service, Outcome]:
    service = Service(engine, store, clock)
    store.commit(
        Changes(
            reminders_add=[
                Reminder(
                    None,
                    42,
                    kind,
                    (clock.now.timestamp() - 60),
                    {
                        "state": state,
                        "set": {"window_last_day": "11月27日", "seller_wait_hours": 96},
                    },
                )
            ]
        )
    )
    sent = Sent()
    sched = ReminderScheduler(store, service, sent, clock)
    assert await sched.run_due() == 1
    [(chat, outcome)] = sent.outcomes
    assert chat == 42
    return service, outcome


def test_followup_flow_loads_with_its_wording(engine: Engine) -> None:
    for state in [*TARGETS.values(), "followup.stop", "followup.applied"]:
        assert state in engine.bundle.states
    commands = dict(engine.commands("zh-Hans"))
    assert "stop" in commands and "reminders" in commands


async def test_seller_reminder_asks_and_leads_into_intervention(
    engine: Engine, store: SqliteStore
) -> None:
    clock = Clock(at("2026-11-26", 15))
    service, outcome = await deliver_one(engine, store, "seller", "followup.seller_handled", clock)
    assert "卖家处理了吗" in texts(outcome)
    assert "以App内显示/平台最新规则为准" in texts(outcome)
    labels = [b.label for r in outcome.replies for row in r.buttons for b in row]
    assert labels == ["已同意", "拒绝了", "还没处理"]
    after = await service.handle(42, tap(outcome, "还没处理"))
    assert after.conversation.state == "intervention.start"
    assert after.conversation.slots["seller_status"] == "ignored"
    stored = store.load(42)
    assert stored is not None and stored.state == "intervention.start"


async def test_seller_refused_goes_to_intervention_as_refused(
    engine: Engine, store: SqliteStore
) -> None:
    clock = Clock(at("2026-11-26", 15))
    service, outcome = await deliver_one(engine, store, "seller", "followup.seller_handled", clock)
    after = await service.handle(42, tap(outcome, "拒绝了"))
    assert after.conversation.state == "intervention.start"
    assert after.conversation.slots["seller_status"] == "refused"


async def test_window_reminder_then_applied_plans_the_seller_reminder(
    engine: Engine, store: SqliteStore
) -> None:
    clock = Clock(at("2026-11-26", 10))
    service, outcome = await deliver_one(engine, store, "window", "followup.window_tomorrow", clock)
    assert "明天（11月27日）是七天无理由退货的最后一天" in texts(outcome)
    after = await service.handle(42, tap(outcome, "已经申请了"))
    assert after.conversation.state == "followup.applied"
    adds, cancels = reminders_from_effects(42, after.effects, clock.now)
    assert cancels == [(42, "seller")]
    [reminder] = adds
    assert reminder.kind == "seller"
    assert "state" not in reminder.payload  # the flows say which state (tag reminder_seller)
    assert engine.bundle.reminder_state(reminder.kind) == "followup.seller_handled"
    assert "72 小时内处理（以App内显示/平台最新规则为准）" in texts(after)
    assert "/reminders" in texts(after)
    assert "（未提供）" not in texts(after)


async def test_refund_reminder_not_arrived_offers_tracking_and_intervention(
    engine: Engine, store: SqliteStore
) -> None:
    clock = Clock(at("2026-12-04", 10))
    service, outcome = await deliver_one(engine, store, "refund", "followup.refund_arrived", clock)
    assert "退款到账了吗" in texts(outcome)
    after = await service.handle(42, tap(outcome, "还没到账"))
    assert after.conversation.state == "followup.refund_missing"
    tracked = await service.handle(42, tap(after, "查看进度"))
    assert tracked.conversation.state == "track.start"


async def test_nudge_offers_to_continue_the_case(engine: Engine, store: SqliteStore) -> None:
    clock = Clock(at("2026-11-24", 15))
    service, outcome = await deliver_one(engine, store, "nudge", "followup.nudge", clock)
    after = await service.handle(42, tap(outcome, "接着整理"))
    assert after.conversation.state.startswith("intervention.case")


async def test_stop_command_cancels_and_records_no_consent(
    engine: Engine, store: SqliteStore
) -> None:
    service = Service(engine, store, Clock(at("2026-11-24", 15)))
    out = await service.handle(42, Event(kind="command", now=at("2026-11-24", 15), command="stop"))
    assert out.conversation.state == "followup.stop"
    cancels = [e for e in out.effects if isinstance(e, CancelReminders)]
    assert cancels and (cancels[0].reminder, cancels[0].consent) == (None, False)
    assert "取消了所有提醒" in texts(out)


# -- the service change proposed in docs/reminders.md, end to end ------------------------------


#: The service now stores planned reminders itself (bot/service.py, Service._effects).
ReminderService = Service


async def test_planned_in_a_flow_survives_a_restart_and_is_sent_once(
    engine: Engine, tmp_path: Path
) -> None:
    db = tmp_path / "bot.sqlite3"
    clock = Clock(at("2026-11-26", 10))
    store = SqliteStore(db)
    try:
        service, outcome = await deliver_one(
            engine, store, "window", "followup.window_tomorrow", clock
        )
        service = ReminderService(engine, store, clock)
        after = await service.handle(42, tap(outcome, "已经申请了"))
        assert after.conversation.state == "followup.applied"
        [pending] = store.pending_reminders(42)
        assert pending.kind == "seller"
        assert pending.due == at("2026-11-29", 10).timestamp()  # 72 h after applying
        assert pending.payload["set"] == {"seller_wait_hours": 72}
    finally:
        store.close()

    sent = Sent()
    clock.now = at("2026-11-29", 10, 5)  # the bot was down when it fell due
    for _ in range(2):  # two start-ups over the same file
        store = SqliteStore(db)
        try:
            sched = ReminderScheduler(store, ReminderService(engine, store, clock), sent, clock)
            await sched.run_due()
        finally:
            store.close()
    [(chat, outcome)] = sent.outcomes
    assert chat == 42 and "卖家处理了吗" in texts(outcome)
    assert "过去 72 小时" in texts(outcome)


async def test_idle_case_gets_one_nudge_only(engine: Engine, store: SqliteStore) -> None:
    clock = Clock(at("2026-11-23", 15))
    service = ReminderService(engine, store, clock)
    out = await service.handle(42, Event(kind="text", now=clock.now, text="卖家拒绝退款"))
    assert out.conversation.state == "intervention.start"
    assert out.conversation.case_id is not None
    [nudge] = store.pending_reminders(42)
    assert nudge.kind == "nudge" and nudge.due == at("2026-11-24", 15).timestamp()

    # activity restarts the 24 h
    clock.now = at("2026-11-23", 18)
    await service.handle(42, Event(kind="command", now=clock.now, command="help"))
    [nudge] = store.pending_reminders(42)
    assert nudge.due == at("2026-11-24", 18).timestamp()

    sent = Sent()
    sched = ReminderScheduler(store, service, sent, clock)
    clock.now = at("2026-11-24", 18, 1)
    assert await sched.run_due() == 1
    [(_, outcome)] = sent.outcomes
    assert outcome.conversation.state == "followup.nudge"
    back = await service.handle(42, tap(outcome, "接着整理"))
    assert back.conversation.state.startswith("intervention.")
    # back in the script, idle again: no second nudge for this case
    again = await service.handle(42, Event(kind="text", now=clock.now, text="卖家拒绝退款"))
    assert again.conversation.state == "intervention.start"
    assert store.pending_reminders(42) == []
    clock.now = at("2026-11-30", 12)
    assert await sched.run_due() == 0


async def test_stop_through_the_service_cancels_everything(
    engine: Engine, store: SqliteStore
) -> None:
    clock = Clock(at("2026-11-23", 15))
    service = ReminderService(engine, store, clock)
    store.commit(
        Changes(reminders_add=[Reminder(None, 42, "refund", at("2026-12-04", 10).timestamp(), {})])
    )
    await service.handle(42, Event(kind="command", now=clock.now, command="stop"))
    assert store.pending_reminders(42) == []
    assert store.chat_flags(42)["reminders_consent"] is False


async def test_after_stop_flow_actions_store_no_reminders(
    engine: Engine, store: SqliteStore
) -> None:
    clock = Clock(at("2026-11-26", 10))
    service, outcome = await deliver_one(engine, store, "window", "followup.window_tomorrow", clock)
    service = ReminderService(engine, store, clock)
    store.set_chat_flag(42, "reminders_consent", False)
    after = await service.handle(42, tap(outcome, "已经申请了"))
    assert after.conversation.state == "followup.applied"
    assert any(e.kind == "schedule" for e in after.effects)
    assert store.pending_reminders(42) == []
