"""Understanding benchmark: the cost of one message, of loading, and of the memory it holds.

- **Per message**: :meth:`Understanding.parse` over every text of the held-out, dev and dates
  files (the kind of messages shoppers send, one to a few lines), after one warm-up pass; the
  median and the 99th percentile of single calls (``perf_counter_ns``).
- **Start-up**: ``Engine.load`` in a fresh child process, against the engine built without the
  understanding step (flows, locales and the machine only), the model already cached (warm) as
  it is on every start but the first; and the cold training time once, in its own cache.
- **Memory**: the child's peak resident set size (``VmHWM``) after loading, with and without.

The figure printed last is the median per-message time (target ≤ 1 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import yaml

from bench import ROOT

#: The last commit before the understanding step (issue 11): the start-up and memory baseline.
BEFORE = "2a56b32"

_CHILD = """
import json, resource, sys, time
from pathlib import Path
t0 = time.perf_counter()
from bot.engine.engine import Engine
if sys.argv[3] == "without":
    from bot.engine.loader import load_bundle
    Engine(load_bundle(Path(sys.argv[1])))  # the engine alone: flows, locales, machine
elif sys.argv[3] == "before":
    Engine.load(Path(sys.argv[1]))  # a tree from before the understanding step
else:
    Engine.load(Path(sys.argv[1]), cache_dir=Path(sys.argv[2]))
elapsed = time.perf_counter() - t0
# VmHWM: this process's peak; ru_maxrss would carry the forking parent's peak over exec
status = Path("/proc/self/status")
if status.exists():
    line = next(l for l in status.read_text().splitlines() if l.startswith("VmHWM:"))
    rss_kb = int(line.split()[1])
else:
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": elapsed, "rss_mb": rss_kb / 1024}))
"""


def _texts() -> list[str]:
    texts: list[str] = []
    for name in ("heldout.yaml", "dev.yaml", "dev2.yaml", "dates.yaml"):
        path = ROOT / "tests" / "nlu" / name
        if not path.exists():
            continue
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for item in doc.get("examples") or doc.get("cases") or []:
            if isinstance(item, dict) and isinstance(item.get("text"), str):
                texts.append(item["text"])
    return texts


def _child(root: Path, cache: Path, mode: str = "with", code: Path = ROOT) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(code)}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(root), str(cache), mode],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=code,  # `-c` puts the working directory first on sys.path
    )
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def _worktree(tmp: Path, rev: str) -> Path | None:
    """The tree at ``rev`` (``git archive``), or None outside a git checkout."""
    target = tmp / "before"
    target.mkdir()
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        print(f"(no git revision {rev}: the comparison with it is skipped)")
        return None
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def main(argv: Sequence[str]) -> str:
    parser = argparse.ArgumentParser(prog="python -m bench nlu", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="start-up runs of each kind")
    parser.add_argument(
        "--before",
        default=BEFORE,
        help="a git revision to compare with (default: the last one without understanding)",
    )
    args = parser.parse_args(list(argv))

    from bot.nlu.understand import Understanding

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        pattern = "^[A-Za-z]{0,3}[0-9]{10,30}$"
        started = time.perf_counter()
        nlu = Understanding.load(ROOT, pattern, cache_dir=tmp / "cold")
        cold = time.perf_counter() - started
        print(f"cold start (training the model once): {cold:.2f} s")

        texts = _texts()
        today = date(2026, 11, 23)
        for text in texts:  # warm-up
            nlu.parse(text, today)
        times: list[float] = []
        for text in texts:
            t0 = time.perf_counter_ns()
            nlu.parse(text, today)
            times.append((time.perf_counter_ns() - t0) / 1e6)
        times.sort()
        median = statistics.median(times)
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        print(f"per message over {len(times)} texts: median {median:.3f} ms, p99 {p99:.3f} ms")

        warm = tmp / "warm"
        _child(ROOT, warm)  # fills the cache
        with_nlu = [_child(ROOT, warm) for _ in range(args.rounds)]
        without = [_child(ROOT, warm, "without") for _ in range(args.rounds)]
        load_with = min(r["seconds"] for r in with_nlu)
        load_without = min(r["seconds"] for r in without)
        rss_with = min(r["rss_mb"] for r in with_nlu)
        rss_without = min(r["rss_mb"] for r in without)
        print(
            f"start-up (Engine.load, warm cache, best of {args.rounds}): "
            f"{load_with:.2f} s with understanding, {load_without:.2f} s without "
            f"(+{load_with - load_without:.2f} s; target ≤ +1 s)"
        )
        print(
            f"resident memory after loading: {rss_with:.0f} MB with, {rss_without:.0f} MB "
            f"for the engine alone (the same modules imported)"
        )
        old = _worktree(tmp, args.before)
        if old is not None:
            before = [_child(old, warm, "before", code=old) for _ in range(args.rounds)]
            load_before = min(r["seconds"] for r in before)
            rss_before = min(r["rss_mb"] for r in before)
            print(
                f"against {args.before} (before understanding): start-up {load_before:.2f} s "
                f"→ {load_with:.2f} s (+{load_with - load_before:.2f} s; target ≤ +1 s), "
                f"memory {rss_before:.0f} MB → {rss_with:.0f} MB "
                f"(+{rss_with - rss_before:.0f} MB; target ≤ +80 MB)"
            )
    return f"understanding one message: median {median:.3f} ms (target ≤ 1 ms)"
