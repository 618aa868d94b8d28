"""The date patterns, in priority order, and their handlers: each turns a match into a day
(relative to the message's day) or the reason there is none.

Part of :mod:`bot.nlu.dates`; pure: ``today`` comes in as an argument.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta

from bot.nlu.datecalc import (
    DateError,
    make,
    months_back,
    previous_month,
    recent_day,
    recent_month_day,
    week_of,
    weekday_before,
)
from bot.nlu.datewords import (
    DAY_EN,
    DAY_SUFFIX,
    MONTH_EN,
    MONTHS_EN,
    NOT_A_DATE,
    NOT_A_DAY,
    NUM,
    RELATIVE_WORDS,
    VERB_BEFORE_SPAN,
    WEEK,
    WEEKDAY_CN,
    WEEKDAY_EN,
    WEEKDAY_EN_RX,
    YEAR_EN,
    cn_int,
    en_int,
)

Handler = Callable[[re.Match[str], date], "date | DateError"]


# --- Chinese and numeric forms ----------------------------------------------------------------


def _ymd(m: re.Match[str], today: date) -> date | DateError:
    year = int(m["y"])
    if year < 100:
        year += 2000
    return make(year, cn_int(m["m"]), cn_int(m["d"]))


def _rel_year_md(m: re.Match[str], today: date) -> date | DateError:
    year = today.year - 1 if m["rel"] in ("去年", "去") else today.year
    return make(year, cn_int(m["m"]), cn_int(m["d"]))


def _md(m: re.Match[str], today: date) -> date | DateError:
    return recent_month_day(cn_int(m["m"]), cn_int(m["d"]), today)


def _month_rel_day(m: re.Match[str], today: date) -> date | DateError:
    day = cn_int(m["d"])
    year, month = today.year, today.month
    if m["rel"].startswith("上"):
        year, month = previous_month(year, month)
    return make(year, month, day)


def _week_day(m: re.Match[str], today: date) -> date | DateError:
    rel, wd = m["rel"] or "", WEEKDAY_CN[m["wd"]]
    if rel.startswith("上上"):
        return week_of(today, 2, wd)
    if rel.startswith("上"):
        return week_of(today, 1, wd)
    if rel.startswith(("这", "這", "本")):
        return week_of(today, 0, wd)
    if rel.startswith("下"):
        return week_of(today, -1, wd)
    return weekday_before(today, wd)


def _days_ago(m: re.Match[str], today: date) -> date | DateError:
    n = cn_int(m["n"])
    if n is None:
        return DateError.INVALID
    return today - timedelta(days=min(n, 999))


def _weeks_ago(m: re.Match[str], today: date) -> date | DateError:
    n = cn_int(m["n"] or "一")
    if n is None:
        return DateError.INVALID
    return today - timedelta(weeks=min(n, 99))


def _months_ago(m: re.Match[str], today: date) -> date | DateError:
    if m["half"]:
        return today - timedelta(days=15)
    n = cn_int(m["n"] or "一")
    if n is None:
        return DateError.INVALID
    return months_back(today, min(n, 24))


def _day_only(m: re.Match[str], today: date) -> date | DateError:
    return recent_day(cn_int(m["d"]), today)


# --- Relative words, English forms ------------------------------------------------------------


def _relative(m: re.Match[str], today: date) -> date | DateError:
    return today + timedelta(days=RELATIVE_WORDS[m["w"]])


def _en_month_day(m: re.Match[str], today: date) -> date | DateError:
    month = MONTHS_EN[m["mon"][:4].rstrip("t") if m["mon"][:4] == "sept" else m["mon"][:3]]
    day = int(m["day"])
    if m["year"]:
        return make(int(m["year"]), month, day)
    return recent_month_day(month, day, today)


def _en_ago(m: re.Match[str], today: date) -> date | DateError:
    n = en_int(m["n"])
    if n is None:
        return DateError.INVALID
    unit = m["unit"]
    if unit.startswith("d"):
        return today - timedelta(days=min(n, 999))
    if unit.startswith("w"):
        return today - timedelta(weeks=min(n, 99))
    return months_back(today, min(n, 24))


def _en_weekday(m: re.Match[str], today: date) -> date | DateError:
    wd = WEEKDAY_EN[m["wd"][:4] if m["wd"][:4] in WEEKDAY_EN else m["wd"][:3]]
    rel = m["rel"] or ""
    if rel.startswith("this"):
        return week_of(today, 0, wd)
    if rel.startswith("next"):
        return week_of(today, -1, wd)
    if rel.startswith("last"):  # "last monday" is 上周一: the Monday of last week
        return week_of(today, 1, wd)
    return weekday_before(today, wd)


def _en_ordinal_day(m: re.Match[str], today: date) -> date | DateError:
    return recent_day(int(m["d"]), today)


def _slash_md(m: re.Match[str], today: date) -> date | DateError:
    a, b = int(m["a"]), int(m["b"])
    if a > 12 >= b:  # 20/11: day first
        a, b = b, a
    return recent_month_day(a, b, today)


# --- Patterns ---------------------------------------------------------------------------------

#: (pattern, handler, weak) in priority order: an earlier, more specific pattern claims its span.
PATTERNS: list[tuple[re.Pattern[str], Handler, bool]] = [
    (
        re.compile(
            r"(?<![0-9])(?P<y>[0-9]{4}|[0-9]{2})\s*年\s*(?P<m>"
            + NUM
            + r")\s*月\s*(?P<d>"
            + NUM
            + r")\s*"
            + DAY_SUFFIX
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
            + NUM
            + r")\s*月\s*(?P<d>"
            + NUM
            + r")\s*"
            + DAY_SUFFIX
            + r"?"
        ),
        _rel_year_md,
        False,
    ),
    (
        re.compile(
            r"(?P<rel>上个月|上個月|上月|这个月|這個月|本月|这月|這月)\s*的?\s*(?P<d>"
            + NUM
            + r")\s*"
            + DAY_SUFFIX
            + r"?"
        ),
        _month_rel_day,
        False,
    ),
    (
        re.compile(
            r"(?<![0-9])(?P<m>"
            + NUM
            + r")\s*月(?:份)?\s*(?P<d>"
            + NUM
            + r")\s*"
            + DAY_SUFFIX
            + r"?"
        ),
        _md,
        False,
    ),
    (
        re.compile(
            r"(?P<rel>上上个?|上个?|上個|这个?|這個?|本|下个?|下個)?\s*"
            + WEEK
            + r"\s*(?P<wd>[一二三四五六日天末1-7])"
        ),
        _week_day,
        False,
    ),
    (
        re.compile(r"(?P<n>" + NUM + r")\s*(?:天|日)\s*(?:以前|之前|前)"),
        _days_ago,
        False,
    ),
    (
        re.compile(
            r"(?:(?P<n>" + NUM + r")\s*(?:个|個)?\s*(?:星期|礼拜|禮拜|周|週)|(?<![上这這本下])"
            r"(?:一周|一週))\s*(?:以前|之前|前)"
        ),
        _weeks_ago,
        False,
    ),
    (
        re.compile(
            r"(?:(?P<half>半)\s*(?:个|個)\s*月|(?P<n>" + NUM + r")\s*(?:个|個)\s*月)"
            r"\s*(?:以前|之前|前)"
        ),
        _months_ago,
        False,
    ),
    (
        re.compile(
            VERB_BEFORE_SPAN + r"\s*(?:了|有)?\s*(?:货|貨)?\s*(?P<n>" + NUM + r")\s*(?:天|日)\s*了"
        ),
        _days_ago,
        False,
    ),
    (
        re.compile(
            VERB_BEFORE_SPAN
            + r"\s*(?:了|有)?\s*(?:货|貨)?\s*(?P<n>"
            + NUM
            + r")?\s*(?:个|個)?\s*(?:星期|礼拜|禮拜|周|週)\s*了"
        ),
        _weeks_ago,
        False,
    ),
    (
        re.compile(r"(?P<w>" + "|".join(sorted(RELATIVE_WORDS, key=len, reverse=True)) + r")"),
        _relative,
        False,
    ),
    (
        re.compile(r"\b" + MONTH_EN + r"\s*" + DAY_EN + r"\b" + YEAR_EN),
        _en_month_day,
        False,
    ),
    (
        re.compile(r"\b" + DAY_EN + r"\s*(?:of\s+)?" + MONTH_EN + r"\b" + YEAR_EN),
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
        re.compile(r"\b(?P<rel>last|this|next|on|past)?\s*" + WEEKDAY_EN_RX + r"\b"),
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
            + NOT_A_DATE
        ),
        _md,
        True,
    ),
    (
        re.compile(
            r"(?<![0-9.\-/])(?P<a>[0-9]{1,2})/(?P<b>[0-9]{1,2})(?![0-9]|[.\-/][0-9])" + NOT_A_DATE
        ),
        _slash_md,
        True,
    ),
    (
        re.compile(
            r"(?<![0-9月〇零一二两兩三四五六七八九十百.])(?P<d>"
            + NUM
            + r")\s*[号號日]"
            + NOT_A_DAY
            + r"(?!\s*前)"
        ),
        _day_only,
        False,
    ),
]

#: Handlers whose day is written as a calendar date rather than a relative word.
CALENDAR = frozenset(
    {_ymd, _rel_year_md, _md, _month_rel_day, _en_month_day, _slash_md, _day_only, _en_ordinal_day}
)
