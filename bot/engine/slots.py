"""Slot validators: turn what a shopper typed into a date, an order number or clean text.

Pure functions: "today" comes in as an argument, nothing reads the clock. Failures are codes
(:class:`DateError`), never user-facing text; the engine picks the re-ask message for them.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from datetime import date, timedelta
from enum import StrEnum

__all__ = [
    "YEARLESS_FUTURE_DAYS",
    "DateError",
    "clean_text",
    "format_date_zh",
    "mask_order_no",
    "parse_date",
    "parse_order_no",
]


#: A month-day without a year that falls this many days after today at most is taken as this
#: year's (and refused as FUTURE) rather than as last year's.
YEARLESS_FUTURE_DAYS = 31


class DateError(StrEnum):
    """Why a typed date was refused."""

    INVALID = "invalid"  # no date found, or no such day (2月30日, 13月1日)
    FUTURE = "future"  # after today
    TOO_OLD = "too_old"  # more than a year before today


# --- Dates ---------------------------------------------------------------------------------

_CN_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5}
_CN_DIGITS |= {"六": 6, "七": 7, "八": 8, "九": 9}
_NUM = r"[0-9〇零一二两兩三四五六七八九十百]{1,4}"


def _cn_int(s: str) -> int | None:
    """Returns the value of a number written in ASCII digits or Chinese numerals (0..999)."""
    if s.isascii():
        return int(s) if s.isdigit() else None
    if all(c in _CN_DIGITS for c in s):  # 二〇二六 style, digit by digit
        return int("".join(str(_CN_DIGITS[c]) for c in s))
    total, current = 0, 0
    for c in s:
        if c in _CN_DIGITS:
            current = _CN_DIGITS[c]
        elif c == "十":
            total += (current or 1) * 10
            current = 0
        elif c == "百":
            total += (current or 1) * 100
            current = 0
        else:
            return None
    return total + current


#: Year-month-day: 2026-11-20, 2026.11.20, 2026/11/20, 2026年11月20日, 26年11月20号.
_YMD = re.compile(
    r"(?<![0-9])(?P<y>[0-9]{4}|[0-9]{2})(?:年(?P<m1>" + _NUM + r")月(?P<d1>" + _NUM + r")[日号號]?"
    r"|[-./](?P<m2>[0-9]{1,2})[-./](?P<d2>[0-9]{1,2})(?![0-9]))"
)
#: Month-day with 月: 11月20日, 11月20号, 十一月二十日, 11月20.
_MD_CN = re.compile(r"(?P<m>" + _NUM + r")月(?P<d>" + _NUM + r")(?:[日号號])?")
#: Month-day with a separator: 11.20, 11-20, 11/20 (not part of a longer number).
_MD_SEP = re.compile(r"(?<![0-9.\-/])(?P<m>[0-9]{1,2})[-./](?P<d>[0-9]{1,2})(?![0-9]|[.\-/][0-9])")
#: N days ago: 3天前, 三天前, 两天以前, 十五日前, 签收三天了.
_DAYS_AGO = re.compile(r"(?P<n>" + _NUM + r")(?:(?:天|日)(?:以)?前|天了)")
#: Day of the month alone: 20号, 20日, 二十号 (not after 月 or 天).
_DAY_ONLY = re.compile(
    r"(?<![0-9月〇零一二两兩三四五六七八九十百])(?P<d>" + _NUM + r")[号號日](?!前)"
)
_DIGIT_SPACE = re.compile(r"(?<=[0-9])\s+(?=[0-9])")
#: Relative words, longest first so 大前天 is not read as 前天.
_RELATIVE = (
    ("大前天", 3),
    ("大前日", 3),
    ("前天", 2),
    ("前日", 2),
    ("昨天", 1),
    ("昨日", 1),
    ("今天", 0),
    ("今日", 0),
)


def parse_date(text: str, today: date) -> date | DateError:
    """Returns the date in ``text`` (a whole answer or a sentence) or why there is none.

    Accepts 今天/今日/昨天/昨日/前天/大前天/N天前/N天了 (N in digits or Chinese numerals), 11月20日,
    11月20号, 11.20, 11-20, 11/20, 20号, 2026-11-20, 2026年11月20日, 2026.11.20, full-width
    digits. A date without a year is the most recent such day not after ``today`` (but see
    :data:`YEARLESS_FUTURE_DAYS`); explicit
    dates are preferred over relative words when both appear. Refuses dates after ``today``
    (FUTURE), more than a year before it (TOO_OLD) and days that do not exist (INVALID).
    """
    # Spaces go ("11 月 20 日"), except between digits where they separate ("2026-11-20 14:03").
    s = _DIGIT_SPACE.sub("|", unicodedata.normalize("NFKC", text))
    s = "".join(s.split())
    if not s:
        return DateError.INVALID
    found = _find(s, today)
    if isinstance(found, DateError):
        return found
    if found > today:
        return DateError.FUTURE
    if found < _one_year_before(today):
        return DateError.TOO_OLD
    return found


def _find(s: str, today: date) -> date | DateError:
    if m := _YMD.search(s):
        year = int(m["y"])
        if year < 100:
            year += 2000
        mo, d = _cn_int(m["m1"] or m["m2"]), _cn_int(m["d1"] or m["d2"])
        return _make(year, mo, d)
    if m := _MD_CN.search(s) or _MD_SEP.search(s):
        return _recent_month_day(_cn_int(m["m"]), _cn_int(m["d"]), today)
    if m := _DAYS_AGO.search(s):
        n = _cn_int(m["n"])
        if n is None:
            return DateError.INVALID
        return today - timedelta(days=min(n, 999))
    if m := _DAY_ONLY.search(s):
        return _recent_day(_cn_int(m["d"]), today)
    for word, back in _RELATIVE:
        if word in s:
            return today - timedelta(days=back)
    return DateError.INVALID


def _make(year: int, month: int | None, day: int | None) -> date | DateError:
    if month is None or day is None:
        return DateError.INVALID
    try:
        return date(year, month, day)
    except ValueError:
        return DateError.INVALID


def _recent_month_day(month: int | None, day: int | None, today: date) -> date | DateError:
    """Returns the latest ``month``/``day`` not after ``today``; 2月29日 looks back to a leap year.

    Exception: a day at most :data:`YEARLESS_FUTURE_DAYS` ahead is this year's (and so refused
    as FUTURE): on 11-23, "11月24日" is a slip, not a date eleven months ago.
    """
    if month is None or day is None or _make(2000, month, day) is DateError.INVALID:
        return DateError.INVALID  # 2000 is a leap year: this only refuses days that never exist
    this_year = _make(today.year, month, day)
    if isinstance(this_year, date) and 0 < (this_year - today).days <= YEARLESS_FUTURE_DAYS:
        return this_year
    year = today.year if (month, day) <= (today.month, today.day) else today.year - 1
    while True:
        candidate = _make(year, month, day)
        if isinstance(candidate, date):
            return candidate
        year -= 1  # only 2月29日 gets here; a leap year is at most 8 years back


def _recent_day(day: int | None, today: date) -> date | DateError:
    """Returns the latest day-of-month ``day`` not after ``today`` (20号 on 11-23 → 11-20)."""
    if day is None or not 1 <= day <= 31:
        return DateError.INVALID
    year, month = today.year, today.month
    if day > today.day:
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    while True:
        candidate = _make(year, month, day)
        if isinstance(candidate, date):
            return candidate
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)  # 31号 skips short months


def _one_year_before(today: date) -> date:
    try:
        return today.replace(year=today.year - 1)
    except ValueError:  # today is 2月29日
        return today.replace(year=today.year - 1, day=28)


def format_date_zh(d: date, today: date) -> str:
    """Returns ``d`` as 11月27日, with the year (2025年12月30日) only if not ``today``'s year."""
    if d.year == today.year:
        return f"{d.month}月{d.day}日"
    return f"{d.year}年{d.month}月{d.day}日"


# --- Order numbers -------------------------------------------------------------------------

#: Separators people type inside a long number ("P7123 4567 8901"), removed between digits.
_DIGIT_GAPS = re.compile(r"(?<=[0-9])[\s\-_]+(?=[0-9])")
_RUNS = re.compile(r"[A-Za-z0-9]+")
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@functools.lru_cache(maxsize=8)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def parse_order_no(text: str, pattern: str) -> str | None:
    """Returns the order number in ``text`` that fully matches ``pattern``, or None.

    Full-width characters become half-width; spaces, dashes and underscores between digits are
    removed; the number may sit inside a sentence (订单号是 P7123…). A run of letters glued to
    the front may be dropped, digits never (a too-long number is refused, not cut). When several
    candidates match (an order number and a phone number), the longest wins.
    """
    rx = _compiled(pattern)
    s = _DIGIT_GAPS.sub("", unicodedata.normalize("NFKC", text))
    best: str | None = None
    for run in _RUNS.findall(s):
        letters = len(run) - len(run.lstrip(_LETTERS))
        for i in range(letters + 1):  # "ABCD123…": drop leading letters, never digits
            candidate = run[i:]
            if rx.fullmatch(candidate):
                if best is None or len(candidate) > len(best):
                    best = candidate
                break
    return best


def mask_order_no(s: str) -> str:
    """Returns ``s`` safe for logs: only the last 4 characters are kept ("****5678")."""
    return "****" + (s[-4:] if len(s) > 4 else "")


# --- Free text -----------------------------------------------------------------------------

_HSPACE = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def _strip_char(c: str) -> bool:
    """True for control and format (zero-width, BOM, bidi) characters, except newline and tab."""
    return c not in "\n\t" and unicodedata.category(c) in ("Cc", "Cf")


def clean_text(text: str, limit: int = 500) -> tuple[str, bool]:
    """Returns ``text`` cleaned for storing and quoting, and whether it was cut to ``limit``.

    Removes control and zero-width characters (keeps newlines), turns runs of spaces into one
    space, trims each line, allows at most one blank line in a row, then cuts to ``limit``
    characters.
    """
    if limit < 1:
        raise ValueError(f"limit must be positive, got {limit}")
    s = text.replace("\r\n", "\n").replace("\r", "\n")
    s = "".join(c for c in s if not _strip_char(c))
    s = "\n".join(_HSPACE.sub(" ", line).strip() for line in s.split("\n"))
    s = _BLANK_LINES.sub("\n\n", s).strip()
    if len(s) > limit:
        return s[:limit].rstrip(), True
    return s, False
