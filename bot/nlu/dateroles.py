"""What a date is *of*: the verb nearest to it in its clause (签收, 下单, applied, shipped…).

Part of :mod:`bot.nlu.dates`; pure.
"""

from __future__ import annotations

import re

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


def role_of(s: str, start: int, end: int) -> tuple[str, bool]:
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
