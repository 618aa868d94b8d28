"""Rules: who pays shipping (facts §3), the seven-day window and exclusions (facts §2),
商品完好 (facts §2, 办法 art. 8/9), deadlines (facts §2, §4), fraud compensation (facts §3)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.engine import rules
from bot.engine.rules import (
    Category,
    ConditionProblem,
    Eligibility,
    Payer,
    Reason,
    condition_advice,
    deadline_passed,
    fraud_compensation,
    refund_due,
    return_confirm_deadline,
    seller_response_deadline,
    seven_day_eligibility,
    seven_day_window,
    shipping_payer,
    who_pays_both_ways,
    window_status,
)

# --- Reason codes are the flows' slot values ------------------------------------------------


def test_reason_values_are_exactly_the_problem_slot_values__coverage_T2() -> None:
    assert {r.value for r in Reason} == {
        "changed_mind",
        "damaged",
        "quality",
        "not_as_described",
        "wrong_item",
        "fake",
        "size_color",
        "address_wrong",
        "logistics_stalled",
    }


def test_category_values_are_exactly_the_category_slot_values__facts_2() -> None:
    assert {c.value for c in Category} == {
        "normal",
        "fresh",
        "custom",
        "digital_opened",
        "periodical",
        "cosmetics_opened",
        "food",
        "underwear",
        "activated_electronics",
        "near_expiry",
    }


# --- Who pays shipping (facts §3) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "payer", "both_ways"),
    [
        ("quality", Payer.SELLER, True),  # 消法 art. 24; seed 004 scenario 3 来回运费
        ("damaged", Payer.SELLER_OR_COURIER, True),  # 电子商务法 art. 20; scenario 2
        ("wrong_item", Payer.SELLER, True),  # seed 004 scenario 5, both ways
        ("fake", Payer.SELLER, True),  # 消法 art. 55
        ("not_as_described", Payer.SELLER, True),  # JD rule
        ("changed_mind", Payer.BUYER, False),  # 办法 art. 18, return leg only
        ("size_color", Payer.BUYER, False),  # Taobao art. 53, scenario 4
        ("logistics_stalled", Payer.SELLER_OR_COURIER, False),
        ("address_wrong", Payer.DEPENDS, False),
    ],
)
def test_shipping_payer_by_reason__facts_3(reason: str, payer: Payer, both_ways: bool) -> None:
    assert shipping_payer(reason) is payer
    assert shipping_payer(Reason(reason)) is payer
    assert who_pays_both_ways(reason) is both_ways


@pytest.mark.parametrize(
    ("reason", "payer"),
    [
        ("changed_mind", Payer.BUYER),  # Taobao art. 54: exchange for personal reason → buyer
        ("size_color", Payer.BUYER),
        ("damaged", Payer.SELLER),  # the seller re-ships; no courier claim for the buyer to make
        ("quality", Payer.SELLER),
        ("wrong_item", Payer.SELLER),
    ],
)
def test_exchange_payer__facts_3_taobao_54(reason: str, payer: Payer) -> None:
    assert shipping_payer(reason, exchange=True) is payer


def test_unknown_reason_is_rejected_not_guessed__facts_3() -> None:
    with pytest.raises(ValueError):
        shipping_payer("bored")
    with pytest.raises(ValueError):
        who_pays_both_ways("")


def test_payer_for_every_reason_is_defined__facts_3() -> None:
    for reason in Reason:
        assert isinstance(shipping_payer(reason), Payer)
        assert isinstance(shipping_payer(reason, exchange=True), Payer)


# --- Seven-day window (facts §2: starts the day after signing) ------------------------------


def test_seven_day_window_starts_day_after_signing__facts_2() -> None:
    w = seven_day_window(date(2026, 11, 20))
    assert w.first_day == date(2026, 11, 21)
    assert w.last_day == date(2026, 11, 27)
    assert w.signed == date(2026, 11, 20)


@pytest.mark.parametrize(
    ("signed", "last_day"),
    [
        (date(2026, 12, 28), date(2027, 1, 4)),  # year boundary
        (date(2028, 2, 25), date(2028, 3, 3)),  # leap year: 2-29 exists
        (date(2027, 2, 25), date(2027, 3, 4)),  # not a leap year
        (date(2026, 1, 31), date(2026, 2, 7)),  # month boundary
        (date(2028, 2, 29), date(2028, 3, 7)),  # signed on a leap day
    ],
)
def test_seven_day_window_calendar_edges__facts_2(signed: date, last_day: date) -> None:
    assert seven_day_window(signed).last_day == last_day


def test_seven_day_window_length_comes_from_config__facts_2() -> None:
    assert seven_day_window(date(2026, 11, 20), window_days=15).last_day == date(2026, 12, 5)
    with pytest.raises(ValueError):
        seven_day_window(date(2026, 11, 20), window_days=0)


@pytest.mark.parametrize(
    ("today", "is_open", "days_left"),
    [
        (date(2026, 11, 20), True, 7),  # signing day itself
        (date(2026, 11, 21), True, 6),  # day 1
        (date(2026, 11, 26), True, 1),
        (date(2026, 11, 27), True, 0),  # last day: still open, 0 left
        (date(2026, 11, 28), False, -1),  # closed the day after
        (date(2026, 12, 20), False, -23),
    ],
)
def test_window_status_open_through_last_day__facts_2(
    today: date, is_open: bool, days_left: int
) -> None:
    st_ = window_status(date(2026, 11, 20), today)
    assert (st_.open, st_.days_left) == (is_open, days_left)
    assert st_.last_day == date(2026, 11, 27)


def test_window_status_refuses_today_before_signing__facts_2() -> None:
    with pytest.raises(ValueError):
        window_status(date(2026, 11, 20), date(2026, 11, 19))


@given(
    signed=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 1, 1)),
    offset=st.integers(min_value=0, max_value=60),
    window=st.integers(min_value=1, max_value=30),
)
def test_window_open_iff_within_window_days_after_signing__facts_2(
    signed: date, offset: int, window: int
) -> None:
    s = window_status(signed, signed + timedelta(days=offset), window)
    assert s.open is (offset <= window)
    assert s.days_left == window - offset


# --- Seven-day eligibility by category (facts §2; 办法 art. 6, 7) ----------------------------


@pytest.mark.parametrize("category", ["fresh", "custom", "digital_opened", "periodical"])
@pytest.mark.parametrize("confirmed", [None, True, False])
def test_excluded_by_law_whatever_checkout_said__facts_2(
    category: str, confirmed: bool | None
) -> None:
    assert (
        seven_day_eligibility(category, confirmed_at_checkout=confirmed)
        is Eligibility.EXCLUDED_BY_LAW
    )


@pytest.mark.parametrize(
    "category", ["cosmetics_opened", "food", "underwear", "activated_electronics", "near_expiry"]
)
@pytest.mark.parametrize(
    ("confirmed", "expected"),
    [
        (True, Eligibility.EXCLUDED_CONFIRMED),
        (False, Eligibility.ELIGIBLE),
        (None, Eligibility.CHECK_CHECKOUT),
    ],
)
def test_art7_categories_excluded_only_if_confirmed_at_checkout__facts_2(
    category: str, confirmed: bool | None, expected: Eligibility
) -> None:
    assert seven_day_eligibility(category, confirmed_at_checkout=confirmed) is expected


@pytest.mark.parametrize("confirmed", [None, True, False])
def test_normal_goods_are_eligible__facts_2(confirmed: bool | None) -> None:
    result = seven_day_eligibility(Category.NORMAL, confirmed_at_checkout=confirmed)
    assert result is Eligibility.ELIGIBLE
    assert result.eligible


def test_only_eligible_counts_as_eligible__facts_2() -> None:
    assert [e for e in Eligibility if e.eligible] == [Eligibility.ELIGIBLE]


def test_every_category_is_classified_once__facts_2() -> None:
    assert rules.EXCLUDED_BY_LAW.isdisjoint(rules.EXCLUDED_IF_CONFIRMED)
    assert set(Category) == rules.EXCLUDED_BY_LAW | rules.EXCLUDED_IF_CONFIRMED | {Category.NORMAL}


def test_unknown_category_is_rejected__facts_2() -> None:
    with pytest.raises(ValueError):
        seven_day_eligibility("furniture")


# --- 商品完好 (facts §2; 办法 art. 8, 9) ------------------------------------------------------


def test_opening_to_inspect_keeps_goods_intact__facts_2_art8() -> None:
    v = condition_advice(
        opened_to_inspect=True, seal_broken=False, tags_removed=False, activated=False
    )
    assert v.intact
    assert v.problems == ()
    assert v.opened_is_fine


def test_untouched_goods_are_intact_without_the_opening_note__facts_2() -> None:
    v = condition_advice(
        opened_to_inspect=False, seal_broken=False, tags_removed=False, activated=False
    )
    assert v.intact
    assert not v.opened_is_fine


@pytest.mark.parametrize(
    ("seal", "tags", "activated", "problems"),
    [
        (True, False, False, (ConditionProblem.SEAL_BROKEN,)),
        (False, True, False, (ConditionProblem.TAGS_REMOVED,)),
        (False, False, True, (ConditionProblem.ACTIVATED,)),
        (
            True,
            True,
            True,
            (
                ConditionProblem.SEAL_BROKEN,
                ConditionProblem.ACTIVATED,
                ConditionProblem.TAGS_REMOVED,
            ),
        ),
    ],
)
def test_seal_activation_or_tags_break_intact_condition__facts_2_art9(
    seal: bool, tags: bool, activated: bool, problems: tuple[ConditionProblem, ...]
) -> None:
    v = condition_advice(
        opened_to_inspect=True, seal_broken=seal, tags_removed=tags, activated=activated
    )
    assert not v.intact
    assert v.problems == problems
    assert not v.opened_is_fine  # no "opening is fine" reassurance when it is not


# --- Deadlines (facts §2, §4) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (date(2026, 11, 20), date(2026, 11, 27)),
        (date(2026, 12, 29), date(2027, 1, 5)),
        (date(2028, 2, 24), date(2028, 3, 2)),
    ],
)
def test_refund_due_seven_days_after_return_received__facts_2(received: date, due: date) -> None:
    assert refund_due(received) == due


def test_refund_due_days_can_be_configured__facts_2() -> None:
    assert refund_due(date(2026, 11, 20), days=3) == date(2026, 11, 23)
    with pytest.raises(ValueError):
        refund_due(date(2026, 11, 20), days=0)


def test_seller_response_deadline_adds_configured_hours__facts_4() -> None:
    requested = datetime(2026, 11, 20, 21, 30, tzinfo=UTC)
    assert seller_response_deadline(requested, 72) == datetime(2026, 11, 23, 21, 30, tzinfo=UTC)
    assert seller_response_deadline(requested, 96) == datetime(2026, 11, 24, 21, 30, tzinfo=UTC)


def test_seller_response_deadline_keeps_time_zone__facts_4() -> None:
    cst = timezone(timedelta(hours=8))
    d = seller_response_deadline(datetime(2026, 12, 30, 23, 0, tzinfo=cst), 72)
    assert d == datetime(2027, 1, 2, 23, 0, tzinfo=cst)
    assert d.utcoffset() == timedelta(hours=8)


def test_seller_response_deadline_refuses_nonsense_hours__facts_4() -> None:
    with pytest.raises(ValueError):
        seller_response_deadline(datetime(2026, 11, 20, tzinfo=UTC), 0)


def test_return_confirm_deadline_adds_configured_days__facts_4() -> None:
    assert return_confirm_deadline(date(2026, 11, 20), 10) == date(2026, 11, 30)
    assert return_confirm_deadline(date(2026, 12, 25), 10) == date(2027, 1, 4)
    with pytest.raises(ValueError):
        return_confirm_deadline(date(2026, 11, 20), -1)


def test_deadline_passed_only_after_the_instant__facts_4() -> None:
    deadline = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert not deadline_passed(deadline, deadline - timedelta(seconds=1))
    assert not deadline_passed(deadline, deadline)
    assert deadline_passed(deadline, deadline + timedelta(seconds=1))


# --- Fraud compensation (facts §3; 消法 art. 55) ---------------------------------------------


@pytest.mark.parametrize(
    ("price", "compensation"),
    [
        (Decimal("99.90"), Decimal(500)),  # 3× is 299.70 → at least ¥500
        (Decimal("166.67"), Decimal("500.01")),
        (1000, Decimal(3000)),
        (0, Decimal(500)),
    ],
)
def test_fraud_compensation_three_times_at_least_500__facts_3(
    price: Decimal | int, compensation: Decimal
) -> None:
    assert fraud_compensation(price) == compensation


def test_fraud_compensation_refuses_negative_price__facts_3() -> None:
    with pytest.raises(ValueError):
        fraud_compensation(Decimal(-1))


# --- The complaint statement: what it may cite, ask for, and how strong it is ------------


@pytest.mark.parametrize(
    ("problem", "status", "seller", "expected"),
    [
        # facts §3 "quality problem": 消法 art. 24
        ("quality", None, "refused", (rules.Basis.QUALITY,)),
        # facts §3 "damaged in transit": 电子商务法 art. 20 / 民法典 art. 604
        ("damaged", None, "refused", (rules.Basis.TRANSIT,)),
        ("logistics_stalled", None, "ignored", (rules.Basis.TRANSIT,)),
        (None, "not_received", "refused", (rules.Basis.TRANSIT,)),
        # facts §3 "counterfeit": 消法 art. 55, and the platform authenticates (facts §5)
        ("fake", None, "refused", (rules.Basis.FRAUD, rules.Basis.AUTHENTICATION)),
        # facts §3 "JD rule" and seed 004 scenario 5: the seller's to bear, no article
        ("not_as_described", None, "refused", (rules.Basis.NOT_AS_DESCRIBED,)),
        ("wrong_item", None, "refused", (rules.Basis.WRONG_ITEM,)),
        # facts §1, §4: cancelling is the platform's rule, never the seven-day article
        ("changed_mind", "unshipped", "refused_cancel", (rules.Basis.PLATFORM_CANCEL,)),
        (None, None, "refused_cancel", (rules.Basis.PLATFORM_CANCEL,)),
    ],
)
def test_complaint_cites_only_what_the_facts_support__coverage_I1(
    problem: str | None, status: str | None, seller: str | None, expected: tuple[rules.Basis, ...]
) -> None:
    assert rules.complaint_basis(problem, status=status, seller=seller) == expected


def test_change_of_mind_cites_article_25_only_inside_the_window_and_for_eligible_goods() -> None:
    """facts §2: art. 25 applies within seven days of signing, and not to the excluded goods."""
    cite = rules.complaint_basis
    assert cite("changed_mind", window_open=True) == (rules.Basis.SEVEN_DAYS,)
    assert cite("size_color", window_open=True, category="normal") == (rules.Basis.SEVEN_DAYS,)
    assert cite("changed_mind", window_open=False) == ()
    assert cite("changed_mind", window_open=None) == ()
    assert cite("changed_mind", window_open=True, category="custom") == ()
    assert cite("wrong_address", window_open=True) == ()


def test_complaint_strength_is_honest_about_a_weak_change_of_mind_case() -> None:
    """facts §2: after the window, or for excluded goods, the seller may lawfully refuse."""
    strength = rules.complaint_strength
    assert strength("changed_mind", window_open=False) is rules.Strength.WINDOW_PASSED
    assert strength("changed_mind", window_open=True, category="fresh") is rules.Strength.EXCLUDED
    assert strength("changed_mind", window_open=True) is rules.Strength.SOUND
    # A seller fault stands whatever the calendar says (facts §3).
    assert strength("quality", window_open=False) is rules.Strength.SOUND
    assert strength("fake", window_open=False, category="custom") is rules.Strength.SOUND


def test_complaint_demand_fits_who_pays__facts_3() -> None:
    demand, d = rules.complaint_demand, rules.Demand
    assert demand("fake") == (d.FULL_REFUND, d.FRAUD_COMPENSATION, d.AUTHENTICATION)
    assert demand("wrong_item") == (d.RESHIP_OR_REFUND,)
    assert demand("wrong_item", "reship") == (d.RESHIP,)
    assert demand("wrong_item", "return_refund") == (d.RETURN_REFUND_SELLER_PAYS,)
    assert demand("quality") == (d.RETURN_REFUND_SELLER_PAYS,)
    assert demand("quality", "exchange") == (d.EXCHANGE_SELLER_PAYS,)
    assert demand("changed_mind") == (d.RETURN_REFUND_BUYER_PAYS,)
    assert demand("size_color", "exchange") == (d.EXCHANGE_BUYER_PAYS,)
    assert demand("quality", "refund_only") == (d.REFUND_ONLY,)
    assert demand("damaged", "compensation") == (d.RETURN_REFUND_SELLER_PAYS, d.COMPENSATION)
    assert demand("changed_mind", status="unshipped") == (d.CANCEL_REFUND,)
    assert demand(None, status="not_received") == (d.RESEND_OR_REFUND,)
    assert demand("logistics_stalled") == (d.RESEND_OR_REFUND,)


def test_unknown_codes_never_raise_and_cite_nothing() -> None:
    assert rules.complaint_basis("nonsense", window_open=True, category="nonsense") == ()
    assert rules.complaint_strength("nonsense") is rules.Strength.SOUND
    assert rules.complaint_demand(None) == (rules.Demand.RETURN_REFUND,)
    assert rules.complaint_demand("wrong_address") == (rules.Demand.RETURN_REFUND,)
    assert rules.complaint_demand("address_wrong", "reship") == (rules.Demand.RESEND,)
