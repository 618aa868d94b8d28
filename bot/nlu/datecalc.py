"""Calendar arithmetic for dates: the day a month-day, a day of the month, a weekday or a span
back gives, counted from the message's day.

Part of :mod:`bot.nlu.dates`; pure: ``today`` comes in as an argument.
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum

#: A month-day without a year that falls at most this many days after today is taken as this
#: year's (and refused as FUTURE) rather than as last year's: on 11-23, "11月24日" is a slip.
YEARLESS_FUTURE_DAYS = 31


class DateError(StrEnum):
    """Why a date mention has no usable day."""

    INVALID = "invalid"  # no such day (2月30日, 13月1日) or no date at all
    FUTURE = "future"  # after today
    TOO_OLD = "too_old"  # more than a year before today


# --- Calendar helpers -------------------------------------------------------------------------


def make(year: int, month: int | None, day: int | None) -> date | DateError:
    if month is None or day is None:
        return DateError.INVALID
    try:
        return date(year, month, day)
    except ValueError:
        return DateError.INVALID


def recent_month_day(month: int | None, day: int | None, today: date) -> date | DateError:
    """Returns the latest ``month``/``day`` not after ``today``; 2月29日 looks back to a leap year.

    A day at most :data:`YEARLESS_FUTURE_DAYS` ahead is this year's, so it is refused as FUTURE.
    """
    if month is None or day is None or make(2000, month, day) is DateError.INVALID:
        return DateError.INVALID  # 2000 is a leap year: this only refuses days that never exist
    this_year = make(today.year, month, day)
    if isinstance(this_year, date) and 0 < (this_year - today).days <= YEARLESS_FUTURE_DAYS:
        return this_year
    year = today.year if (month, day) <= (today.month, today.day) else today.year - 1
    while True:
        candidate = make(year, month, day)
        if isinstance(candidate, date):
            return candidate
        year -= 1  # only 2月29日 gets here; a leap year is at most 8 years back


def recent_day(day: int | None, today: date) -> date | DateError:
    """Returns the latest day-of-month ``day`` not after ``today`` (20号 on 11-23 → 11-20)."""
    if day is None or not 1 <= day <= 31:
        return DateError.INVALID
    year, month = today.year, today.month
    if day > today.day:
        year, month = previous_month(year, month)
    while True:
        candidate = make(year, month, day)
        if isinstance(candidate, date):
            return candidate
        year, month = previous_month(year, month)  # 31号 skips short months


def previous_month(year: int, month: int) -> tuple[int, int]:
    return (year - 1, 12) if month == 1 else (year, month - 1)


def months_back(today: date, n: int) -> date:
    year, month = today.year, today.month
    for _ in range(n):
        year, month = previous_month(year, month)
    for day in (today.day, 30, 29, 28):
        made = make(year, month, day)
        if isinstance(made, date):
            return made
    raise AssertionError("unreachable")  # pragma: no cover


def weekday_before(today: date, weekday: int) -> date:
    """The most recent ``weekday`` (0 = Monday) strictly before ``today``."""
    back = (today.weekday() - weekday) % 7 or 7
    return today - timedelta(days=back)


def week_of(today: date, weeks_back: int, weekday: int) -> date:
    """``weekday`` of the calendar week ``weeks_back`` weeks before this one (Monday first)."""
    monday = today - timedelta(days=today.weekday() + 7 * weeks_back)
    return monday + timedelta(days=weekday)


def one_year_before(today: date) -> date:
    try:
        return today.replace(year=today.year - 1)
    except ValueError:  # today is 2月29日
        return today.replace(year=today.year - 1, day=28)
