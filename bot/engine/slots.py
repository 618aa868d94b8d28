"""Slot validators: turn what a shopper typed into a date, an order number or clean text.

Pure functions: "today" comes in as an argument, nothing reads the clock. Failures are codes
(:class:`DateError`), never user-facing text; the engine picks the re-ask message for them.
"""

from __future__ import annotations

import functools
import re
import unicodedata

__all__ = [
    "YEARLESS_FUTURE_DAYS",
    "DateError",
    "clean_text",
    "mask_order_no",
    "parse_date",
    "parse_order_no",
]


from bot.nlu.dates import YEARLESS_FUTURE_DAYS, DateError, parse_date

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
