"""``python -m bot nlu eval|misses|parse|train``: look into the understanding step.

- ``eval [--file F] [--misses N]``: accuracy per intent, per language and per entity, exact
  entity match, the confusion of intents and the misses on a labelled file (default: the
  held-out set, ``tests/nlu/heldout.yaml``). The last line is the summary.
- ``misses [--days N] [--limit N] [--yaml]``: what shoppers typed that the bot could not place
  (masked), grouped and counted, from the store in ``BOT_DATA_DIR``; ``--yaml`` prints them as
  example stubs to label and add to ``locales/nlu/``.
- ``parse TEXT… [--today DATE]``: the frame of each text, as JSON.
- ``train``: trains the model now (it is otherwise trained on the first start) and says where
  it is cached, how long it took and how big it is.

Errors are one line on stderr and exit code 1 (2 for wrong arguments). See docs/nlu.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

__all__ = ["main_nlu"]

DEFAULT_EVAL = Path("tests") / "nlu" / "heldout.yaml"
#: Order numbers of the policy, for `parse` (the engine reads the same key).
_DEFAULT_PATTERN = r"^[A-Za-z]{0,3}[0-9]{10,30}$"


def _fail(message: str, code: int = 1) -> int:
    sys.stderr.write(f"error: {message}\n")
    return code


def _understanding(root: Path) -> Any:
    from bot.engine.loader import load_bundle
    from bot.nlu.understand import Understanding

    bundle = load_bundle(root)
    pattern = str(bundle.policy.get("order_number_pattern", _DEFAULT_PATTERN))
    return Understanding.load(root, pattern)


def cmd_eval(root: Path, file: Path, misses: int) -> int:
    """Evaluates on a labelled file; prints the report (summary last)."""
    from bot.nlu.data import load_labels, read_examples
    from bot.nlu.evaluate import evaluate, render

    path = file if file.is_absolute() else root / file
    if not path.exists():
        return _fail(f"no such file: {path}")
    labels = load_labels(root / "config" / "nlu.yaml")
    examples, problems = read_examples(path, labels)
    if problems:
        for p in problems[:20]:
            sys.stderr.write(f"{p}\n")
        return _fail(f"{len(problems)} problem(s) in {path}")
    if not examples:
        return _fail(f"{path} has no examples")
    print(render(evaluate(_understanding(root), examples), misses=misses))
    return 0


def cmd_parse(root: Path, texts: Sequence[str], today: date) -> int:
    """Prints the frame of each text as one JSON line."""
    nlu = _understanding(root)
    for text in texts:
        frame = nlu.parse(text, today)
        out = {
            "text": text,
            "lang": frame.lang,
            "intents": [[i, round(p, 3)] for i, p in frame.intents[:3]],
            "entities": {k: str(v) for k, v in frame.entities().items()},
            "dates": [
                {"text": m.text, "day": str(m.value or m.error), "role": m.role}
                for m in frame.dates
            ],
        }
        print(json.dumps(out, ensure_ascii=False))
    return 0


def cmd_train(root: Path) -> int:
    """Trains (or re-trains) the model into the cache."""
    from bot.nlu.data import content_digest
    from bot.nlu.model import _LOADED, cache_path, default_cache_dir, load_or_train

    digest = content_digest(root)
    path = cache_path(default_cache_dir(), digest)
    if path.exists():
        path.unlink()
    _LOADED.pop(digest, None)
    started = time.perf_counter()
    model = load_or_train(root)
    took = time.perf_counter() - started
    print(
        f"trained in {took:.1f} s: {len(model.vocab)} features, "
        f"{sum(len(h.labels) for h in model.heads)} outputs, "
        f"{path.stat().st_size / 1e6:.1f} MB at {path}"
    )
    return 0


def cmd_misses(days: int, limit: int, as_yaml: bool) -> int:
    """Lists the kept misses, grouped by what was typed, most frequent first."""
    from bot.config import ConfigError, load_settings
    from bot.nlu.textnorm import normalize
    from bot.store.base import StoreError
    from bot.store.pg_url import describe
    from bot.store.sqlite import open_store

    try:
        settings = load_settings(dict(__import__("os").environ), None)
    except ConfigError as exc:
        return _fail(str(exc), 2)
    try:
        store = open_store(settings.data_dir, database_url=settings.database_url)
    except StoreError as exc:
        url = settings.database_url
        where = f"DATABASE_URL {describe(url)}" if url else f"BOT_DATA_DIR {settings.data_dir}"
        return _fail(f"{where}: {str(exc).splitlines()[0]}")
    try:
        since = time.time() - days * 86400.0 if days else 0.0
        kept = store.misses(since=since, limit=100000)
    finally:
        store.close()
    groups: dict[str, list[Any]] = defaultdict(list)
    for miss in kept:
        groups[normalize(miss.text) or miss.text].append(miss)
    ranked = sorted(groups.values(), key=lambda ms: (-len(ms), -ms[0].at))[:limit]
    if not ranked:
        print(f"no misses kept{f' in the last {days} days' if days else ''}")
        return 0
    if as_yaml:
        print(f"today: {date.today().isoformat()}\nexamples:")
        for ms in ranked:
            guess = ms[0].guess[0][0] if ms[0].guess else "TODO"
            print(f"  - text: {json.dumps(ms[0].text, ensure_ascii=False)}  # {len(ms)}×")
            print(f"    intent: {guess}  # check, and add entities")
        return 0
    print(f"{'count':>5}  {'last seen':16}  {'where':26}  {'lang':7}  text  (likeliest)")
    for ms in ranked:
        last = datetime.fromtimestamp(ms[0].at).strftime("%Y-%m-%d %H:%M")
        states = Counter(m.state for m in ms).most_common(1)[0][0]
        guess = ", ".join(f"{i} {p:.2f}" for i, p in (ms[0].guess or [])[:2])
        print(f"{len(ms):5d}  {last:16}  {states:26}  {ms[0].locale:7}  {ms[0].text}  ({guess})")
    print(f"{len(kept)} misses, {len(groups)} different texts")
    return 0


def main_nlu(root: Path, argv: Sequence[str]) -> int:
    """Parses ``python -m bot nlu …`` and runs the sub-command."""
    from bot.engine.engine import LOAD_ERRORS

    parser = argparse.ArgumentParser(prog="python -m bot nlu", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    ev = sub.add_parser("eval", help="accuracy on a labelled file (default: the held-out set)")
    ev.add_argument("--file", type=Path, default=DEFAULT_EVAL)
    ev.add_argument("--misses", type=int, default=40, help="misses to list (default 40)")
    ms = sub.add_parser("misses", help="what the bot could not place, grouped and counted")
    ms.add_argument("--days", type=int, default=0, help="only the last N days (default: all)")
    ms.add_argument("--limit", type=int, default=100)
    ms.add_argument("--yaml", action="store_true", help="print example stubs to label")
    pa = sub.add_parser("parse", help="the frame of each TEXT, as JSON")
    pa.add_argument("texts", nargs="+", metavar="TEXT")
    pa.add_argument("--today", type=date.fromisoformat, default=None)
    sub.add_parser("train", help="train the model now and report its cost")
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        if args.what == "eval":
            return cmd_eval(root, args.file, args.misses)
        if args.what == "parse":
            return cmd_parse(root, args.texts, args.today or date.today())
        if args.what == "train":
            return cmd_train(root)
        return cmd_misses(args.days, args.limit, args.yaml)
    except LOAD_ERRORS as exc:
        return _fail(str(exc).splitlines()[0] if len(str(exc).splitlines()) == 1 else str(exc))
