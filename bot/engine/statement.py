"""The complaint statement (申诉说明): which lines it has, decided from the facts alone.

:func:`lines` is pure: it reads the case's facts (slots of the intervention script, or a stored
case's facts) and returns the statement as :class:`Line` items, each naming its template
(``stmt.*`` messages, written in the platform's language) and the computed values it needs.
The engine renders them (:meth:`bot.engine.engine.Engine.statement`), HTML-escaping what the
shopper typed. A line whose fact is unknown is left out, never filled with a placeholder.

What it may cite and ask for comes from :mod:`bot.engine.rules` (``complaint_basis``,
``complaint_demand``, ``complaint_strength``), so the law and the facts decide, not the words.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.engine import rules
from bot.nlu.entities import without_amount

__all__ = ["EVIDENCE_FLAGS", "KEYS", "VALUES", "Line", "Verdict", "lines", "verdict"]

#: Slots that carry evidence flags set by the intervention script's buttons.
EVIDENCE_FLAGS = ("ev_chat", "ev_order", "ev_payment", "ev_photos", "ev_video", "ev_logistics")
#: Values that mean "not given" (the skip buttons store them).
_NOT_GIVEN = frozenset({"", "unknown", "none"})
#: Dated steps of the timeline, in order: (slot, template).
_TIMELINE = (
    ("order_date", "stmt.tl.ordered"),
    ("signed_date", "stmt.tl.signed"),
    ("applied_date", "stmt.tl.applied"),
)
#: Order statuses before receipt: a no-reason return's seven days have not started.
NOT_YET_RECEIVED = frozenset({"shipped", "delivering"})
_QUOTES = "“”\"'「」『』‘’ "
#: Longest quote of the shopper's or the seller's words kept in the statement (characters).
QUOTE_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Line:
    """One line: the first of ``keys`` the locale has, rendered with ``values``."""

    keys: tuple[str, ...]
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the rules make of the facts."""

    basis: tuple[rules.Basis, ...]
    demand: tuple[rules.Demand, ...]
    strength: rules.Strength
    window_open: bool | None
    window_last_day: date | None


#: Every template :func:`lines` may name (checked against the locale at load time).
KEYS = frozenset(
    {
        "stmt.opening",
        "stmt.order",
        "stmt.product",
        "stmt.product_amount",
        "stmt.amount",
        "stmt.problem",
        "stmt.timeline",
        *(key for _, key in _TIMELINE),
        "stmt.tl.seller",
        "stmt.description",
        "stmt.seller_said",
        "stmt.evidence",
        "stmt.demand",
        "stmt.demand_item",
        "stmt.basis",
        "stmt.basis_item",
        "stmt.closing",
        "stmt.closing.window_passed",
        "stmt.closing.excluded",
        "stmt.signature",
        "stmt.signature_case",
        *(f"stmt.status.{s}" for s in ("unshipped", "shipped", "delivering", "signed")),
        "stmt.status.not_received",
        *(f"stmt.demand.{d.value}" for d in rules.Demand),
        "stmt.demand.full_refund_amount",
        "stmt.demand.fraud_compensation_amount",
        "stmt.demand.refund_only_amount",
        *(f"stmt.basis.{b.value}" for b in rules.Basis),
        "stmt.basis.consumer_25_dated",
    }
)
#: Values the templates may use besides the case's slots.
VALUES = frozenset(
    {
        "item",
        "n",
        "evidence",
        "compensation",
        "window_last_day",
        "quote",
        "today",
        "case_id",
        "product",
    }
)


def _known(facts: Mapping[str, Any], key: str) -> bool:
    value = facts.get(key)
    return value is not None and value is not False and str(value).strip() not in _NOT_GIVEN


def _iso(facts: Mapping[str, Any], key: str) -> date | None:
    raw = facts.get(key)
    if isinstance(raw, date):
        return raw
    if not isinstance(raw, str):
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        return None


def _amount(facts: Mapping[str, Any]) -> Decimal | None:
    raw = facts.get("amount")
    if raw in (None, ""):
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        return None
    return value if value > 0 else None


def yuan(value: Decimal) -> str:
    """An amount as people write it: ``199``, ``129.9``."""
    text = f"{value.quantize(Decimal('0.01')):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _quote(text: str, *, unquote: bool = False) -> str:
    text = " ".join(text.split())
    if unquote:
        text = text.strip(_QUOTES)
    return text if len(text) <= QUOTE_LIMIT else text[: QUOTE_LIMIT - 1] + "…"


def verdict(facts: Mapping[str, Any], today: date, window_days: int = 7) -> Verdict:
    """Applies the complaint rules to the facts (the window worked out from the signing day)."""
    problem = facts.get("problem") if _known(facts, "problem") else None
    category = facts.get("category") if _known(facts, "category") else None
    signed = _iso(facts, "signed_date")
    window_open: bool | None = None
    last_day: date | None = None
    status_code = facts.get("status") if _known(facts, "status") else None
    if signed is not None:
        status = rules.window_status(min(signed, today), today, window_days)
        window_open, last_day = status.open, status.last_day
    elif status_code in NOT_YET_RECEIVED:
        window_open = True  # the seven days start after signing: they have not begun
    seller = facts.get("seller_status") if _known(facts, "seller_status") else None
    request = facts.get("request") if _known(facts, "request") else None
    return Verdict(
        basis=rules.complaint_basis(
            problem, status=status_code, seller=seller, window_open=window_open, category=category
        ),
        demand=rules.complaint_demand(problem, request, status=status_code),
        strength=rules.complaint_strength(problem, window_open=window_open, category=category),
        window_open=window_open,
        window_last_day=last_day,
    )


def lines(
    facts: Mapping[str, Any],
    today: date,
    words: Callable[[str, Any], str],
    *,
    window_days: int = 7,
    case_id: str | None = None,
) -> list[Line]:
    """Returns the statement's lines for these facts, in reading order.

    ``words(slot, value)`` gives a value in words (the locale's ``values:``), for the evidence.
    """
    v = verdict(facts, today, window_days)
    out = [Line(("stmt.opening",))]
    if _known(facts, "order_no"):
        out.append(Line(("stmt.order",)))
    amount = _amount(facts)
    product = without_amount(str(facts["product"])) if _known(facts, "product") else ""
    if product:
        named = "stmt.product_amount" if amount else "stmt.product"
        out.append(Line((named,), {"product": _quote(product)}))
    elif amount:
        out.append(Line(("stmt.amount",)))
    if _known(facts, "status"):
        out.append(Line((f"stmt.status.{facts['status']}",)))
    if _known(facts, "problem"):
        out.append(Line(("stmt.problem",)))
    timeline = [Line((key,)) for slot, key in _TIMELINE if _iso(facts, slot)]
    if _known(facts, "seller_status"):
        timeline.append(Line(("stmt.tl.seller",)))
    if timeline:
        out.append(Line(("stmt.timeline",)))
        out.extend(timeline)
    if _known(facts, "description"):
        out.append(Line(("stmt.description",), {"quote": _quote(str(facts["description"]))}))
    if _known(facts, "seller_said"):
        out.append(
            Line(("stmt.seller_said",), {"quote": _quote(str(facts["seller_said"]), unquote=True)})
        )
    evidence = _evidence(facts, words)
    if evidence:
        out.append(Line(("stmt.evidence",), {"evidence": "、".join(evidence)}))
    out.append(Line(("stmt.demand",)))
    compensation = yuan(rules.fraud_compensation(amount)) if amount else None
    for n, wish in enumerate(v.demand, start=1):
        key = f"stmt.demand.{wish.value}"
        keys = (f"{key}_amount", key) if amount else (key,)
        values: dict[str, Any] = {"n": n}
        if compensation:
            values["compensation"] = compensation
        out.append(Line(("stmt.demand_item",), {"n": n, "item": Line(keys, values)}))
    if v.basis:
        out.append(Line(("stmt.basis",)))
        for basis in v.basis:
            key = f"stmt.basis.{basis.value}"
            if v.window_last_day:
                item = Line((f"{key}_dated", key), {"window_last_day": v.window_last_day})
            else:
                item = Line((key,))
            out.append(Line(("stmt.basis_item",), {"item": item}))
    closing = {
        rules.Strength.SOUND: "stmt.closing",
        rules.Strength.WINDOW_PASSED: "stmt.closing.window_passed",
        rules.Strength.EXCLUDED: "stmt.closing.excluded",
    }[v.strength]
    extra = {"window_last_day": v.window_last_day} if v.window_last_day else {}
    out.append(Line((closing,), extra))
    signature: dict[str, Any] = {"today": today}
    if case_id:
        signature["case_id"] = case_id
    out.append(Line(("stmt.signature_case",) if case_id else ("stmt.signature",), signature))
    return out


def _evidence(facts: Mapping[str, Any], words: Callable[[str, Any], str]) -> list[str]:
    items = [words("evidence", flag) for flag in EVIDENCE_FLAGS if facts.get(flag) is True]
    sent = facts.get("evidence_sent")
    if isinstance(sent, Mapping):
        for media, count in sent.items():
            if isinstance(count, int) and count > 0:
                items.append(words("evidence_sent", media).replace("{n}", str(count)))
    return items
