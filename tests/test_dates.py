"""Dates shoppers type: weekdays, relative days, years, impossible and future days, English.

The table (tests/nlu/dates.yaml) is shared with ``python -m bench dates``, which runs the same
cases through dateparser for comparison (see docs/nlu.md).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from bot.nlu.dates import DateError, find_dates, parse_date, signed_date

CASES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "nlu" / "dates.yaml").read_text(encoding="utf-8")
)["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["text"] for c in CASES])
def test_each_typed_date_gives_the_signing_day_or_says_why_not(case: dict[str, Any]) -> None:
    today = date.fromisoformat(str(case["today"]))
    expect = str(case["expect"])
    if expect == "none":
        assert find_dates(case["text"], today) == []
        return
    got = parse_date(case["text"], today)
    assert (got.isoformat() if isinstance(got, date) else got.value) == expect


def test_each_date_of_a_sentence_has_its_role() -> None:
    mentions = find_dates("上周五下的单，周日发的货，昨天才到，今天申请了退货", date(2026, 11, 23))
    assert [(m.role, m.value) for m in mentions] == [
        ("ordered", date(2026, 11, 20)),
        ("shipped", date(2026, 11, 22)),
        ("signed", date(2026, 11, 22)),
        ("applied", date(2026, 11, 23)),
    ]
    picked = signed_date(mentions)
    assert picked is not None and picked.value == date(2026, 11, 22)


def test_a_future_or_impossible_day_is_reported_not_dropped() -> None:
    today = date(2026, 11, 23)
    assert [m.error for m in find_dates("明天到", today)] == [DateError.FUTURE]
    assert [m.error for m in find_dates("2月30号签收的", today)] == [DateError.INVALID]


@given(st.text(max_size=40), st.dates(min_value=date(2001, 1, 1), max_value=date(2090, 12, 31)))
def test_find_dates_never_raises_and_never_returns_a_future_day(text: str, today: date) -> None:
    for m in find_dates(text, today):
        assert (m.value is None) != (m.error is None)
        assert m.value is None or m.value <= today
