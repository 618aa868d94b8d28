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
    "Category",
    "ConditionProblem",
    "ConditionVerdict",
    "Eligibility",
    "Payer",
    "Reason",
    "Window",
    "WindowStatus",
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
