"""Planning reminders: pure date maths and the flow actions that emit ``schedule`` effects.

Nothing here reads a clock or the store. The planning functions take ``now`` (an aware datetime)
and return due times; the actions turn them into :class:`~bot.engine.model.Effect` objects
(``schedule`` / ``cancel_reminders``) and put a sentence into a slot that tells the shopper when
the bot will come back (the wording is the locale's ``values: reminder_note``). The service turns
the effects into stored reminders (:func:`bot.reminders.reminders_from_effects`).

All times are in Asia/Shanghai. See ``docs/reminders.md``.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from bot.engine.context import ActionContext
from bot.engine.effects import CancelReminders, Schedule

#: The hour day-based reminders are planned for.
REMIND_AT = time(10, 0)
#: Default quiet hours (start, end): reminders falling inside are moved to ``end``.
QUIET = (time(22, 0), time(8, 0))
#: How long a conversation must be idle before the (single) nudge.
NUDGE_AFTER = timedelta(hours=24)

#: Reminder kinds; each opens the follow-up state tagged ``reminder_<kind>`` in the flows.
KINDS = ("window", "seller", "refund", "nudge")

#: Slots the actions set (registered in ``actions.OUTPUTS`` so messages may name them).
OUTPUTS = frozenset(
    {
        "window_reminder_note",
        "window_remind_at",
        "seller_reminder_note",
        "seller_remind_at",
        "seller_wait_hours",
        "refund_reminder_note",
        "refund_remind_at",
    }
)


# ----------------------------------------------------------------------------------------------
# Pure time maths


def _zone(moment: datetime, tz: tzinfo | None = None) -> tzinfo:
    """The zone local times are in: ``tz``, else the aware ``moment``'s own (the shopper's)."""
    zone = tz or moment.tzinfo
    if zone is None:
        raise ValueError("reminder times need an aware datetime or a time zone")
    return zone


def in_quiet(moment: datetime, quiet: tuple[time, time] = QUIET, tz: tzinfo | None = None) -> bool:
    """Tells whether ``moment`` (aware) falls in the quiet hours ``[start, end)`` local time."""
    start, end = quiet
    if start == end:
        return False
    t = moment.astimezone(_zone(moment, tz)).time().replace(tzinfo=None)
    if start < end:
        return start <= t < end
    return t >= start or t < end


def after_quiet(
    moment: datetime, quiet: tuple[time, time] = QUIET, tz: tzinfo | None = None
) -> datetime:
    """Returns ``moment`` if it is outside the quiet hours, else the end of that quiet period."""
    tz = _zone(moment, tz)
    if not in_quiet(moment, quiet, tz):
        return moment
    local = moment.astimezone(tz)
    end = datetime.combine(local.date(), quiet[1], tz)
    if end <= local:
        end = datetime.combine(local.date() + timedelta(days=1), quiet[1], tz)
    return end


def window_due(last_iso: str | None, now: datetime) -> datetime | None:
    """The seven-day window reminder: 10:00 on the day before the last day.

    ``None`` if there is no last day or the reminder day is today or already past (the shopper
    has just been told the date; a reminder an hour later would be noise).
    """
    if not last_iso:
        return None
    try:
        last = date.fromisoformat(last_iso)
    except ValueError:
        return None
    day = last - timedelta(days=1)
    zone = _zone(now)
    if day <= now.astimezone(zone).date():
        return None
    return datetime.combine(day, REMIND_AT, zone)


def seller_due(now: datetime, hours: int) -> datetime:
    """When the seller's response window has passed: ``hours`` after ``now``, out of quiet hours."""
    return after_quiet(now + timedelta(hours=hours))


def refund_due(now: datetime, days: int) -> datetime:
    """Ask about the refund at 10:00 the day after ``days`` full days from ``now`` have passed."""
    zone = _zone(now)
    return datetime.combine(now.astimezone(zone).date() + timedelta(days=days + 1), REMIND_AT, zone)


def nudge_due(last_activity: datetime) -> datetime:
    """One gentle nudge 24 h after the last activity (moved out of quiet hours)."""
    return after_quiet(last_activity + NUDGE_AFTER)


def schedule(
    kind: str, due: datetime, extra_set: dict[str, Any] | None = None, after_s: float | None = None
) -> Schedule:
    """Builds a ``schedule`` effect for ``kind`` (the engine finds its follow-up state by tag)."""
    if kind not in KINDS:
        raise ValueError(f"unknown reminder kind {kind!r}")
    return Schedule(kind, due.isoformat(), after_s, {"set": dict(extra_set or {})})


def cancel(kind: str | None) -> CancelReminders:
    """Builds a ``cancel_reminders`` effect (``None`` = every kind)."""
    return CancelReminders(kind)


def when_iso(due: datetime) -> str:
    """The local time of ``due`` as ISO (``2026-11-26T10:00+08:00``): slots hold times this way
    and the engine shows them in the shopper's language when a message is rendered."""
    return due.isoformat(timespec="minutes")


# ----------------------------------------------------------------------------------------------
# Actions (``do:`` in flows)


def _now(ctx: ActionContext) -> tuple[datetime, bool]:
    """Returns (now, exact). Without ``ctx.now`` the actions plan from ``today`` at noon."""
    now = getattr(ctx, "now", None)
    if isinstance(now, datetime) and now.tzinfo is not None:
        return now.astimezone(ctx.tz) if ctx.tz else now, True
    return datetime.combine(ctx.today, time(12, 0), ctx.tz), False


def plan_window_reminder(ctx: ActionContext) -> None:
    """After ``compute_window``: remind the day before the last day of the seven-day window."""
    now, _ = _now(ctx)
    last_iso = ctx.slots.get("window_last_iso")
    due = window_due(last_iso if isinstance(last_iso, str) else None, now)
    ctx.effects.append(cancel("window"))
    if due is None or ctx.slots.get("window_open") is False:
        ctx.slots["window_remind_at"] = ""
        ctx.slots["window_reminder_note"] = "window_soon"  # the locale's words (values:)
        return
    last_day = ctx.slots.get("window_last_day") or ""
    ctx.effects.append(
        schedule(
            "window",
            due,
            {"window_last_day": last_day, "window_last_iso": last_iso},
        )
    )
    ctx.slots["window_remind_at"] = when_iso(due)
    ctx.slots["window_reminder_note"] = "window"


def plan_seller_reminder(ctx: ActionContext) -> None:
    """The shopper applied: ask whether the seller handled it once the response window passed."""
    now, exact = _now(ctx)
    overseas = ctx.slots.get("overseas") is True
    key = "seller_response_hours_overseas" if overseas else "seller_response_hours"
    hours = int(ctx.policy.get(key) or ctx.policy.get("seller_response_hours") or 72)
    due = seller_due(now, hours)
    ctx.effects.append(cancel("seller"))
    # Without an exact ``now`` the service rebases the due time on its own clock (``after_s``).
    after_s = None if exact else hours * 3600.0
    ctx.effects.append(schedule("seller", due, {"seller_wait_hours": hours}, after_s=after_s))
    ctx.slots["seller_wait_hours"] = hours
    ctx.slots["seller_remind_at"] = when_iso(due)
    ctx.slots["seller_reminder_note"] = "seller"


def plan_refund_reminder(ctx: ActionContext) -> None:
    """The return is on its way: ask whether the refund arrived after ``return_confirm_days``."""
    now, _ = _now(ctx)
    days = int(ctx.policy.get("return_confirm_days") or 10)
    due = refund_due(now, days)
    ctx.effects.append(cancel("refund"))
    ctx.effects.append(schedule("refund", due))
    ctx.slots["refund_remind_at"] = when_iso(due)
    ctx.slots["refund_reminder_note"] = "refund"


def stop_reminders(ctx: ActionContext) -> None:
    """``/stop``: cancel every pending reminder and record that the shopper wants none."""
    ctx.effects.append(CancelReminders(None, consent=False))
