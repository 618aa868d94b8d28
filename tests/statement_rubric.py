"""The rubric every complaint statement must pass, written from facts.md, not from the code.

:func:`check` is run on every statement the transcripts and the random walks produce (the
review draft and the final text). It fails on a placeholder, on an article of law the facts do
not support, on a missing order number or seller quote that the shopper gave, on a "seller did
not reply" for a seller who did, and on a message over Telegram's 4096 characters.
"""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from typing import Any

#: Telegram's limit for one message.
LIMIT = 4096
#: What must never appear in a statement: unfilled values and template leftovers.
PLACEHOLDERS = ("（未提供）", "（未记录）", "待生成", "未记录", "None", "{", "}", "—")
_ARTICLE = re.compile(r"第[一二三四五六七八九十百零]+条")
#: facts.md §2: goods the law itself excludes from the seven-day no-reason return.
_EXCLUDED_BY_LAW = frozenset({"custom", "fresh", "digital_opened", "periodical"})
#: facts.md §3: the article each seller fault may cite.
_FAULT_ARTICLES = {
    "quality": {"第二十四条"},
    "damaged": {"第二十条", "第六百零四条"},
    "logistics_stalled": {"第二十条", "第六百零四条"},
    "fake": {"第五十五条"},
}


#: Slots holding the shopper's own words.
TYPED_SLOTS = ("description", "seller_said", "product", "order_no")


def _unquoted(text: str) -> str:
    return " ".join(text.split()).strip("“”\"'「」『』‘’ ")


def allowed_articles(slots: dict[str, Any], today: date) -> set[str]:
    """The articles facts.md supports for these facts (an empty set: cite none)."""
    if slots.get("status") == "unshipped" or slots.get("seller_status") == "refused_cancel":
        return set()  # facts §1, §4: cancelling is the platform's rule, never art. 25
    problem = slots.get("problem")
    if slots.get("status") == "not_received":
        # never delivered: the risk in transit is the seller's, whatever else was said
        return {"第二十条", "第六百零四条"} | _FAULT_ARTICLES.get(str(problem), set())
    if problem in _FAULT_ARTICLES:
        return set(_FAULT_ARTICLES[problem])
    if problem in ("changed_mind", "size_color"):
        if slots.get("category") in _EXCLUDED_BY_LAW:
            return set()
        signed = slots.get("signed_date")
        if not isinstance(signed, str):
            # facts §2: the seven days start after signing; before it they have not begun
            return {"第二十五条"} if slots.get("status") in ("shipped", "delivering") else set()
        last_day = date.fromisoformat(signed) + timedelta(days=7)  # facts §2: from the day after
        if today <= last_day and slots.get("category") not in _EXCLUDED_BY_LAW:
            return {"第二十五条"}
    return set()


_SIGNATURE = re.compile(r"（\d{4}年\d{1,2}月\d{1,2}日[^）]*）")


def statement_of(text: str) -> str:
    """The statement inside a reply: from its opening line to its dated signature."""
    start = text.find("您好，我申请平台介入")
    if start < 0:
        return ""
    end = _SIGNATURE.search(text, start)
    return text[start : end.end()] if end else text[start:]


def check(reply: str, slots: dict[str, Any], today: date) -> list[str]:
    """Returns what is wrong with the statement in ``reply`` (empty when it passes)."""
    problems: list[str] = []
    body = statement_of(reply)
    if not body:
        return ["no statement in the reply"]
    if len(reply) > LIMIT:
        problems.append(f"{len(reply)} characters, over Telegram's {LIMIT}")
    template = body  # the statement without what the shopper typed (they may type "{")
    typed = {
        html.escape(part, quote=False)
        for slot in TYPED_SLOTS
        if isinstance(value := slots.get(slot), str) and value
        for part in (value, " ".join(value.split()), _unquoted(value))
        if part
    }
    for part in sorted(typed, key=len, reverse=True):  # longest first: "杯None" before "杯"
        template = template.replace(part, "")
    for marker in PLACEHOLDERS:
        if marker in template:
            problems.append(f"placeholder {marker!r}")
    for line in body.splitlines():
        if line.rstrip().endswith("：") and not line.startswith(
            ("您好", "经过", "我的诉求", "依据")
        ):
            problems.append(f"empty line {line!r}")
    cited = set(_ARTICLE.findall(body))
    wrong = cited - allowed_articles(slots, today)
    if wrong:
        problems.append(f"cites {sorted(wrong)}, which the facts do not support")
    order_no = slots.get("order_no")
    if isinstance(order_no, str) and order_no not in ("", "unknown") and order_no not in body:
        problems.append("the order number given is missing")
    said = slots.get("seller_said")
    if isinstance(said, str) and said not in ("", "none"):
        core = html.escape(_unquoted(said), quote=False)[:40]
        if core not in body:
            problems.append("the seller's words given are not quoted")
    if slots.get("seller_status") not in (None, "ignored") and "未回复" in body:
        problems.append("says the seller did not reply, but the seller did")
    return problems
