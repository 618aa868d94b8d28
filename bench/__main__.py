"""``python -m bench <sub-command> [options]``: each sub-command prints its figure last."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

USAGE = """usage: python -m bench <sub-command> [options]   (add -h for a sub-command's options)

  engine        per-update engine cost over transcripts + random walks (median, p99)
  engine-scale  the same over generated flows of 10, 100, 1000 states
  store         SQLite load+commit, start-up and RSS with 10k/100k (--max 1000000) conversations
  memory        bytes per active conversation held in the process (tracemalloc)
  e2e           our bot vs a bare PTB echo bot over HTTP against the fake Bot API
  dates         our date parser vs dateparser on tests/nlu/dates.yaml
  nlu           understanding: per-message time, start-up and memory with and without it
  workers       1, 2, 4 webhook workers on PostgreSQL and one on SQLite at 50 ms (scale-out)
  all           engine, engine-scale, store, memory, e2e with their defaults
"""


def _engine(argv: Sequence[str]) -> str:
    from bench.engine import main as run

    return run(argv)


def _engine_scale(argv: Sequence[str]) -> str:
    from bench.engine import main as run

    return run(argv, scale=True)


def _store(argv: Sequence[str]) -> str:
    from bench.store import main as run

    return run(argv)


def _memory(argv: Sequence[str]) -> str:
    from bench.memory import main as run

    return run(argv)


def _e2e(argv: Sequence[str]) -> str:
    from bench.e2e import main as run

    return run(argv)


def _dates(argv: Sequence[str]) -> str:
    from bench.dates import main as run

    return run(argv)


def _nlu(argv: Sequence[str]) -> str:
    from bench.nlu import main as run

    return run(argv)


def _workers(argv: Sequence[str]) -> str:
    from bench.workers import main as run

    return run(argv)


COMMANDS: dict[str, Callable[[Sequence[str]], str]] = {
    "engine": _engine,
    "engine-scale": _engine_scale,
    "store": _store,
    "memory": _memory,
    "e2e": _e2e,
    "dates": _dates,
    "nlu": _nlu,
    "workers": _workers,
}


def main(argv: Sequence[str]) -> int:
    """Runs one sub-command (or all); prints each final line last."""
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, end="")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name == "all":
        lines = [COMMANDS[n]([]) for n in COMMANDS]
        for line in lines[:-1]:
            print(line)
        print(lines[-1])
        return 0
    if name not in COMMANDS:
        print(f"unknown sub-command {name!r}\n{USAGE}", end="", file=sys.stderr)
        return 2
    print(COMMANDS[name](rest), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
