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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

__all__ = [
    "YEARLESS_FUTURE_DAYS",
    "DateError",
    "DateMention",
    "find_dates",
    "parse_date",
    "signed_date",
]

#: A month-day without a year that falls at most this many days after today is taken as this
#: year's (and refused as FUTURE) rather than as last year's: on 11-23, "11月24日" is a slip.
YEARLESS_FUTURE_DAYS = 31


class DateError(StrEnum):
    """Why a date mention has no usable day."""

    INVALID = "invalid"  # no such day (2月30日, 13月1日) or no date at all
    FUTURE = "future"  # after today
    TOO_OLD = "too_old"  # more than a year before today


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


# --- Numbers ---------------------------------------------------------------------------------

_CN_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5}
_CN_DIGITS |= {"六": 6, "七": 7, "八": 8, "九": 9}
_NUM = r"[0-9〇零一二两兩三四五六七八九十百]{1,4}"
_EN_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "couple of": 2,
    "a couple of": 2,
    "few": 3,
    "a few": 3,
}


def _cn_int(s: str) -> int | None:
    """Returns the value of a number in ASCII digits or Chinese numerals (0..9999)."""
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


def _en_int(s: str) -> int | None:
    s = s.strip().lower()
    if s.isdigit():
        return int(s)
    return _EN_NUMBERS.get(s)


# --- Calendar helpers -------------------------------------------------------------------------


def _make(year: int, month: int | None, day: int | None) -> date | DateError:
    if month is None or day is None:
        return DateError.INVALID
    try:
        return date(year, month, day)
    except ValueError:
        return DateError.INVALID


def _recent_month_day(month: int | None, day: int | None, today: date) -> date | DateError:
    """Returns the latest ``month``/``day`` not after ``today``; 2月29日 looks back to a leap year.

    A day at most :data:`YEARLESS_FUTURE_DAYS` ahead is this year's, so it is refused as FUTURE.
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
        year, month = _previous_month(year, month)
    while True:
        candidate = _make(year, month, day)
        if isinstance(candidate, date):
            return candidate
        year, month = _previous_month(year, month)  # 31号 skips short months


def _previous_month(year: int, month: int) -> tuple[int, int]:
    return (year - 1, 12) if month == 1 else (year, month - 1)


def _months_back(today: date, n: int) -> date:
    year, month = today.year, today.month
    for _ in range(n):
        year, month = _previous_month(year, month)
    for day in (today.day, 30, 29, 28):
        made = _make(year, month, day)
        if isinstance(made, date):
            return made
    raise AssertionError("unreachable")  # pragma: no cover


def _weekday_before(today: date, weekday: int) -> date:
    """The most recent ``weekday`` (0 = Monday) strictly before ``today``."""
    back = (today.weekday() - weekday) % 7 or 7
    return today - timedelta(days=back)


def _week_of(today: date, weeks_back: int, weekday: int) -> date:
    """``weekday`` of the calendar week ``weeks_back`` weeks before this one (Monday first)."""
    monday = today - timedelta(days=today.weekday() + 7 * weeks_back)
    return monday + timedelta(days=weekday)


# --- Patterns ---------------------------------------------------------------------------------

_WEEKDAY_CN = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "末": 5}
_WEEKDAY_CN |= {str(i): i - 1 for i in range(1, 8)}
_WEEKDAY_EN = {
    "mon": 0,
    "tue": 1,
    "tues": 1,
    "wed": 2,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "fri": 4,
    "sat": 5,
    "sun": 6,
}
_MONTHS_EN = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "sept": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_MONTH_EN = (
    r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DAY_EN = r"(?P<day>[0-9]{1,2})(?:st|nd|rd|th)?"
_YEAR_EN = r"(?:,?\s*(?P<year>20[0-9]{2}))?"
_WEEKDAY_EN_RX = (
    r"(?P<wd>mon(?:day)?|tue(?:s(?:day)?)?|wed(?:nesday)?|thu(?:r(?:s(?:day)?)?)?|fri(?:day)?"
    r"|sat(?:urday)?|sun(?:day)?)"
)
_WEEK = r"(?:周|週|星期|礼拜|禮拜)"
_DAY_SUFFIX = r"[日号號]"
#: The verbs of "签收五天了" / "收到货一周了": the span counts from them.
_VERB_BEFORE_SPAN = (
    r"(?:签收|簽收|签手|收到|到货|到貨|拿到|到手|到了|签|簽|申请|申請|提交|下单|下單|买了|買了)"
)
#: What may not follow "9.9": it is then a price, a weight or a size, not a date.
_NOT_A_DATE = r"(?!\s*(?:元|块|塊|包邮|包郵|折|斤|公斤|kg|g\b|米|cm|mm|m\b|%|倍|寸|码|碼|l\b|ml))"
#: What may not follow "20号": it is then an address or a bus line, not a date.
_NOT_A_DAY = r"(?![线線楼樓院房门門店床柜櫃仓倉位机機箱车車口栋棟单單元])"


@dataclass(frozen=True, slots=True)
class _Found:
    start: int
    end: int
    value: date | DateError
    #: A bare month.day like "3.5" could be an amount; only trusted with a date word nearby.
    weak: bool = False
    calendar: bool = False


Handler = Callable[[re.Match[str], date], "date | DateError"]


def _ymd(m: re.Match[str], today: date) -> date | DateError:
    year = int(m["y"])
    if year < 100:
        year += 2000
    return _make(year, _cn_int(m["m"]), _cn_int(m["d"]))


def _rel_year_md(m: re.Match[str], today: date) -> date | DateError:
    year = today.year - 1 if m["rel"] in ("去年", "去") else today.year
    return _make(year, _cn_int(m["m"]), _cn_int(m["d"]))


def _md(m: re.Match[str], today: date) -> date | DateError:
    return _recent_month_day(_cn_int(m["m"]), _cn_int(m["d"]), today)


def _month_rel_day(m: re.Match[str], today: date) -> date | DateError:
    day = _cn_int(m["d"])
    year, month = today.year, today.month
    if m["rel"].startswith("上"):
        year, month = _previous_month(year, month)
    return _make(year, month, day)


def _week_day(m: re.Match[str], today: date) -> date | DateError:
    rel, wd = m["rel"] or "", _WEEKDAY_CN[m["wd"]]
    if rel.startswith("上上"):
        return _week_of(today, 2, wd)
    if rel.startswith("上"):
        return _week_of(today, 1, wd)
    if rel.startswith(("这", "這", "本")):
        return _week_of(today, 0, wd)
    if rel.startswith("下"):
        return _week_of(today, -1, wd)
    return _weekday_before(today, wd)


def _days_ago(m: re.Match[str], today: date) -> date | DateError:
    n = _cn_int(m["n"])
    if n is None:
        return DateError.INVALID
    return today - timedelta(days=min(n, 999))


def _weeks_ago(m: re.Match[str], today: date) -> date | DateError:
    n = _cn_int(m["n"] or "一")
    if n is None:
        return DateError.INVALID
    return today - timedelta(weeks=min(n, 99))


def _months_ago(m: re.Match[str], today: date) -> date | DateError:
    if m["half"]:
        return today - timedelta(days=15)
    n = _cn_int(m["n"] or "一")
    if n is None:
        return DateError.INVALID
    return _months_back(today, min(n, 24))


def _day_only(m: re.Match[str], today: date) -> date | DateError:
    return _recent_day(_cn_int(m["d"]), today)


_RELATIVE_WORDS = {
    "大前天": -3,
    "大前日": -3,
    "前天": -2,
    "前日": -2,
    "前儿": -2,
    "前兒": -2,
    "昨天": -1,
    "昨日": -1,
    "昨儿": -1,
    "昨兒": -1,
    "昨晚": -1,
    "昨夜": -1,
    "今天": 0,
    "今日": 0,
    "今早": 0,
    "今儿": 0,
    "今兒": 0,
    "今晚": 0,
    "刚刚": 0,
    "剛剛": 0,
    "明天": 1,
    "明日": 1,
    "明儿": 1,
    "明兒": 1,
    "后天": 2,
    "後天": 2,
    "大后天": 3,
    "大後天": 3,
    "today": 0,
    "this morning": 0,
    "tonight": 0,
    "earlier today": 0,
    "yesterday": -1,
    "last night": -1,
    "the day before yesterday": -2,
    "day before yesterday": -2,
    "tomorrow": 1,
    "day after tomorrow": 2,
}


def _relative(m: re.Match[str], today: date) -> date | DateError:
    return today + timedelta(days=_RELATIVE_WORDS[m["w"]])


def _en_month_day(m: re.Match[str], today: date) -> date | DateError:
    month = _MONTHS_EN[m["mon"][:4].rstrip("t") if m["mon"][:4] == "sept" else m["mon"][:3]]
    day = int(m["day"])
    if m["year"]:
        return _make(int(m["year"]), month, day)
    return _recent_month_day(month, day, today)


def _en_ago(m: re.Match[str], today: date) -> date | DateError:
    n = _en_int(m["n"])
    if n is None:
        return DateError.INVALID
    unit = m["unit"]
    if unit.startswith("d"):
        return today - timedelta(days=min(n, 999))
    if unit.startswith("w"):
        return today - timedelta(weeks=min(n, 99))
    return _months_back(today, min(n, 24))


def _en_weekday(m: re.Match[str], today: date) -> date | DateError:
    wd = _WEEKDAY_EN[m["wd"][:4] if m["wd"][:4] in _WEEKDAY_EN else m["wd"][:3]]
    rel = m["rel"] or ""
    if rel.startswith("this"):
        return _week_of(today, 0, wd)
    if rel.startswith("next"):
        return _week_of(today, -1, wd)
    if rel.startswith("last"):  # "last monday" is 上周一: the Monday of last week
        return _week_of(today, 1, wd)
    return _weekday_before(today, wd)


def _en_ordinal_day(m: re.Match[str], today: date) -> date | DateError:
    return _recent_day(int(m["d"]), today)


def _slash_md(m: re.Match[str], today: date) -> date | DateError:
    a, b = int(m["a"]), int(m["b"])
    if a > 12 >= b:  # 20/11: day first
        a, b = b, a
    return _recent_month_day(a, b, today)


#: (pattern, handler, weak) in priority order: an earlier, more specific pattern claims its span.
_PATTERNS: list[tuple[re.Pattern[str], Handler, bool]] = [
    (
        re.compile(
            r"(?<![0-9])(?P<y>[0-9]{4}|[0-9]{2})\s*年\s*(?P<m>"
            + _NUM
            + r")\s*月\s*(?P<d>"
            + _NUM
            + r")\s*"
            + _DAY_SUFFIX
            + r"?"
        ),
        _ymd,
        False,
    ),
    (
        re.compile(
            r"(?<![0-9])(?P<y>[0-9]{4})[-./](?P<m>[0-9]{1,2})[-./](?P<d>[0-9]{1,2})(?![0-9])"
        ),
        _ymd,
        False,
    ),
    (
        re.compile(
            r"(?<![0-9])(?P<y>[0-9]{2})[-./](?P<m>[0-9]{1,2})[-./](?P<d>[0-9]{1,2})(?![0-9.])"
        ),
        _ymd,
        False,
    ),
    (
        re.compile(
            r"(?P<rel>去年|今年)\s*(?P<m>"
            + _NUM
            + r")\s*月\s*(?P<d>"
            + _NUM
            + r")\s*"
            + _DAY_SUFFIX
            + r"?"
        ),
        _rel_year_md,
        False,
    ),
    (
        re.compile(
            r"(?P<rel>上个月|上個月|上月|这个月|這個月|本月|这月|這月)\s*的?\s*(?P<d>"
            + _NUM
            + r")\s*"
            + _DAY_SUFFIX
            + r"?"
        ),
        _month_rel_day,
        False,
    ),
    (
        re.compile(
            r"(?<![0-9])(?P<m>"
            + _NUM
            + r")\s*月(?:份)?\s*(?P<d>"
            + _NUM
            + r")\s*"
            + _DAY_SUFFIX
            + r"?"
        ),
        _md,
        False,
    ),
    (
        re.compile(
            r"(?P<rel>上上个?|上个?|上個|这个?|這個?|本|下个?|下個)?\s*"
            + _WEEK
            + r"\s*(?P<wd>[一二三四五六日天末1-7])"
        ),
        _week_day,
        False,
    ),
    (
        re.compile(r"(?P<n>" + _NUM + r")\s*(?:天|日)\s*(?:以前|之前|前)"),
        _days_ago,
        False,
    ),
    (
        re.compile(
            r"(?:(?P<n>" + _NUM + r")\s*(?:个|個)?\s*(?:星期|礼拜|禮拜|周|週)|(?<![上这這本下])"
            r"(?:一周|一週))\s*(?:以前|之前|前)"
        ),
        _weeks_ago,
        False,
    ),
    (
        re.compile(
            r"(?:(?P<half>半)\s*(?:个|個)\s*月|(?P<n>" + _NUM + r")\s*(?:个|個)\s*月)"
            r"\s*(?:以前|之前|前)"
        ),
        _months_ago,
        False,
    ),
    (
        re.compile(
            _VERB_BEFORE_SPAN
            + r"\s*(?:了|有)?\s*(?:货|貨)?\s*(?P<n>"
            + _NUM
            + r")\s*(?:天|日)\s*了"
        ),
        _days_ago,
        False,
    ),
    (
        re.compile(
            _VERB_BEFORE_SPAN
            + r"\s*(?:了|有)?\s*(?:货|貨)?\s*(?P<n>"
            + _NUM
            + r")?\s*(?:个|個)?\s*(?:星期|礼拜|禮拜|周|週)\s*了"
        ),
        _weeks_ago,
        False,
    ),
    (
        re.compile(r"(?P<w>" + "|".join(sorted(_RELATIVE_WORDS, key=len, reverse=True)) + r")"),
        _relative,
        False,
    ),
    (
        re.compile(r"\b" + _MONTH_EN + r"\s*" + _DAY_EN + r"\b" + _YEAR_EN),
        _en_month_day,
        False,
    ),
    (
        re.compile(r"\b" + _DAY_EN + r"\s*(?:of\s+)?" + _MONTH_EN + r"\b" + _YEAR_EN),
        _en_month_day,
        False,
    ),
    (
        re.compile(
            r"\b(?P<n>[0-9]{1,3}|a couple of|couple of|a few|few|an?|one|two|three|four|five"
            r"|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty)\s*"
            r"(?P<unit>days?|d|weeks?|wks?|months?)\s+ago\b"
        ),
        _en_ago,
        False,
    ),
    (
        re.compile(r"\b(?P<rel>last|this|next|on|past)?\s*" + _WEEKDAY_EN_RX + r"\b"),
        _en_weekday,
        False,
    ),
    (
        re.compile(r"\bthe\s+(?P<d>[0-9]{1,2})(?:st|nd|rd|th)\b"),
        _en_ordinal_day,
        False,
    ),
    (
        re.compile(
            r"(?<![0-9.\-/])(?P<m>[0-9]{1,2})[-.](?P<d>[0-9]{1,2})(?![0-9]|[.\-/][0-9])"
            + _NOT_A_DATE
        ),
        _md,
        True,
    ),
    (
        re.compile(
            r"(?<![0-9.\-/])(?P<a>[0-9]{1,2})/(?P<b>[0-9]{1,2})(?![0-9]|[.\-/][0-9])" + _NOT_A_DATE
        ),
        _slash_md,
        True,
    ),
    (
        re.compile(
            r"(?<![0-9月〇零一二两兩三四五六七八九十百.])(?P<d>"
            + _NUM
            + r")\s*[号號日]"
            + _NOT_A_DAY
            + r"(?!\s*前)"
        ),
        _day_only,
        False,
    ),
]

#: Handlers whose day is written as a calendar date rather than a relative word.
_CALENDAR = frozenset(
    {_ymd, _rel_year_md, _md, _month_rel_day, _en_month_day, _slash_md, _day_only, _en_ordinal_day}
)

# --- Roles ------------------------------------------------------------------------------------

_ROLE_WORDS: dict[str, tuple[str, ...]] = {
    "signed": (
        "签收",
        "簽收",
        "签的",
        "簽的",
        "收到",
        "收的",
        "收货",
        "收貨",
        "到货",
        "到貨",
        "到的",
        "到了",
        "才到",
        "就到",
        "送来",
        "送來",
        "拿到",
        "拿的",
        "取件",
        "取的",
        "取货",
        "取貨",
        "到手",
        "送到",
        "送达",
        "送達",
        "received",
        "receive",
        "recieved",
        "recived",
        "got",
        "签手",
        "delivered",
        "arrived",
        "got it",
        "got the",
        "came",
        "signed",
        "picked it up",
        "picked up",
    ),
    "ordered": (
        "下单",
        "下單",
        "下的单",
        "下的單",
        "买的",
        "買的",
        "拍的",
        "拍下",
        "付款",
        "付的",
        "购买",
        "購買",
        "ordered",
        "bought",
        "purchased",
        "placed",
        "paid",
    ),
    "applied": (
        "申请",
        "申請",
        "提交",
        "提的",
        "applied",
        "requested",
        "filed",
        "submitted",
        "asked for",
    ),
    "shipped": (
        "发货",
        "發貨",
        "发的货",
        "發的貨",
        "发出",
        "發出",
        "寄出",
        "寄的",
        "揽收",
        "攬收",
        "shipped",
        "dispatched",
        "sent out",
        "sent it",
    ),
}
_ROLES_BY_WORD = sorted(
    ((w, role) for role, words in _ROLE_WORDS.items() for w in words), key=lambda x: -len(x[0])
)
_CLAUSE_END = re.compile(r"[，,。.!！?？;；\n]")
#: How far from a date its verb may be, in characters, after it and before it.
_AFTER, _BEFORE = 10, 24
#: A date with no verb is the signing date only in a message that is little more than the date
#: (the answer to "which day did you sign for it?"): at most this many other characters.
_BARE_SLACK = 4


def _role(s: str, start: int, end: int) -> tuple[str, bool]:
    """Returns (role, found): the verb nearest to the date in its clause decides."""
    stop = _CLAUSE_END.search(s, end)
    after = s[end : min(stop.start() if stop else len(s), end + _AFTER)]
    begin = max(0, start - _BEFORE)
    prev = [m.end() for m in _CLAUSE_END.finditer(s, begin, start)]
    before = s[(prev[-1] if prev else begin) : start]
    inside = s[start:end]
    for word, role in _ROLES_BY_WORD:  # "签收五天了" carries its verb
        if word in inside:
            return role, True
    best: tuple[int, str] | None = None
    for word, role in _ROLES_BY_WORD:
        i = after.find(word)
        if i >= 0 and (best is None or i < best[0]):
            best = (i, role)
        j = before.rfind(word)
        if j >= 0:
            distance = len(before) - (j + len(word)) + 1  # a verb before counts slightly less
            if best is None or distance < best[0]:
                best = (distance, role)
    return (best[1], True) if best else ("signed", False)


# --- Public API -------------------------------------------------------------------------------

_DIGIT_GAP = re.compile(r"(?<=[0-9])\s+(?=[0-9])")


def _prepare(text: str) -> str:
    """Width-folds and lower-cases; keeps every other character where it was."""
    s = unicodedata.normalize("NFKC", text).lower()
    return _DIGIT_GAP.sub("|", s)  # "2026 11 20" is not one number


def _one_year_before(today: date) -> date:
    try:
        return today.replace(year=today.year - 1)
    except ValueError:  # today is 2月29日
        return today.replace(year=today.year - 1, day=28)


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
    for rx, handler, weak in _PATTERNS:
        for m in rx.finditer(s):
            a, b = m.span()
            if a == b or any(a < y and x < b for x, y in taken):
                continue
            taken.append((a, b))
            found.append(_Found(a, b, handler(m, today), weak, handler in _CALENDAR))
    out: list[DateMention] = []
    floor = _one_year_before(today)
    for f in sorted(found, key=lambda f: f.start):
        role, has_verb = _role(s, f.start, f.end)
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
