"""Benchmarks: what one update costs, end to end, and how the cost grows.

Run ``python -m bench <sub-command>`` (``engine``, ``engine-scale``, ``store``, ``memory``,
``e2e``); each prints its figure in one final line. Figures and how to read them:
``docs/performance.md``. Not part of the test suite (a tiny smoke run is:
``tests/test_bench_smoke.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

#: The project root (``flows/``, ``locales/``, ``config/``).
ROOT = Path(__file__).resolve().parents[1]


def percentile(samples: Sequence[float], pct: float) -> float:
    """Returns the ``pct`` percentile (nearest rank) of ``samples`` (0.0 when empty)."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(samples: Sequence[float]) -> float:
    """Returns the median (the 50th percentile, nearest rank)."""
    return percentile(samples, 50.0)


def proc_status_kb(field: str) -> int:
    """Returns a ``/proc/self/status`` field in kB (``VmRSS``, ``VmHWM``); 0 if unavailable."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return 0
    return 0
