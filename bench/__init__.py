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


_SNAPSHOT: Path | None = None


def content_root(root: Path = ROOT) -> Path:
    """Returns a directory whose flows and locales load (for benchmarks of the real content).

    The working tree is used if it loads; otherwise (someone is half-way through an edit in a
    shared checkout) the committed ``HEAD`` versions of ``flows/``, ``locales/``, ``config/``
    and ``tests/dialogues/`` are exported to a temporary directory; failing that, the small
    fixture ``tests/fixtures/mini``. A note on stderr says which.
    """
    global _SNAPSHOT
    from bot.engine.loader import FlowError, load_bundle

    try:
        load_bundle(root)
        return root
    except FlowError as exc:
        reason = str(exc).splitlines()[0]
    if _SNAPSHOT is not None:
        return _SNAPSHOT
    import atexit
    import io
    import shutil
    import subprocess
    import sys
    import tarfile
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="bench-content-"))
    atexit.register(shutil.rmtree, tmp, True)
    try:
        tar = subprocess.run(
            ["git", "archive", "HEAD", "flows", "locales", "config", "tests/dialogues"],
            cwd=root,
            check=True,
            capture_output=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
            archive.extractall(tmp, filter="data")
        load_bundle(tmp)
        print(f"note: working tree content does not load ({reason}); using HEAD", file=sys.stderr)
        _SNAPSHOT = tmp
    except (subprocess.CalledProcessError, OSError, FlowError, tarfile.TarError):
        print(f"note: content does not load ({reason}); using tests/fixtures/mini", file=sys.stderr)
        _SNAPSHOT = root / "tests" / "fixtures" / "mini"
    return _SNAPSHOT


def load_note() -> str:
    """Returns the 1-minute load average (other work on the 2 cores inflates p99 figures)."""
    import os

    try:
        return f"load {os.getloadavg()[0]:.1f}"
    except OSError:
        return "load ?"
