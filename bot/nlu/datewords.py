"""The words and numbers of dates: Chinese and English numerals, weekday and month names,
relative day words (昨天, yesterday) and the regular-expression pieces the patterns are built from.

Part of :mod:`bot.nlu.dates`; pure tables and two number readers, no dates.
"""

from __future__ import annotations

# --- Numbers ---------------------------------------------------------------------------------

_CN_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5}
_CN_DIGITS |= {"六": 6, "七": 7, "八": 8, "九": 9}
NUM = r"[0-9〇零一二两兩三四五六七八九十百]{1,4}"
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


def cn_int(s: str) -> int | None:
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


def en_int(s: str) -> int | None:
    s = s.strip().lower()
    if s.isdigit():
        return int(s)
    return _EN_NUMBERS.get(s)


# --- Words and pattern pieces -----------------------------------------------------------------

WEEKDAY_CN = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "末": 5}
WEEKDAY_CN |= {str(i): i - 1 for i in range(1, 8)}
WEEKDAY_EN = {
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
MONTHS_EN = {
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
MONTH_EN = (
    r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
DAY_EN = r"(?P<day>[0-9]{1,2})(?:st|nd|rd|th)?"
YEAR_EN = r"(?:,?\s*(?P<year>20[0-9]{2}))?"
WEEKDAY_EN_RX = (
    r"(?P<wd>mon(?:day)?|tue(?:s(?:day)?)?|wed(?:nesday)?|thu(?:r(?:s(?:day)?)?)?|fri(?:day)?"
    r"|sat(?:urday)?|sun(?:day)?)"
)
WEEK = r"(?:周|週|星期|礼拜|禮拜)"
DAY_SUFFIX = r"[日号號]"
#: The verbs of "签收五天了" / "收到货一周了": the span counts from them.
VERB_BEFORE_SPAN = (
    r"(?:签收|簽收|签手|收到|到货|到貨|拿到|到手|到了|签|簽|申请|申請|提交|下单|下單|买了|買了)"
)
#: What may not follow "9.9": it is then a price, a weight or a size, not a date.
NOT_A_DATE = r"(?!\s*(?:元|块|塊|包邮|包郵|折|斤|公斤|kg|g\b|米|cm|mm|m\b|%|倍|寸|码|碼|l\b|ml))"
#: What may not follow "20号": it is then an address or a bus line, not a date.
NOT_A_DAY = r"(?![线線楼樓院房门門店床柜櫃仓倉位机機箱车車口栋棟单單元])"

#: Relative day words and how many days from today each is.
RELATIVE_WORDS = {
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
