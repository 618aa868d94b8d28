"""Planning maths and the effects <-> store translation for reminders (issue 5)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.engine import actions, followups
from bot.engine.context import ActionContext
from bot.engine.effects import Schedule, Toast
from bot.engine.model import Conversation
from bot.reminders import (
    consent_from_effects,
    idle_nudge,
    is_forbidden,
    reminders_from_effects,
)
from tests.support import TZ, at

POLICY: dict[str, Any] = {
    "hedge": "以App内显示为准",
    "seller_response_hours": 72,
    "seller_response_hours_overseas": 96,
    "return_confirm_days": 10,
    "seven_day_window_days": 7,
}
NOTES = {
    "window": "W {remind_at} {hedge}",
    "window_soon": "SOON",
    "seller": "S {hours} {hedge}",
    "refund": "R {remind_at} {return_confirm_days} {hedge}",
}


def ctx(slots: dict[str, Any], today: str = "2026-11-23") -> ActionContext:
    def words(slot: str, value: Any) -> str:
        return NOTES[value] if slot == "reminder_note" else str(value)

    return ActionContext(
        slots=slots,
        today=date.fromisoformat(today),
        policy=POLICY,
        case_id=None,
        words=words,
        tz=TZ,
    )


# -- quiet hours ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hh", "mm", "quiet"),
    [(22, 0, True), (23, 59, True), (0, 0, True), (7, 59, True), (8, 0, False), (21, 59, False)],
)
def test_quiet_hours_edges(hh: int, mm: int, quiet: bool) -> None:
    assert followups.in_quiet(at("2026-11-23", hh, mm)) is quiet


def test_after_quiet_moves_to_eight_the_same_or_next_morning() -> None:
    assert followups.after_quiet(at("2026-11-23", 23, 10)) == at("2026-11-24", 8)
    assert followups.after_quiet(at("2026-11-24", 3, 0)) == at("2026-11-24", 8)
    assert followups.after_quiet(at("2026-11-24", 9, 0)) == at("2026-11-24", 9)


def test_quiet_hours_within_one_day_and_disabled() -> None:
    lunch = (time(12, 0), time(14, 0))
    assert followups.in_quiet(at("2026-11-23", 13), lunch)
    assert not followups.in_quiet(at("2026-11-23", 14), lunch)
    assert followups.after_quiet(at("2026-11-23", 13), lunch) == at("2026-11-23", 14)
    off = (time(0, 0), time(0, 0))
    assert not followups.in_quiet(at("2026-11-23", 3), off)


def test_quiet_hours_are_in_the_shoppers_zone_for_utc_input() -> None:
    # 15:00 UTC is 23:00 in Shanghai (the zone configured in config/policy.yaml)
    utc = datetime(2026, 11, 23, 15, 0, tzinfo=ZoneInfo("UTC"))
    assert followups.in_quiet(utc, tz=TZ)
    assert followups.after_quiet(utc, tz=TZ) == at("2026-11-24", 8)
    # without a zone, the moment's own: 15:00 in UTC is not quiet
    assert not followups.in_quiet(utc)


# -- due times -----------------------------------------------------------------------------------


def test_window_reminder_is_the_day_before_the_last_day_at_ten() -> None:
    assert followups.window_due("2026-11-27", at("2026-11-23", 15)) == at("2026-11-26", 10)


@pytest.mark.parametrize("last", ["2026-11-24", "2026-11-23", "2026-11-20", None, "garbage"])
def test_no_window_reminder_when_the_day_before_is_today_or_past(last: str | None) -> None:
    assert followups.window_due(last, at("2026-11-23", 9)) is None


def test_seller_reminder_after_the_response_window_out_of_quiet_hours() -> None:
    assert followups.seller_due(at("2026-11-23", 15), 72) == at("2026-11-26", 15)
    # applied at 23:30 -> 72 h later is 23:30, inside quiet hours -> next 08:00
    assert followups.seller_due(at("2026-11-23", 23, 30), 72) == at("2026-11-27", 8)


def test_refund_reminder_the_morning_after_the_confirm_days() -> None:
    assert followups.refund_due(at("2026-11-23", 20), 10) == at("2026-12-04", 10)


def test_nudge_a_day_after_the_last_activity() -> None:
    assert followups.nudge_due(at("2026-11-23", 15)) == at("2026-11-24", 15)
    assert followups.nudge_due(at("2026-11-23", 22, 30)) == at("2026-11-25", 8)


# -- actions ---------------------------------------------------------------------------------


def test_actions_are_registered_with_their_outputs() -> None:
    for name in ("plan_window_reminder", "plan_seller_reminder", "plan_refund_reminder"):
        assert name in actions.ACTIONS
    assert "stop_reminders" in actions.ACTIONS
    assert followups.OUTPUTS <= actions.OUTPUTS


def test_plan_window_reminder_schedules_and_says_when() -> None:
    c = ctx({"window_last_iso": "2026-11-27", "window_last_day": "11月27日", "window_open": True})
    followups.plan_window_reminder(c)
    kinds = [e.kind for e in c.effects]
    assert kinds == ["cancel_reminders", "schedule"]
    sched = c.effects[1]
    assert isinstance(sched, Schedule) and sched.reminder == "window" and sched.due
    assert datetime.fromisoformat(sched.due) == at("2026-11-26", 10)
    assert "state" not in sched.payload  # found by the tag reminder_window
    assert sched.payload["set"]["window_last_day"] == "11月27日"
    # times are kept as ISO and shown in the shopper's language when rendered
    assert c.slots["window_remind_at"] == "2026-11-26T10:00+08:00"
    assert c.slots["window_reminder_note"] == "window"


def test_plan_window_reminder_when_the_end_is_too_close() -> None:
    c = ctx({"window_last_iso": "2026-11-24", "window_open": True})
    followups.plan_window_reminder(c)
    assert [e.kind for e in c.effects] == ["cancel_reminders"]
    assert c.slots["window_reminder_note"] == "window_soon"


def test_plan_seller_reminder_uses_policy_hours_and_rebases_without_now() -> None:
    c = ctx({})
    followups.plan_seller_reminder(c)
    sched = c.effects[-1]
    assert isinstance(sched, Schedule) and sched.reminder == "seller"
    assert sched.after_s == 72 * 3600
    assert "state" not in sched.payload
    assert c.slots["seller_reminder_note"] == "seller"
    assert c.slots["seller_wait_hours"] == 72


def test_plan_seller_reminder_overseas_and_with_exact_now() -> None:
    c = ctx({"overseas": True})

    class WithNow(ActionContext):  # the ``now`` field the engine lead is asked to add
        __slots__ = ("now",)

    c2 = WithNow(
        slots={"overseas": True},
        today=date(2026, 11, 23),
        policy=POLICY,
        case_id=None,
        words=c.words,
    )
    c2.now = at("2026-11-23", 9, 30)
    followups.plan_seller_reminder(c2)
    sched = c2.effects[-1]
    assert isinstance(sched, Schedule) and sched.after_s is None and sched.due
    assert datetime.fromisoformat(sched.due) == at("2026-11-27", 9, 30)
    assert c2.slots["seller_wait_hours"] == 96
    assert sched.payload["set"] == {"seller_wait_hours": 96}


def test_plan_refund_reminder() -> None:
    c = ctx({}, today="2026-11-23")
    followups.plan_refund_reminder(c)
    sched = c.effects[-1]
    assert isinstance(sched, Schedule) and sched.reminder == "refund" and sched.due
    assert datetime.fromisoformat(sched.due) == at("2026-12-04", 10)
    assert c.slots["refund_remind_at"] == "2026-12-04T10:00+08:00"
    assert c.slots["refund_reminder_note"] == "refund"


def test_stop_reminders_cancels_all_and_records_consent() -> None:
    c = ctx({})
    followups.stop_reminders(c)
    assert consent_from_effects(c.effects) is False
    adds, cancels = reminders_from_effects(7, c.effects, at("2026-11-23"))
    assert adds == [] and cancels == [(7, None)]


# -- effects -> store changes ----------------------------------------------------------------


def test_reminders_from_effects_parses_due_and_after() -> None:
    now = at("2026-11-23", 10)
    effects = [
        followups.cancel("window"),
        followups.schedule("window", at("2026-11-26", 10)),
        Schedule("seller", due="x", after_s=3600),
        Toast("hi"),
    ]
    adds, cancels = reminders_from_effects(5, effects, now)
    assert cancels == [(5, "window")]
    assert [(r.kind, r.due) for r in adds] == [
        ("window", at("2026-11-26", 10).timestamp()),
        ("seller", (now + timedelta(hours=1)).timestamp()),
    ]
    assert all(r.chat_id == 5 and r.id is None and r.status == "pending" for r in adds)


def test_a_cancel_after_an_add_in_the_same_update_drops_the_add() -> None:
    effects = [followups.schedule("refund", at("2026-12-01")), followups.cancel(None)]
    adds, cancels = reminders_from_effects(5, effects, at("2026-11-23"))
    assert adds == [] and cancels == [(5, None)]


def test_bad_schedule_effects_are_ignored() -> None:
    effects = [
        Schedule("", due="2026-11-26T10:00:00+08:00"),
        Schedule("x"),
    ]
    assert reminders_from_effects(5, effects, at("2026-11-23")) == ([], [])


# -- nudge -----------------------------------------------------------------------------------


def conv(state: str, case: str | None = "C-2611-0001", mode: str = "bot") -> Conversation:
    return Conversation(chat_id=9, state=state, case_id=case, mode=mode)


#: The states tagged mid_case in the flows (the planner is given them by the service).
MID = frozenset({"intervention.describe", "intervention.evidence"})


def test_nudge_planned_mid_case_and_always_replaced() -> None:
    adds, cancels = idle_nudge(conv("intervention.describe"), at("2026-11-23", 15), None, MID)
    assert cancels == [(9, "nudge")]
    assert len(adds) == 1
    assert adds[0].due == at("2026-11-24", 15).timestamp()
    assert adds[0].payload == {"set": {"nudged_case": "C-2611-0001"}}


@pytest.mark.parametrize(
    ("c", "flags"),
    [
        (conv("intervention.describe", case=None), {}),
        (conv("intervention.statement"), {}),
        (conv("menu.start"), {}),
        (conv("intervention.describe", mode="agent"), {}),
        (conv("intervention.describe"), {"nudged_case": "C-2611-0001"}),
        (conv("intervention.describe"), {"reminders_consent": False}),
        (conv("intervention.describe"), {"blocked": True}),
    ],
)
def test_no_nudge_outside_a_case_or_after_one_was_sent(
    c: Conversation, flags: dict[str, Any]
) -> None:
    adds, cancels = idle_nudge(c, at("2026-11-23", 15), flags, MID)
    assert adds == [] and cancels == [(9, "nudge")]


def test_the_mid_case_states_are_the_tagged_ones() -> None:
    from tests.e2e.harness import engine

    tagged = engine().bundle.tagged("mid_case")
    assert "intervention.describe" in tagged and "intervention.review" in tagged
    assert "intervention.statement" not in tagged and "menu.start" not in tagged


def test_forbidden_is_recognised_by_name_or_status() -> None:
    class Forbidden(Exception):
        pass

    class HttpError(Exception):
        status = 403

    assert is_forbidden(Forbidden("blocked"))
    assert is_forbidden(HttpError())
    assert not is_forbidden(RuntimeError("boom"))
    from telegram.error import Forbidden as TgForbidden

    assert is_forbidden(TgForbidden("Forbidden: bot was blocked by the user"))
