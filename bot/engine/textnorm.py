"""Text normalisation for intent matching: one canonical form for what shoppers type.

``normalize`` folds the ways the same words arrive: full-width forms (NFKC), upper case,
whitespace, zero-width characters, punctuation and symbols (Chinese and ASCII, emoji too) and
Traditional characters (mapped to Simplified with :mod:`bot.engine.t2s_table`). Synonyms in the
locale files go through :func:`normalize_keyword`, the very same function, so a synonym and a
message that should match it always meet in the same form.

It runs on every message, so the whole fold is precomputed per character into one table at
import (a few tens of ms) and a message costs one ``str.translate`` plus a quick NFKC check.
"""

from __future__ import annotations

import itertools
import unicodedata

from bot.engine.t2s_table import SIMPLIFIED, TRADITIONAL

__all__ = ["normalize", "normalize_keyword"]

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
#: CJK Extension A and Unified Ideographs (bar the Traditional ones, which are added back),
#: Hangul syllables, surrogates, private use. Skipping them halves the import time.
_IDENTITY_RANGES = (
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xAC00, 0xD7A3),
    (0xD800, 0xDFFF),
    (0xE000, 0xF8FF),
)


def _fold_char(ch: str) -> str | None:
    """Returns what one character becomes: itself, another string, or None (dropped)."""
    out = [
        _T2S.get(ord(c), c)
        for c in unicodedata.normalize("NFKC", ch).lower()
        if unicodedata.category(c) not in _DROP_CATEGORIES and ord(c) not in _DROP_EXTRA
    ]
    return "".join(out) or None


def _build_table() -> dict[int, str | None]:
    """Maps every Basic Multilingual Plane character (and astral punctuation) to its final form.

    Folding per character in one table lets the common case skip ``unicodedata.normalize``
    (which alone costs more than everything else for a short message with full-width commas).
    """
    table: dict[int, str | None] = {}
    starts = [0, *(hi + 1 for _, hi in _IDENTITY_RANGES)]
    stops = [*(lo for lo, _ in _IDENTITY_RANGES), 0x10000]
    candidates = itertools.chain(*(map(range, starts, stops)), _T2S)
    for cp in candidates:
        ch = chr(cp)
        folded = _fold_char(ch)
        if folded != ch:
            table[cp] = folded
    for lo, hi in _ASTRAL_SCANNED:
        for cp in range(lo, hi + 1):
            ch = chr(cp)
            if unicodedata.category(ch) == "Cn":
                if any(a <= cp <= b for a, b in _DROP_ASTRAL_RANGES):
                    table[cp] = None
            elif (folded := _fold_char(ch)) != ch:
                table[cp] = folded
    return table


_T2S: dict[int, str] = {ord(t): s for t, s in zip(TRADITIONAL, SIMPLIFIED, strict=True)}
_TABLE = _build_table()


def normalize(text: str) -> str:
    """Returns ``text`` folded for matching: NFKC, lower case, Simplified, no spaces/punctuation."""
    folded = text.translate(_TABLE)
    if not unicodedata.is_normalized("NFKC", folded):
        # Combining sequences or astral compatibility characters: do it the long way.
        folded = unicodedata.normalize("NFKC", folded).lower().translate(_TABLE)
    return folded


def normalize_keyword(word: str) -> str:
    """Returns a synonym in the form :func:`normalize` gives messages (it is the same function)."""
    return normalize(word)
