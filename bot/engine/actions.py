"""Named actions and conditions that flows refer to (``do:`` and ``if:``).

Actions compute values from slots with the pure rules in :mod:`bot.engine.rules` and store them
as slots, so messages can show them through placeholders. They never produce wording
themselves: words come from the locale through ``ctx.words``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

import yaml

from bot.engine import followups, rules
from bot.engine.context import ActionContext
from bot.engine.effects import CaseUpdate, OpenCase, RateCase
from bot.engine.statement import EVIDENCE_FLAGS

#: Case fields copied from slots when a case opens or changes (what the statement is built
#: from, so an agent's card and /case show the same statement as the shopper saw).
CASE_FIELDS = (
    "status",
    "problem",
    "category",
    "order_date",
    "signed_date",
    "applied_date",
    "window_last_day",
    "order_no",
    "product",
    "amount",
    "description",
    "seller_status",
    "seller_said",
    "request",
    *EVIDENCE_FLAGS,
    "evidence_sent",
)


def _signed(slots: dict[str, Any]) -> date | None:
    raw = slots.get("signed_date")
    if not isinstance(raw, str):
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


def compute_window(ctx: ActionContext) -> None:
    """Sets ``window_last_day``, ``days_left`` and ``window_open`` from ``signed_date``."""
    signed = _signed(ctx.slots)
    for key in ("window_last_day", "days_left", "window_open"):
        ctx.slots.pop(key, None)
    if signed is None:
        return
    days = int(ctx.policy.get("seven_day_window_days", 7))
    last_day = rules.seven_day_window(signed, days).last_day
    if signed > ctx.today:  # a stored date from another clock; treat as signed today
        signed = ctx.today
    status = rules.window_status(signed, ctx.today, days)
    is_open, days_left = status.open, status.days_left
    ctx.slots["window_last_day"] = last_day.isoformat()  # shown in the shopper's language
    ctx.slots["window_last_iso"] = last_day.isoformat()
    ctx.slots["days_left"] = days_left
    ctx.slots["window_open"] = is_open


def _case_fields(slots: dict[str, Any]) -> dict[str, Any]:
    return {k: slots[k] for k in CASE_FIELDS if k in slots}


def open_case(ctx: ActionContext) -> None:
    """Asks the service to open a case (or refresh the open one) with what is known so far."""
    if ctx.case_id:
        ctx.effects.append(CaseUpdate(_case_fields(ctx.slots)))
    else:
        ctx.effects.append(
            OpenCase(
                reason=ctx.slots.get("problem"),
                stage=ctx.slots.get("status"),
                fields=_case_fields(ctx.slots),
            )
        )


def build_complaint(ctx: ActionContext) -> None:
    """Dates the statement and records its facts with the case (``{statement}`` renders it)."""
    ctx.slots["today"] = ctx.today.isoformat()
    if ctx.case_id:
        ctx.slots["case_id"] = ctx.case_id
    else:
        ctx.slots.pop("case_id", None)
    ctx.effects.append(CaseUpdate(_case_fields(ctx.slots)))


def sync_case(ctx: ActionContext) -> None:
    """Brings the open case (if any) up to date with what the conversation has collected."""
    if ctx.case_id:
        ctx.effects.append(CaseUpdate(_case_fields(ctx.slots)))


def rate_case(ctx: ActionContext) -> None:
    """Hands the shopper's rating and comment of the closed case to the desk (flows/rating.yaml)."""
    rating = ctx.slots.pop("rating", None)
    comment = ctx.slots.pop("rating_comment", None)
    ctx.effects.append(
        RateCase(
            rating=rating if isinstance(rating, int) and 1 <= rating <= 5 else None,
            comment=comment if isinstance(comment, str) else "",
        )
    )


ACTIONS: dict[str, Callable[[ActionContext], None]] = {
    "sync_case": sync_case,
    "compute_window": compute_window,
    "open_case": open_case,
    "build_complaint": build_complaint,
    "plan_window_reminder": followups.plan_window_reminder,
    "plan_seller_reminder": followups.plan_seller_reminder,
    "plan_refund_reminder": followups.plan_refund_reminder,
    "stop_reminders": followups.stop_reminders,
    "rate_case": rate_case,
}

#: Values actions put into slots (placeholders may name them).
OUTPUTS = frozenset(
    {
        "window_last_day",
        "window_last_iso",
        "days_left",
        "window_open",
        "today",
        "case_id",
        *followups.OUTPUTS,
    }
)


# ----------------------------------------------------------------------------------------------
# Conditions

Condition = Callable[[dict[str, Any]], bool]


def _window_open(slots: dict[str, Any]) -> bool:
    return slots.get("window_open") is True


def _eligibility(slots: dict[str, Any]) -> rules.Eligibility | None:
    cat = slots.get("category")
    if not isinstance(cat, str) or cat not in rules.Category.__members__.values():
        return None
    confirmed = slots.get("confirmed_at_checkout")
    return rules.seven_day_eligibility(
        cat, confirmed_at_checkout=confirmed if isinstance(confirmed, bool) else None
    )


def _excluded_by_law(slots: dict[str, Any]) -> bool:
    return _eligibility(slots) is rules.Eligibility.EXCLUDED_BY_LAW


def _excluded_if_confirmed(slots: dict[str, Any]) -> bool:
    return _eligibility(slots) in (
        rules.Eligibility.CHECK_CHECKOUT,
        rules.Eligibility.EXCLUDED_CONFIRMED,
    )


def _seller_pays(slots: dict[str, Any]) -> bool:
    reason = slots.get("problem")
    if not isinstance(reason, str) or reason not in rules.Reason.__members__.values():
        return False
    return rules.shipping_payer(reason) in (rules.Payer.SELLER, rules.Payer.SELLER_OR_COURIER)


def _weak(slots: dict[str, Any], which: rules.Strength) -> bool:
    """A change-of-mind complaint the facts make weak, not yet acknowledged by the shopper."""
    if slots.get("weak_ack") is True:
        return False
    problem, category = slots.get("problem"), slots.get("category")
    window = slots.get("window_open")
    strength = rules.complaint_strength(
        problem if isinstance(problem, str) else None,
        window_open=window if isinstance(window, bool) else None,
        category=category if isinstance(category, str) else None,
    )
    return strength is which


CONDITIONS: dict[str, Condition] = {
    "complaint_window_passed": lambda s: _weak(s, rules.Strength.WINDOW_PASSED),
    "complaint_excluded": lambda s: _weak(s, rules.Strength.EXCLUDED),
    "window_open": _window_open,
    "category_excluded": _excluded_by_law,
    "category_excluded_by_law": _excluded_by_law,
    "category_excluded_if_confirmed": _excluded_if_confirmed,
    "seller_pays": _seller_pays,
}

_EXPR = re.compile(
    r"^\s*(?P<slot>[a-z_][a-z0-9_]*)\s*"
    r"(?:(?P<op>==|!=)\s*(?P<val>\S+)|in\s+(?P<vals>\S+)|is\s+(?P<neg>not\s+)?set)\s*$"
)


def _scalar(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def compile_condition(text: str) -> Condition:
    """Turns a named condition or a slot expression into a predicate; raises ValueError."""
    if text in CONDITIONS:
        return CONDITIONS[text]
    m = _EXPR.match(text)
    if not m:
        raise ValueError(f"unknown condition {text!r}")
    slot = m["slot"]
    if m["op"]:
        want = _scalar(m["val"])
        if m["op"] == "==":
            return lambda s: s.get(slot) == want
        return lambda s: s.get(slot) != want
    if m["vals"]:
        options = frozenset(v.strip() for v in m["vals"].split(",") if v.strip())
        return lambda s: str(s.get(slot)) in options
    if m["neg"]:
        return lambda s: s.get(slot) in (None, "")
    return lambda s: s.get(slot) not in (None, "")


def condition_is_valid(text: str) -> bool:
    """Tells whether ``text`` is a known condition or a well-formed expression."""
    try:
        compile_condition(text)
    except ValueError:
        return False
    return True
