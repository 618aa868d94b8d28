"""``python -m bench dates``: our date parser against dateparser, on the same table.

The table is ``tests/nlu/dates.yaml`` (the signing day each typed date gives, or why none).
For dateparser, the best of ``dateparser.parse`` and ``search_dates`` (languages zh and en,
relative to the case's day, past preferred) counts as its answer; an error case counts as right
when dateparser finds no date. Prints accuracy and the median time per case for each.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

import yaml

from bench import ROOT, median
from bot.nlu.dates import parse_date

Answer = Callable[[str, date], str]


def _ours(text: str, today: date) -> str:
    got = parse_date(text, today)
    if isinstance(got, date):
        return got.isoformat()
    return "none" if got.value == "invalid" and not any(c.isdigit() for c in text) else got.value


def _dateparser() -> Answer | None:
    try:
        import dateparser
        from dateparser.search import search_dates
    except ImportError:
        return None

    def answer(text: str, today: date) -> str:
        settings: Any = {
            "RELATIVE_BASE": datetime(today.year, today.month, today.day, 12),
            "PREFER_DATES_FROM": "past",
        }
        found = dateparser.parse(text, languages=["zh", "en"], settings=settings)
        if found is None:
            hits = search_dates(text, languages=["zh", "en"], settings=settings) or []
            found = hits[0][1] if hits else None
        return found.date().isoformat() if found else "none"

    return answer


def _score(answer: Answer, cases: list[dict[str, Any]]) -> tuple[int, float]:
    right, times = 0, []
    for case in cases:
        today = date.fromisoformat(str(case["today"]))
        expect = str(case["expect"])
        started = time.perf_counter()
        got = answer(case["text"], today)
        times.append((time.perf_counter() - started) * 1e6)
        if expect in ("none", "invalid", "future", "too_old"):
            right += got in (expect, "none", "invalid", "future", "too_old")
        else:
            right += got == expect
    return right, median(times)


def main(argv: Sequence[str]) -> str:
    """Runs the comparison; returns the summary line."""
    parser = argparse.ArgumentParser(prog="python -m bench dates", description=__doc__)
    parser.parse_args(list(argv))
    cases = yaml.safe_load((ROOT / "tests" / "nlu" / "dates.yaml").read_text(encoding="utf-8"))
    cases = cases["cases"]
    ours, ours_us = _score(_ours, cases)
    print(f"ours        {ours}/{len(cases)} right, median {ours_us:.0f} µs per case")
    other = _dateparser()
    if other is None:
        return f"dates: ours {ours}/{len(cases)}; dateparser not installed (pip install dateparser)"
    theirs, theirs_us = _score(other, cases)
    print(f"dateparser  {theirs}/{len(cases)} right, median {theirs_us:.0f} µs per case")
    return (
        f"dates: ours {ours}/{len(cases)} ({ours_us:.0f} µs), "
        f"dateparser {theirs}/{len(cases)} ({theirs_us:.0f} µs)"
    )
