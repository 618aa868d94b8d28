"""Slot validators: dates for the seven-day window (facts §2), order numbers (config
``order_number_pattern``), masked order numbers (privacy rule), free text (flows.md slot types)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.engine.slots import (
    YEARLESS_FUTURE_DAYS,
    DateError,
    clean_text,
    mask_order_no,
    parse_date,
    parse_order_no,
)

TODAY = date(2026, 11, 23)
PATTERN = "^[A-Za-z]{0,3}[0-9]{10,30}$"  # config/policy.yaml order_number_pattern


# --- parse_date: accepted forms --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # relative words
        ("今天", date(2026, 11, 23)),
        ("今日", date(2026, 11, 23)),
        ("昨天", date(2026, 11, 22)),
        ("昨日", date(2026, 11, 22)),
        ("前天", date(2026, 11, 21)),
        ("大前天", date(2026, 11, 20)),
        # N days ago, digits and Chinese numerals
        ("3天前", date(2026, 11, 20)),
        ("三天前", date(2026, 11, 20)),
        ("两天前", date(2026, 11, 21)),
        ("十天前", date(2026, 11, 13)),
        ("十五天前", date(2026, 11, 8)),
        ("二十天前", date(2026, 11, 3)),
        ("三十天前", date(2026, 10, 24)),
        ("31天前", date(2026, 10, 23)),
        ("五日前", date(2026, 11, 18)),
        ("两天以前", date(2026, 11, 21)),
        ("已经签收三天了", date(2026, 11, 20)),
        ("0天前", date(2026, 11, 23)),
        # month-day
        ("11月20日", date(2026, 11, 20)),
        ("11月20号", date(2026, 11, 20)),
        ("11月20", date(2026, 11, 20)),
        ("十一月二十日", date(2026, 11, 20)),
        ("11.20", date(2026, 11, 20)),
        ("11-20", date(2026, 11, 20)),
        ("11/20", date(2026, 11, 20)),
        ("1/5", date(2026, 1, 5)),
        # full dates
        ("2026-11-20", date(2026, 11, 20)),
        ("2026年11月20日", date(2026, 11, 20)),
        ("2026.11.20", date(2026, 11, 20)),
        ("2026/11/20", date(2026, 11, 20)),
        ("26年11月20日", date(2026, 11, 20)),
        ("2026-1-5", date(2026, 1, 5)),
        # day of the month alone
        ("20号", date(2026, 11, 20)),
        ("二十号", date(2026, 11, 20)),
        # full-width digits and punctuation, spaces
        ("１１月２０日", date(2026, 11, 20)),
        ("２０２６－１１－２０", date(2026, 11, 20)),
        ("１１．２０", date(2026, 11, 20)),
        (" 11 月 20 日 ", date(2026, 11, 20)),
        # inside a sentence
        ("我是11月20号签收的", date(2026, 11, 20)),
        ("快递是前天送到的", date(2026, 11, 21)),
        ("签收时间2026-11-20 14:03", date(2026, 11, 20)),
        ("今天查了一下,20号签收的", date(2026, 11, 20)),  # explicit beats relative
        ("昨天想起来是11月18日签的", date(2026, 11, 18)),
    ],
)
def test_parse_date_accepts_common_forms__facts_2(text: str, expected: date) -> None:
    assert parse_date(text, TODAY) == expected


# --- parse_date: year inference and boundaries ------------------------------------------------


def test_month_day_without_year_is_last_year_when_later_in_this_year__facts_2() -> None:
    # Nov 23: "12月30日" can only mean last year's.
    assert parse_date("12月30日", TODAY) == date(2025, 12, 30)
    assert parse_date("12.30", TODAY) == date(2025, 12, 30)


def test_month_day_just_ahead_is_future_not_last_year__facts_2() -> None:
    assert parse_date("11月24日", TODAY) is DateError.FUTURE
    ahead = TODAY + timedelta(days=YEARLESS_FUTURE_DAYS)
    assert parse_date(f"{ahead.month}月{ahead.day}日", TODAY) is DateError.FUTURE
    beyond = TODAY + timedelta(days=YEARLESS_FUTURE_DAYS + 1)
    assert parse_date(f"{beyond.month}月{beyond.day}日", TODAY) == beyond.replace(year=2025)


@pytest.mark.parametrize(
    ("text", "today", "expected"),
    [
        # year boundary: early January, a December date is last year's
        ("12月30日", date(2027, 1, 2), date(2026, 12, 30)),
        ("12.31", date(2027, 1, 1), date(2026, 12, 31)),
        ("昨天", date(2027, 1, 1), date(2026, 12, 31)),
        ("3天前", date(2027, 1, 2), date(2026, 12, 30)),
        ("30号", date(2027, 1, 2), date(2026, 12, 30)),
        ("1月1日", date(2027, 1, 1), date(2027, 1, 1)),
        # leap years
        ("2月29日", date(2028, 3, 1), date(2028, 2, 29)),
        ("2028-02-29", date(2028, 3, 1), date(2028, 2, 29)),
        ("2月29日", date(2025, 1, 10), date(2024, 2, 29)),  # latest 2-29 is last year's
        ("昨天", date(2028, 3, 1), date(2028, 2, 29)),
        ("前天", date(2027, 3, 1), date(2027, 2, 27)),
        # day of month only: previous month when later than today; 31号 skips short months
        ("25号", date(2026, 11, 23), date(2026, 10, 25)),
        ("31号", date(2026, 3, 1), date(2026, 1, 31)),
        ("29号", date(2027, 3, 1), date(2027, 1, 29)),
    ],
)
def test_parse_date_calendar_edges__facts_2(text: str, today: date, expected: date) -> None:
    assert parse_date(text, today) == expected


@pytest.mark.parametrize(
    ("text", "today"),
    [
        ("2月29日", date(2026, 11, 23)),  # latest is 2024-02-29: more than a year ago
        ("2025-11-22", date(2026, 11, 23)),
        ("400天前", date(2026, 11, 23)),
        ("2020年1月1日", date(2026, 11, 23)),
        ("三百七十天前", date(2026, 11, 23)),
    ],
)
def test_parse_date_too_old__facts_2(text: str, today: date) -> None:
    assert parse_date(text, today) is DateError.TOO_OLD


def test_parse_date_exactly_one_year_ago_is_accepted__facts_2() -> None:
    assert parse_date("2025-11-23", TODAY) == date(2025, 11, 23)
    assert parse_date("365天前", TODAY) == date(2025, 11, 23)
    # today is a leap day: a year back is 2-28
    assert parse_date("2027-02-28", date(2028, 2, 29)) == date(2027, 2, 28)
    assert parse_date("2027-02-27", date(2028, 2, 29)) is DateError.TOO_OLD


@pytest.mark.parametrize(
    "text", ["2026-11-24", "2027年1月1日", "明年3月", "2026.12.01", "11月24号"]
)
def test_parse_date_future__facts_2(text: str) -> None:
    result = parse_date(text, TODAY)
    assert result in (DateError.FUTURE, DateError.INVALID)
    if text != "明年3月":
        assert result is DateError.FUTURE


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "不记得了",
        "hello",
        "2月30日",
        "2月31号",
        "13月1日",
        "0月5日",
        "11月0日",
        "11月32日",
        "2026-02-30",
        "2026-13-01",
        "2027-02-29",  # not a leap year (and future, but it does not exist)
        "32号",
        "0号",
        "11/20/2026",  # US order: not a form we take
        "订单号P7123456789012345678",
    ],
)
def test_parse_date_invalid__facts_2(text: str) -> None:
    assert parse_date(text, TODAY) is DateError.INVALID


@given(
    today=st.dates(min_value=date(2001, 1, 1), max_value=date(2099, 12, 31)),
    back=st.integers(min_value=0, max_value=365),
)
def test_parse_date_roundtrips_iso_and_month_day_within_a_year__facts_2(
    today: date, back: int
) -> None:
    d = today - timedelta(days=back)
    one_year_back = date(
        today.year - 1, today.month, min(today.day, 28 if today.month == 2 else 31)
    )
    if d < one_year_back:
        return
    assert parse_date(d.isoformat(), today) == d
    assert parse_date(f"{d.year}年{d.month}月{d.day}日", today) == d
    assert parse_date(f"{back}天前", today) == d
    this_year = date(today.year, d.month, d.day) if (d.month, d.day) != (2, 29) else None
    same_day_last_year = d != today and (d.month, d.day) == (today.month, today.day)
    ahead = this_year is not None and 0 < (this_year - today).days <= YEARLESS_FUTURE_DAYS
    if not (same_day_last_year or ahead):
        assert parse_date(f"{d.month}月{d.day}日", today) == d


@given(text=st.text(max_size=40), today=st.dates(min_value=date(2001, 1, 1)))
def test_parse_date_never_raises_and_never_returns_a_future_date__facts_2(
    text: str, today: date
) -> None:
    result = parse_date(text, today)
    assert isinstance(result, DateError) or result <= today


# --- parse_order_no (config order_number_pattern) ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P7123456789012345678", "P7123456789012345678"),
        ("7123456789012345678", "7123456789012345678"),
        ("订单号是 P7123456789012345678", "P7123456789012345678"),
        ("订单号:P7123456789012345678,麻烦了", "P7123456789012345678"),
        ("P7123 4567 8901 2345 678", "P7123456789012345678"),
        ("P7123-4567-8901-2345-678", "P7123456789012345678"),
        ("Ｐ７１２３４５６７８９０１２３４５６７８", "P7123456789012345678"),  # full-width
        ("  P7123456789012345678\n", "P7123456789012345678"),
        ("订单号P7123456789012345678", "P7123456789012345678"),
        # an order number and a phone number: the longer one is the order
        ("手机13812345678 订单 P7123456789012345678", "P7123456789012345678"),
        ("1234567890", "1234567890"),  # shortest the pattern allows
    ],
)
def test_parse_order_no_finds_and_validates__config_order_number_pattern(
    text: str, expected: str
) -> None:
    assert parse_order_no(text, PATTERN) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "不知道",
        "123456789",  # too short
        "P" + "1" * 31,  # too long
        "ABCD7123456789012345678",  # too many letters (and no matching suffix of 0-3 letters…)
        "P12345.678901",  # a decimal point is not a separator
    ],
)
def test_parse_order_no_rejects__config_order_number_pattern(text: str) -> None:
    result = parse_order_no(text, PATTERN)
    if text == "ABCD7123456789012345678":
        # a suffix with up to three letters is a valid number in its own right
        assert result == "BCD7123456789012345678"
    else:
        assert result is None


def test_parse_order_no_uses_the_given_pattern__config_order_number_pattern() -> None:
    assert parse_order_no("单号 XHS-123", r"^XHS[0-9]{3}$") is None
    assert parse_order_no("单号 XHS123", r"^XHS[0-9]{3}$") == "XHS123"
    assert parse_order_no("P7123456789012345678", r"^[0-9]{19}$") == "7123456789012345678"


# --- mask_order_no (privacy: no order numbers in logs) ---------------------------------------


@pytest.mark.parametrize(
    ("s", "masked"),
    [
        ("P7123456789012345678", "****5678"),
        ("12345", "****2345"),
        ("1234", "****"),
        ("", "****"),
    ],
)
def test_mask_order_no_keeps_last_four__privacy(s: str, masked: str) -> None:
    assert mask_order_no(s) == masked


@given(st.text(min_size=5, max_size=40))
def test_mask_order_no_never_reveals_more_than_four__privacy(s: str) -> None:
    m = mask_order_no(s)
    assert m.startswith("****")
    assert len(m) == 8
    assert m.endswith(s[-4:])


# --- clean_text (flows.md slot type text, 500 characters) -------------------------------------


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("  卖家不回复  ", "卖家不回复"),
        ("卖家\u200b不\u200d回\ufeff复", "卖家不回复"),  # zero-width / BOM
        ("卖家\x00不\x07回复\x1b", "卖家不回复"),  # control characters
        ("a   b\t\tc\u3000\u3000d", "a b c d"),  # runs of spaces, tabs, ideographic spaces
        ("第一行\n第二行", "第一行\n第二行"),  # newlines kept
        ("第一行\r\n第二行\r第三行", "第一行\n第二行\n第三行"),
        ("a\n\n\n\n\nb", "a\n\nb"),  # at most one blank line
        ("a  \n  b", "a\nb"),  # lines trimmed
        ("\u202e反向\u202c", "反向"),  # bidi overrides
        ("", ""),
    ],
)
def test_clean_text__flows_slot_text(raw: str, cleaned: str) -> None:
    assert clean_text(raw) == (cleaned, False)


def test_clean_text_trims_to_limit__flows_slot_text() -> None:
    text, trimmed = clean_text("卖" * 501)
    assert (len(text), trimmed) == (500, True)
    assert clean_text("卖" * 500) == ("卖" * 500, False)
    assert clean_text("abcdef", limit=3) == ("abc", True)
    assert clean_text("ab  cdef", limit=3) == ("ab", True)  # no trailing space after the cut


def test_clean_text_limit_counts_after_cleaning__flows_slot_text() -> None:
    assert clean_text("a" + "\u200b" * 600 + "b", limit=5) == ("ab", False)


def test_clean_text_refuses_nonsense_limit__flows_slot_text() -> None:
    with pytest.raises(ValueError):
        clean_text("x", limit=0)


@given(st.text(max_size=800))
def test_clean_text_output_is_clean_and_bounded__flows_slot_text(raw: str) -> None:
    text, trimmed = clean_text(raw)
    assert len(text) <= 500
    assert text == text.strip()
    assert "\r" not in text and "  " not in text and "\n\n\n" not in text
    assert all(c == "\n" or c.isprintable() or c == " " or not c.isspace() for c in text)
    assert not any(c in text for c in "\x00\u200b\ufeff\u200d")
    assert clean_text(text) == (text, False)  # idempotent
    if not trimmed:
        assert len(text) <= 500
