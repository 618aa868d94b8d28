"""Which language a message is in: ``zh-Hans``, ``zh-Hant`` or ``en``, and how sure that is.

By the rule of docs/nlu-labels.md: ``en`` when the words are English (a Chinese word or two
inside English is still English); ``zh-Hant`` when at least one character is written in its
Traditional form (OpenCC's ``t2s`` changes it) and none only in its Simplified form; otherwise
``zh-Hans``. "Sure" means the message itself shows the language: English words, or characters that
exist only in one script. A message of digits, emoji or characters both scripts share is not
sure, so the bot keeps the conversation's language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import opencc

__all__ = ["Language", "detect"]

_T2S = opencc.OpenCC("t2s")
_S2T = opencc.OpenCC("s2t")
_WORD = re.compile(r"[A-Za-z]+")
#: Markup, links and addresses say nothing about the language a shopper writes in.
_NOISE = re.compile(r"<[^>]*>|https?://\S+|www\.\S+|\S+@\S+|&[a-z]+;|\[[^\]]*\]\([^)]*\)")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
#: English words that are also pinyin, brand names or units; alone they say nothing.
_NOT_ENGLISH = frozenset({"ok", "okk", "hhh", "xhs", "app", "id", "vx", "qq", "kg", "cm", "ml"})
#: One word alone shows English only if it is an everyday word of this domain (not "asdfgh").
_ONE_WORD = frozenset(
    [
        "hi",
        "hello",
        "hey",
        "thanks",
        "thank",
        "thx",
        "ty",
        "yes",
        "yeah",
        "yep",
        "no",
        "nope",
        "bye",
        "refund",
        "return",
        "cancel",
        "help",
        "human",
        "agent",
        "person",
        "seller",
        "order",
        "parcel",
        "package",
        "delivery",
        "tracking",
        "exchange",
        "broken",
        "damaged",
        "fake",
        "please",
        "pls",
        "sorry",
        "wrong",
        "missing",
        "stuck",
        "late",
        "restart",
        "menu",
        "start",
        "tips",
        "what",
        "how",
        "why",
        "when",
        "where",
    ]
)


@dataclass(frozen=True, slots=True)
class Language:
    """The language of one message."""

    name: str
    #: The text itself shows it (see the module docstring).
    sure: bool


def _differs(a: str, b: str) -> int:
    return sum(x != y for x, y in zip(a, b, strict=False))


def detect(text: str) -> Language:
    """Returns the language of ``text`` (see the module docstring for the rule)."""
    text = _NOISE.sub(" ", text)
    cjk = _CJK.findall(text)
    words = [w for w in _WORD.findall(text) if w.lower() not in _NOT_ENGLISH]
    if not any(len(w) >= 2 for w in words):
        words = []  # a letter in front of an order number is no English
    if words and (not cjk or (len(words) >= 2 and 2 * len(words) >= len(cjk))):
        long_words = [w for w in words if len(w) >= 2]
        known = any(w.lower() in _ONE_WORD for w in words)
        return Language("en", len(long_words) >= 2 or (not cjk and known))
    if not cjk:
        return Language("zh-Hans", False)
    han = "".join(cjk)
    traditional = _differs(han, str(_T2S.convert(han)))
    simplified = _differs(han, str(_S2T.convert(han)))
    if traditional and traditional > simplified:
        return Language("zh-Hant", True)
    return Language("zh-Hans", simplified > 0)
