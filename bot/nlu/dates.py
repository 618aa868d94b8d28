"""Dates in what shoppers type: every mention, its day, and what the day is *of*.

Pure: ``today`` comes in as an argument, nothing reads the clock. A message may hold several
dates ("上周五下的单，昨天才到"); :func:`find_dates` returns each one with its span, its day (or
why there is none: a day that does not exist, a day still to come) and its role: ``signed`` (the
day the goods were received or signed for), ``ordered``, ``applied`` (after-sales requested),
``shipped``, or ``signed`` by default when nothing says otherwise (a bare "11月20号" answers the
question the bot asks most). :func:`parse_date` keeps the old contract for a typed answer.

Written by hand, not with ``dateparser``: measured on the same table (``python -m bench dates``),
dateparser reads most Chinese forms wrong (11月20日 → 2025-12-03, 上周五 → a Monday, 2月30日 → a
real day) and costs about a millisecond a call; see docs/nlu.md.

Accepted, in Simplified, Traditional and English: 今天/昨天/前天/大前天 (昨晚, 昨兒, 今早…),
N天前, 签收N天了, 一周前, N个星期前, 半个月前, N个月前, 上周五, 上週三, 上星期日, 这周一, 周五,
礼拜六, 上周末, 上个月28号, 这个月3号, 11月20日/号, 十一月二十号, 去年12月30日, 2025年11月30日,
2026-11-20, 2026.11.20, 26/11/20, 11.20, 11-20, 11/20, 20号; today, yesterday, the day before
yesterday, last night, 3 days ago, a week ago, two weeks ago, last friday, on monday, Nov 20,
November 20th, 20 Nov, 20th of november 2025, 11/20; tomorrow, 明天, 后天, 下周一 (refused as
FUTURE); 2月30日, Feb 30, 13月1日 (refused as INVALID).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from bot.nlu.datecalc import YEARLESS_FUTURE_DAYS, DateError, one_year_before
from bot.nlu.datepatterns import CALENDAR, PATTERNS
from bot.nlu.dateroles import role_of

__all__ = [
    "YEARLESS_FUTURE_DAYS",
    "DateError",
    "DateMention",
    "find_dates",
    "parse_date",
    "signed_date",
]


@dataclass(frozen=True, slots=True)
class DateMention:
    """One date in a message: where it is, its day (or error) and what the day is of."""

    start: int
    end: int
    value: date | None
    error: DateError | None
    role: str
    #: The words as typed (after width folding), for logs and tests.
    text: str = ""
    #: A verb next to it said what the day is of (else ``role`` is the default, ``signed``).
    explicit: bool = False
    #: A calendar date (11月20日), not a relative word (昨天).
    calendar: bool = False


@dataclass(frozen=True, slots=True)
class _Found:
    start: int
    end: int
    value: date | DateError
    #: A bare month.day like "3.5" could be an amount; only trusted with a date word nearby.
    weak: bool = False
    calendar: bool = False


#: A date with no verb is the signing date only in a message that is little more than the date
#: (the answer to "which day did you sign for it?"): at most this many other characters.
_BARE_SLACK = 4


# --- Public API -------------------------------------------------------------------------------

_DIGIT_GAP = re.compile(r"(?<=[0-9])\s+(?=[0-9])")


def _prepare(text: str) -> str:
    """Width-folds and lower-cases; keeps every other character where it was."""
    s = unicodedata.normalize("NFKC", text).lower()
    return _DIGIT_GAP.sub("|", s)  # "2026 11 20" is not one number


def find_dates(text: str, today: date) -> list[DateMention]:
    """Returns every date mention in ``text``, in order, with its day (or error) and role.

    Days after ``today`` are FUTURE, days more than a year before it TOO_OLD, days that do not
    exist INVALID. A bare month.day ("3.5", "9/9") is kept only when the message is little more
    than the date, or a date verb (签收, 收到, received…) stands next to it.
    """
    s = _prepare(text)
    if not any(c.isdigit() for c in s) and not _has_date_word(s):
        return []
    taken: list[tuple[int, int]] = []
    found: list[_Found] = []
    for rx, handler, weak in PATTERNS:
        for m in rx.finditer(s):
            a, b = m.span()
            if a == b or any(a < y and x < b for x, y in taken):
                continue
            taken.append((a, b))
            found.append(_Found(a, b, handler(m, today), weak, handler in CALENDAR))
    out: list[DateMention] = []
    floor = one_year_before(today)
    for f in sorted(found, key=lambda f: f.start):
        role, has_verb = role_of(s, f.start, f.end)
        rest = len(s) - (f.end - f.start)
        if f.weak and not has_verb and rest > 4:
            continue
        if not has_verb and rest > _BARE_SLACK:
            role = "other"  # "今天天气怎么样": a day, but not the day of anything we ask about
        value, error = (None, f.value) if isinstance(f.value, DateError) else (f.value, None)
        if value is not None and value > today:
            value, error = None, DateError.FUTURE
        elif value is not None and value < floor:
            value, error = None, DateError.TOO_OLD
        out.append(
            DateMention(
                f.start, f.end, value, error, role, s[f.start : f.end], has_verb, f.calendar
            )
        )
    return out


_DATE_WORDS = re.compile(
    r"天|日|号|號|晚|昨|今|前|后|後|明|周|週|星期|礼拜|禮拜|月|today|yesterday|tomorrow|tonight|night|ago|morning"
    r"|mon|tue|wed|thu|fri|sat|sun|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
)


def _has_date_word(s: str) -> bool:
    return _DATE_WORDS.search(s) is not None


def _rank(m: DateMention) -> tuple[bool, bool]:
    """Sort key: a mention a verb ties to signing first, then a calendar date over 昨天."""
    return (not m.explicit, not m.calendar)


def signed_date(mentions: list[DateMention]) -> DateMention | None:
    """Returns the mention that gives the signing date, or None.

    Among the mentions whose role is ``signed``: one next to a signing verb beats a bare one,
    and a calendar date beats a relative word ("今天查了一下，20号签收的" → the 20th).
    """
    signed = [m for m in mentions if m.role == "signed"]
    return min(signed, key=_rank) if signed else None


def parse_date(text: str, today: date) -> date | DateError:
    """Returns the date a typed answer gives, or why there is none.

    The answer to "which day did you sign for it?": the signing mention if there is one, else
    the first usable one; a mention's error (FUTURE, INVALID, TOO_OLD) when none is usable.
    """
    mentions = find_dates(text, today)
    if not mentions:
        return DateError.INVALID
    usable = [m for m in mentions if m.value is not None]
    pick = signed_date(usable) or (min(usable, key=_rank) if usable else None)
    if pick is not None and pick.value is not None:
        return pick.value
    first = mentions[0].error
    return first if first is not None else DateError.INVALID
