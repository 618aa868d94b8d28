"""Text normalisation: one canonical form for what shoppers type.

``normalize`` folds the ways the same words arrive: full-width forms (NFKC), upper case,
whitespace, zero-width characters, punctuation and symbols (Chinese and ASCII, emoji too), and
Traditional Chinese, converted to Simplified by OpenCC (``t2s``, which picks the Simplified
character by the word: 乾淨 → 干净 but 乾坤 stays). Synonyms in the locale files go through
:func:`normalize_keyword`, the very same function, so a synonym and a message that should match
it always meet in the same form. :func:`soft` is the form the statistical model reads: the same
fold, but punctuation becomes a space so word boundaries (English) survive.

OpenCC replaced a hand-generated character table: on phrases whose conversion depends on the
word (乾淨, 瞭解, 乾燥) the table was wrong where OpenCC is right, and OpenCC costs about 1 µs a
message. (``tw2sp``, which also rewrites Taiwan vocabulary, was tried and rejected: it turns 截圖
into 截屏, so a Traditional message no longer meets the mainland synonym 截图.) The width, case
and punctuation fold is precomputed per character into one table at import (a few tens of ms),
so a message costs one ``str.translate``, a quick NFKC check and one OpenCC call.
"""

from __future__ import annotations

import itertools
import re
import unicodedata

import opencc

__all__ = ["model_text", "negated", "normalize", "normalize_keyword", "soft", "to_simplified"]

#: Unicode general categories removed entirely: punctuation, symbols, separators, controls and
#: format characters (zero-width space/joiners, BOM, bidi marks), unassigned.
_DROP_CATEGORIES = frozenset(
    {"Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf"}
)
#: Outside the Basic Multilingual Plane, the planes that hold punctuation, symbols and format
#: characters are folded like the BMP (plane 1: historic scripts, emoji, pictographs; plane 14:
#: tags). Planes 2, 3 and 15-16 hold only ideographs and private use, so they are not scanned.
_ASTRAL_SCANNED = ((0x10000, 0x1FFFF), (0xE0000, 0xE0FFF))
#: Emoji, pictograph and tag blocks: their unassigned code points are dropped too, as they are
#: emoji newer than this Python's Unicode database (the assigned ones are symbols or tags).
_DROP_ASTRAL_RANGES = ((0x1F000, 0x1FAFF), (0xE0000, 0xE007F))
#: Variation selectors (emoji/text presentation) are combining marks, not format characters.
_DROP_EXTRA = frozenset([*range(0xFE00, 0xFE10), *range(0x180B, 0x1810)])


#: Blocks (sorted, disjoint) whose characters NFKC, lower-casing and the drop rules leave alone:
#: CJK Extension A and Unified Ideographs, Hangul syllables, surrogates, private use.
#: Skipping them halves the import time.
_IDENTITY_RANGES = (
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xAC00, 0xD7A3),
    (0xD800, 0xDFFF),
    (0xE000, 0xF8FF),
)


def _fold_char(ch: str, drop: str | None = None) -> str | None:
    """Returns what one character becomes: itself, another string, or ``drop`` (None: dropped)."""
    out = [
        c if unicodedata.category(c) not in _DROP_CATEGORIES and ord(c) not in _DROP_EXTRA else drop
        for c in unicodedata.normalize("NFKC", ch).lower()
    ]
    return "".join(c for c in out if c is not None) or None


def _build_table(drop: str | None = None) -> dict[int, str | None]:
    """Maps every Basic Multilingual Plane character (and astral punctuation) to its final form.

    Folding per character in one table lets the common case skip ``unicodedata.normalize``
    (which alone costs more than everything else for a short message with full-width commas).
    """
    table: dict[int, str | None] = {}
    starts = [0, *(hi + 1 for _, hi in _IDENTITY_RANGES)]
    stops = [*(lo for lo, _ in _IDENTITY_RANGES), 0x10000]
    candidates = itertools.chain(*(map(range, starts, stops)))
    for cp in candidates:
        ch = chr(cp)
        folded = _fold_char(ch, drop)
        if folded != ch:
            table[cp] = folded
    for lo, hi in _ASTRAL_SCANNED:
        for cp in range(lo, hi + 1):
            ch = chr(cp)
            if unicodedata.category(ch) == "Cn":
                if any(a <= cp <= b for a, b in _DROP_ASTRAL_RANGES):
                    table[cp] = drop
            elif (folded := _fold_char(ch, drop)) != ch:
                table[cp] = folded
    return table


#: One table for both forms: what is dropped becomes a space, which :func:`normalize` removes.
_TABLE = _build_table(" ")
_CONVERTER = opencc.OpenCC("t2s")
_SPACES = re.compile(r" {2,}")


#: Simplified characters that OpenCC would still change because they double as variants
#: (苧 → 苎, which makes the fold non-idempotent). They are parked in the Private Use Area during
#: the conversion (tests/test_textnorm.py re-derives the list from OpenCC, so a new OpenCC release
#: cannot change it silently). 麽 is the common variant of 么 and folds to it.
PROTECTED = {"麽": "么", "苧": "苧", "緼": "緼", "藴": "藴", "輼": "輼", "醖": "醖"}
_PARK = {ord(k): chr(0xF0000 + ord(v)) for k, v in PROTECTED.items()}
_UNPARK = {0xF0000 + ord(v): v for v in PROTECTED.values()}


def to_simplified(text: str) -> str:
    """Returns ``text`` with Traditional characters and Taiwan phrasing in Simplified (OpenCC)."""
    if not text or text.isascii():
        return text
    return str(_CONVERTER.convert(text.translate(_PARK))).translate(_UNPARK)


def normalize(text: str) -> str:
    """Returns ``text`` folded for matching: NFKC, lower case, Simplified, no spaces/punctuation."""
    folded = text.translate(_TABLE).replace(" ", "")
    if not unicodedata.is_normalized("NFKC", folded):
        # Combining sequences or astral compatibility characters: do it the long way.
        folded = unicodedata.normalize("NFKC", folded).lower().translate(_TABLE).replace(" ", "")
    return to_simplified(folded)


def soft(text: str) -> str:
    """Returns ``text`` folded like :func:`normalize`, but punctuation and spaces become one space.

    This is what the statistical model reads: word boundaries matter for English.
    """
    folded = text.translate(_TABLE)
    if not unicodedata.is_normalized("NFKC", folded):
        folded = unicodedata.normalize("NFKC", folded).lower().translate(_TABLE)
    return _SPACES.sub(" ", to_simplified(folded)).strip()


def normalize_keyword(word: str) -> str:
    """Returns a synonym in the form :func:`normalize` gives messages (it is the same function)."""
    return normalize(word)


#: Words that turn the synonym right after them around: 不同意了 is not 同意了.
_NEGATORS = ("不", "没", "沒", "未", "别", "別", "非", "无", "無", "not", "n't", "no", "never")


def negated(folded: str, at: int) -> bool:
    """Whether the word found at ``at`` of a folded text (:func:`normalize`) follows a negator."""
    before = folded[max(0, at - 5) : at]
    return any(before.endswith(n) for n in _NEGATORS)


#: Eight digits or more, maybe grouped by single spaces or dashes as people type them
#: ("P2026 1110 7788 9900 12"), maybe after a short letter prefix glued to them.
_ORDER_LIKE = re.compile(r"(?<![a-z0-9])(?:[a-z]{1,3}(?=[0-9]))?[0-9](?:[ \-]?[0-9]){7,}")


def _emoji_words(text: str) -> str:
    """Spells each emoji out by its Unicode name ("👍" → " thumbs up sign "): it keeps meaning."""
    if text.isascii():
        return text
    out = []
    for ch in text:
        if ord(ch) >= 0x2600 and unicodedata.category(ch) == "So":
            out.append(f" {unicodedata.name(ch, '').lower()} ")
        else:
            out.append(ch)
    return "".join(out)


#: Homophone slips in the words that decide an intent (typed by pinyin: 据收 for 拒收, 兰截 for
#: 拦截, 人公 for 人工), folded to the word meant. Only slips that mean nothing else here.
_TYPOS = {
    "据收": "拒收",
    "巨收": "拒收",
    "据签": "拒签",
    "兰截": "拦截",
    "栏截": "拦截",
    "蓝截": "拦截",
    "拦劫": "拦截",
    "人公": "人工",
    "仁工": "人工",
    "法货": "发货",
    "运废": "运费",
    "以经": "已经",
}
_TYPO = re.compile("|".join(_TYPOS))


def model_text(text: str) -> str:
    """The form of a message the model reads: folded (:func:`soft`), emoji spelt out, pinyin
    slips in key words mended (:data:`_TYPOS`).

    A long number (an order or phone number) becomes ``#``, so no two of them differ; short
    numbers stay (12315 and 886 mean different things).
    """
    folded = soft(_emoji_words(text))
    if not folded.isascii():
        folded = _TYPO.sub(lambda m: _TYPOS[m.group()], folded)
    return _ORDER_LIKE.sub(_number_mark, folded)


_SPACED_DATE = re.compile(r"[0-9]{4}[ \-][0-9]{1,2}[ \-][0-9]{1,2}")


def _number_mark(m: re.Match[str]) -> str:
    """`` # `` for a long number; a date written with separators ("2026.11.20") stays."""
    return m.group() if _SPACED_DATE.fullmatch(m.group()) else " # "
