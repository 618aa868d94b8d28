"""After-sales rules as pure functions: who pays shipping, the 7-day window, exclusions, deadlines.

Everything here is law or arithmetic (``shared/domain/facts.md`` §2, §3), or arithmetic on a
platform number that the caller passes in from ``config/policy.yaml`` (§4). Nothing reads the
clock, a file or the network; nothing returns user-facing text. Results are codes (``StrEnum``
values, storable as slot values and comparable in flow conditions) that the engine renders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

__all__ = [
    "EXCLUDED_BY_LAW",
    "EXCLUDED_IF_CONFIRMED",
    "FRAUD_MINIMUM_YUAN",
    "FRAUD_MULTIPLIER",
    "Basis",
    "Category",
    "ConditionProblem",
    "ConditionVerdict",
    "Demand",
    "Eligibility",
    "Payer",
    "Reason",
    "Strength",
    "Window",
    "WindowStatus",
    "complaint_basis",
    "complaint_demand",
    "complaint_strength",
    "condition_advice",
    "deadline_passed",
    "fraud_compensation",
    "refund_due",
    "return_confirm_deadline",
    "seller_response_deadline",
    "seven_day_eligibility",
    "seven_day_window",
    "shipping_payer",
    "who_pays_both_ways",
    "window_status",
]


class Reason(StrEnum):
    """What went wrong (the ``problem`` slot; coverage T2)."""

    CHANGED_MIND = "changed_mind"  # 不想要了 / 冲动消费
    DAMAGED = "damaged"  # 包裹破损
    QUALITY = "quality"  # 质量问题
    NOT_AS_DESCRIBED = "not_as_described"  # 与描述不符
    WRONG_ITEM = "wrong_item"  # 发错货 / 漏发
    FAKE = "fake"  # 疑似假货
    SIZE_COLOR = "size_color"  # 尺码 / 颜色不合适
    ADDRESS_WRONG = "address_wrong"  # 收货信息错误 / 不在家
    LOGISTICS_STALLED = "logistics_stalled"  # 物流停滞


class Payer(StrEnum):
    """Who bears the return shipping."""

    SELLER = "seller"
    BUYER = "buyer"
    #: Transport damage: the seller (risk stays with the seller until delivery), who may in turn
    #: claim from the courier; seed 004 scenario 2 says "卖家或快递公司承担".
    SELLER_OR_COURIER = "seller_or_courier"
    #: Depends on whose mistake it was (a wrong address typed by the buyer vs. a misdelivery).
    DEPENDS = "depends"


_SELLER_FAULT = frozenset(
    {Reason.QUALITY, Reason.NOT_AS_DESCRIBED, Reason.WRONG_ITEM, Reason.FAKE, Reason.DAMAGED}
)
_PERSONAL = frozenset({Reason.CHANGED_MIND, Reason.SIZE_COLOR})


def shipping_payer(reason: Reason | str, *, exchange: bool = False) -> Payer:
    """Returns who pays the return shipping for ``reason`` (facts §3; seed 004 三).

    - quality, not as described, wrong/missing item, counterfeit: the seller (消法 art. 24, 55).
    - damaged in transit: the seller or the courier (电子商务法 art. 20; 民法典 art. 604); for an
      exchange it is the seller's to arrange, so simply the seller.
    - personal reasons (changed mind, size/colour), return or exchange: the buyer
      (办法 art. 18; Taobao art. 53, 54).
    - stalled logistics: the parcel never arrived, the transport risk is the seller's, with
      the courier (电子商务法 art. 20).
    - wrong address / not at home: depends on whose mistake it was.
    """
    r = Reason(reason)
    if r is Reason.DAMAGED:
        return Payer.SELLER if exchange else Payer.SELLER_OR_COURIER
    if r in _SELLER_FAULT:
        return Payer.SELLER
    if r in _PERSONAL:
        return Payer.BUYER
    if r is Reason.LOGISTICS_STALLED:
        return Payer.SELLER_OR_COURIER
    return Payer.DEPENDS


def who_pays_both_ways(reason: Reason | str) -> bool:
    """Returns whether the payer covers both legs (sending and return), facts §3.

    True for the seller's faults (seed 004 scenarios 3 and 5: "来回运费"). False for personal
    reasons: the buyer pays the return leg only; the outbound leg was part of the purchase
    (办法 art. 18; Taobao art. 53). False when the payer itself depends on the case.
    """
    return Reason(reason) in _SELLER_FAULT


# --- Seven-day no-reason return (facts §2) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """The seven-day no-reason window: ``first_day`` to ``last_day``, both inclusive."""

    signed: date
    first_day: date
    last_day: date


@dataclass(frozen=True, slots=True)
class WindowStatus:
    """Whether the window is still open on a given day and how many days are left after it."""

    open: bool
    #: 0 on the last day (still open), negative once closed (-1 the day after the last day).
    days_left: int
    last_day: date


def seven_day_window(signed: date, window_days: int = 7) -> Window:
    """Returns the window: it starts the day AFTER signing (办法 art. 10); 11-20 → 11-21..11-27."""
    if window_days < 1:
        raise ValueError(f"window_days must be at least 1, got {window_days}")
    first = signed + timedelta(days=1)
    return Window(signed=signed, first_day=first, last_day=signed + timedelta(days=window_days))


def window_status(signed: date, today: date, window_days: int = 7) -> WindowStatus:
    """Returns whether a no-reason return can still be requested on ``today``.

    Raises ``ValueError`` when ``today`` is before ``signed`` (a parser bug: signing dates in
    the future are refused when typed).
    """
    if today < signed:
        raise ValueError(f"today ({today}) is before the signing date ({signed})")
    last = seven_day_window(signed, window_days).last_day
    left = (last - today).days
    return WindowStatus(open=left >= 0, days_left=left, last_day=last)


class Category(StrEnum):
    """What kind of goods (the ``category`` slot), as far as the seven-day rule cares."""

    NORMAL = "normal"
    # Excluded by law (消法 art. 25; 办法 art. 6).
    FRESH = "fresh"  # 鲜活易腐的
    CUSTOM = "custom"  # 消费者定作的
    DIGITAL_OPENED = "digital_opened"  # 在线下载或者消费者拆封的音像制品、计算机软件等数字化商品
    PERIODICAL = "periodical"  # 交付的报纸、期刊
    # Excluded only if the buyer confirmed it at checkout (办法 art. 7).
    COSMETICS_OPENED = "cosmetics_opened"
    FOOD = "food"
    UNDERWEAR = "underwear"  # 贴身衣物 (platform wording)
    ACTIVATED_ELECTRONICS = "activated_electronics"
    NEAR_EXPIRY = "near_expiry"  # sold as near-expiry / defective with disclosure


EXCLUDED_BY_LAW = frozenset(
    {Category.FRESH, Category.CUSTOM, Category.DIGITAL_OPENED, Category.PERIODICAL}
)
EXCLUDED_IF_CONFIRMED = frozenset(
    {
        Category.COSMETICS_OPENED,
        Category.FOOD,
        Category.UNDERWEAR,
        Category.ACTIVATED_ELECTRONICS,
        Category.NEAR_EXPIRY,
    }
)


class Eligibility(StrEnum):
    """Whether the seven-day no-reason return applies to a category (facts §2)."""

    ELIGIBLE = "eligible"
    #: The law itself excludes the category (custom, fresh, opened digital, periodicals).
    EXCLUDED_BY_LAW = "excluded_by_law"
    #: Art. 7 category and the buyer confirmed the exclusion when ordering.
    EXCLUDED_CONFIRMED = "excluded_confirmed"
    #: Art. 7 category, not known whether the buyer confirmed: "check the order page".
    CHECK_CHECKOUT = "check_checkout"

    @property
    def eligible(self) -> bool:
        """True only for :attr:`ELIGIBLE`."""
        return self is Eligibility.ELIGIBLE


def seven_day_eligibility(
    category: Category | str, *, confirmed_at_checkout: bool | None = None
) -> Eligibility:
    """Returns whether ``category`` can be returned without a reason (facts §2; 办法 art. 6, 7).

    ``confirmed_at_checkout`` matters only for the art. 7 categories: True → excluded,
    False → eligible, None (unknown) → :attr:`Eligibility.CHECK_CHECKOUT`.
    """
    c = Category(category)
    if c in EXCLUDED_BY_LAW:
        return Eligibility.EXCLUDED_BY_LAW
    if c in EXCLUDED_IF_CONFIRMED:
        if confirmed_at_checkout is None:
            return Eligibility.CHECK_CHECKOUT
        return Eligibility.EXCLUDED_CONFIRMED if confirmed_at_checkout else Eligibility.ELIGIBLE
    return Eligibility.ELIGIBLE


class ConditionProblem(StrEnum):
    """What takes an item out of 商品完好 (办法 art. 9)."""

    SEAL_BROKEN = "seal_broken"  # a one-time seal on food/cosmetics/medical goods
    ACTIVATED = "activated"  # electronics activated
    TAGS_REMOVED = "tags_removed"  # clothing tags removed


@dataclass(frozen=True, slots=True)
class ConditionVerdict:
    """Whether the item still counts as 商品完好 (intact) for a no-reason return."""

    intact: bool
    problems: tuple[ConditionProblem, ...]
    #: The buyer opened it to inspect or try it: worth saying that this alone is fine (art. 8).
    opened_is_fine: bool


def condition_advice(
    *, opened_to_inspect: bool, seal_broken: bool, tags_removed: bool, activated: bool
) -> ConditionVerdict:
    """Returns whether the item is still 商品完好 (facts §2; 办法 art. 8, 9).

    Opening to inspect or reasonably trying it does not break the condition (art. 8); breaking
    a one-time seal, activating electronics or removing tags does (art. 9).
    """
    problems = tuple(
        p
        for p, flag in (
            (ConditionProblem.SEAL_BROKEN, seal_broken),
            (ConditionProblem.ACTIVATED, activated),
            (ConditionProblem.TAGS_REMOVED, tags_removed),
        )
        if flag
    )
    return ConditionVerdict(
        intact=not problems, problems=problems, opened_is_fine=opened_to_inspect and not problems
    )


# --- Deadlines ---------------------------------------------------------------------------


def refund_due(received_back: date, days: int = 7) -> date:
    """Returns the last day for the seller's refund: ``days`` after receiving the return.

    Law (消法 art. 25; 办法 art. 13): within 7 days of receiving the returned goods (facts §2).
    """
    _positive("days", days)
    return received_back + timedelta(days=days)


def seller_response_deadline(requested: datetime, hours: int) -> datetime:
    """Returns when an unhandled refund request counts as agreed (facts §4, a platform number).

    ``hours`` comes from ``config/policy.yaml`` (``seller_response_hours`` or the overseas one);
    whoever quotes the result must add the policy hedge. Keeps ``requested``'s time zone.
    """
    _positive("hours", hours)
    return requested + timedelta(hours=hours)


def return_confirm_deadline(tracking_filled: date, days: int) -> date:
    """Returns the last day for the seller to confirm receiving the return (facts §4).

    ``days`` comes from ``config/policy.yaml`` (``return_confirm_days``); after it, the
    platform refunds. A platform number: quote it with the hedge.
    """
    _positive("days", days)
    return tracking_filled + timedelta(days=days)


def deadline_passed(deadline: datetime, now: datetime) -> bool:
    """Returns whether ``now`` is past ``deadline`` (the deadline instant itself is not past)."""
    return now > deadline


# --- Counterfeit compensation (facts §3; 消法 art. 55) -------------------------------------

FRAUD_MULTIPLIER = 3
FRAUD_MINIMUM_YUAN = Decimal(500)


def fraud_compensation(price_yuan: Decimal | int) -> Decimal:
    """Returns the compensation a defrauded buyer may claim: 3× the price, at least ¥500.

    消法 art. 55 (law): in addition to the refund. Only for fraud (e.g. a confirmed counterfeit).
    """
    price = Decimal(price_yuan)
    if price < 0:
        raise ValueError(f"price must not be negative, got {price}")
    return max(price * FRAUD_MULTIPLIER, FRAUD_MINIMUM_YUAN)


def _positive(name: str, value: int) -> None:
    if value < 1:
        raise ValueError(f"{name} must be a positive number, got {value}")


# --- The complaint statement (facts §2, §3, §6) --------------------------------------------


class Basis(StrEnum):
    """What a complaint statement may rest on; each code has its words in the locale.

    Only what ``shared/domain/facts.md`` supports: the law (H) stated as such, platform rules
    hedged, and nothing when no rule fits.
    """

    #: 消法 art. 24: goods not up to quality: return, exchange, repair; the seller bears the
    #: shipping (facts §3, "quality problem").
    QUALITY = "consumer_24"
    #: 电子商务法 art. 20 / 民法典 art. 604: the risk in transit stays with the seller until
    #: delivery (facts §3, "damaged in transit").
    TRANSIT = "transit_risk"
    #: 消法 art. 55: fraud, three times the price and at least ¥500 (facts §3, "counterfeit").
    FRAUD = "consumer_55"
    #: The platform authenticates suspected fakes (seed 004 三 scenario 6, facts §5).
    AUTHENTICATION = "authentication"
    #: Not as described: the seller's to bear, by the platforms' rules (facts §3, "JD rule").
    NOT_AS_DESCRIBED = "not_as_described"
    #: Wrong or missing item: the seller resends or refunds and pays both ways (facts §3, seed
    #: 004 三 scenario 5).
    WRONG_ITEM = "wrong_item"
    #: 消法 art. 25: seven-day no-reason return, only while the window is open and the category
    #: is not excluded (facts §2).
    SEVEN_DAYS = "consumer_25"
    #: Cancelling an order not yet shipped, or a seller refusing to: the platform's own rules,
    #: hedged (facts §1, §4); no seven-day article.
    PLATFORM_CANCEL = "platform_cancel"


class Demand(StrEnum):
    """What the complaint asks for, fitted to the case."""

    FULL_REFUND = "full_refund"
    #: Return and refund, who pays the shipping left to the case (the reason is not known, or
    #: it depends on whose mistake it was).
    RETURN_REFUND = "return_refund"
    RETURN_REFUND_SELLER_PAYS = "return_refund_seller_pays"
    RETURN_REFUND_BUYER_PAYS = "return_refund_buyer_pays"
    REFUND_ONLY = "refund_only"
    EXCHANGE_SELLER_PAYS = "exchange_seller_pays"
    EXCHANGE_BUYER_PAYS = "exchange_buyer_pays"
    RESHIP_OR_REFUND = "reship_or_refund"
    RESHIP = "reship"
    #: The parcel never arrived: send it again, or refund (no "correct item" to speak of).
    RESEND_OR_REFUND = "resend_or_refund"
    #: Send it again, who pays left to the case (a wrong address: whose mistake was it?).
    RESEND = "resend"
    FRAUD_COMPENSATION = "fraud_compensation"
    AUTHENTICATION = "authentication"
    CANCEL_REFUND = "cancel_refund"
    COMPENSATION = "compensation"


class Strength(StrEnum):
    """How a complaint stands on the facts, said honestly before the script."""

    SOUND = "sound"
    #: A change-of-mind return after the seven days: the seller may refuse (facts §2).
    WINDOW_PASSED = "window_passed"
    #: A change-of-mind return of goods the law excludes (facts §2).
    EXCLUDED = "excluded"


_PERSONAL_REASONS = frozenset({Reason.CHANGED_MIND, Reason.SIZE_COLOR})


def _reason(problem: str | None) -> Reason | None:
    if problem is None or problem not in Reason.__members__.values():
        return None
    return Reason(problem)


def complaint_basis(
    problem: str | None,
    *,
    status: str | None = None,
    seller: str | None = None,
    window_open: bool | None = None,
    category: str | None = None,
) -> tuple[Basis, ...]:
    """Returns what the statement may cite for these facts (possibly nothing).

    - a cancellation (not yet shipped, or the seller refusing to cancel): the platform's rules;
    - quality: 消法 art. 24; damaged, or lost/stalled in transit: 电子商务法 art. 20 and
      民法典 art. 604; counterfeit: 消法 art. 55 plus the platform's authentication;
    - not as described, wrong or missing item: the seller's obligation (no article);
    - a change of mind: 消法 art. 25 only while the window is open and the goods are eligible.
    """
    if status == "unshipped" or seller == "refused_cancel":
        return (Basis.PLATFORM_CANCEL,)
    reason = _reason(problem)
    if reason is Reason.QUALITY:
        return (Basis.QUALITY,)
    if reason is Reason.DAMAGED or (reason is Reason.LOGISTICS_STALLED or status == "not_received"):
        return (Basis.TRANSIT,)
    if reason is Reason.FAKE:
        return (Basis.FRAUD, Basis.AUTHENTICATION)
    if reason is Reason.NOT_AS_DESCRIBED:
        return (Basis.NOT_AS_DESCRIBED,)
    if reason is Reason.WRONG_ITEM:
        return (Basis.WRONG_ITEM,)
    if reason in _PERSONAL_REASONS and window_open is True and _eligible(category):
        return (Basis.SEVEN_DAYS,)
    return ()


def _eligible(category: str | None) -> bool:
    if category is None or category not in Category.__members__.values():
        return True  # not said: the window is what decides; excluded goods are asked about
    return seven_day_eligibility(category) is not Eligibility.EXCLUDED_BY_LAW


def complaint_strength(
    problem: str | None, *, window_open: bool | None = None, category: str | None = None
) -> Strength:
    """Whether a complaint stands: a change of mind needs the window open and eligible goods."""
    if _reason(problem) not in _PERSONAL_REASONS:
        return Strength.SOUND
    if category is not None and not _eligible(category):
        return Strength.EXCLUDED
    if window_open is False:
        return Strength.WINDOW_PASSED
    return Strength.SOUND


def complaint_demand(
    problem: str | None, request: str | None = None, *, status: str | None = None
) -> tuple[Demand, ...]:
    """Returns what the statement asks for: the shopper's wish, fitted to who pays (facts §3).

    A counterfeit asks for the full refund, the statutory compensation and authentication; a
    wrong item, reshipment or a refund with the seller paying both legs; a seller fault, the
    seller paying the shipping; a change of mind, the buyer paying the return leg.
    """
    if status == "unshipped":
        return (Demand.CANCEL_REFUND,)
    reason = _reason(problem)
    if reason is Reason.FAKE:
        return (Demand.FULL_REFUND, Demand.FRAUD_COMPENSATION, Demand.AUTHENTICATION)
    if reason is Reason.WRONG_ITEM:
        if request in ("reship", "exchange"):
            return (Demand.RESHIP,)
        if request == "return_refund":
            return (Demand.RETURN_REFUND_SELLER_PAYS,)
        if request == "refund_only":
            return (Demand.REFUND_ONLY,)
        return (Demand.RESHIP_OR_REFUND,)
    if reason is Reason.LOGISTICS_STALLED or status == "not_received":
        return (Demand.REFUND_ONLY,) if request == "refund_only" else (Demand.RESEND_OR_REFUND,)
    seller_fault = reason in _SELLER_FAULT
    if request == "refund_only":
        base: tuple[Demand, ...] = (Demand.REFUND_ONLY,)
    elif request in ("exchange", "reship"):
        if seller_fault:
            base = (Demand.EXCHANGE_SELLER_PAYS,)
        elif reason in _PERSONAL_REASONS:
            base = (Demand.EXCHANGE_BUYER_PAYS,)
        else:
            base = (Demand.RESEND,)
    elif seller_fault:
        base = (Demand.RETURN_REFUND_SELLER_PAYS,)
    elif reason in _PERSONAL_REASONS:
        base = (Demand.RETURN_REFUND_BUYER_PAYS,)
    else:
        base = (Demand.RETURN_REFUND,)
    if request == "compensation":
        base = (*base, Demand.COMPENSATION)
    return base
