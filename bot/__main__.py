"""Command line: ``python -m bot [console|run|webhook|check|health|cases|case|graph|purge]``.

With no sub-command the bot runs on Telegram when a token is configured, and otherwise starts
the console chat (saying so in one line), so a newcomer can try it with no account.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import Settings

#: Where flows/, locales/ and config/ live (the repository root).
ROOT = Path(__file__).resolve().parent.parent


def _fail(message: str) -> int:
    sys.stderr.write(f"error: {message}\n")
    return 2


def cmd_check(root: Path) -> int:
    """Validates flows, locales and policy; prints every problem; non-zero on any."""
    from bot.engine.engine import LOAD_ERRORS, Engine
    from bot.nlu.data import load_training

    try:
        engine = Engine.load(root)
        data = load_training(root) if engine.nlu is not None else None
    except LOAD_ERRORS as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    b = engine.bundle
    understood = (
        f", {len(data.examples)} examples for {len(data.labels.intents)} intents" if data else ""
    )
    print(
        f"ok: {len(b.states)} states in {len(b.covers)} flows, "
        f"locales {', '.join(sorted(b.locales))}{understood}"
    )
    return 0


def _settings() -> Settings:
    from bot.config import load_settings

    env_file = Path(".env")
    return load_settings(os.environ, env_file if env_file.exists() else None)


def cmd_console(root: Path, data_dir: Path | None) -> int:
    """Starts the console chat over the same engine and service as Telegram."""
    from bot.chats import zone_clock
    from bot.console import main
    from bot.engine.engine import LOAD_ERRORS, Engine
    from bot.service import Service
    from bot.store.sqlite import open_store

    try:
        engine = Engine.load(root)
    except LOAD_ERRORS as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    clock = zone_clock(engine.tz)
    store = open_store(data_dir)
    try:
        return main(Service(engine, store, clock), engine, clock)
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    """Parses the command line and runs the sub-command."""
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="folder with flows/ and locales/")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("check", help="validate flows, locales and policy numbers")
    console = sub.add_parser("console", help="chat in the terminal (reads a pipe too)")
    console.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="keep the conversation in SQLite here (default: in memory)",
    )
    sub.add_parser("run", help="run on Telegram with long polling")
    sub.add_parser("webhook", help="run on Telegram behind a webhook")
    sub.add_parser("health", help="check the store and the Bot API; exit 0 when healthy")
    # `cases` and `case` parse their own options (bot/cli_cases.py).
    sub.add_parser("cases", help="list or export cases (--status, --since, --format)")
    sub.add_parser("case", help="show one case with its timeline (ID)")
    sub.add_parser("purge", help="delete closed cases older than RETENTION_DAYS (default 180)")
    graph = sub.add_parser("graph", help="draw the flows (mermaid, svg or png)")
    graph.add_argument("flow", nargs="?", default=None, help="one flow (default: the overview)")
    graph.add_argument("--format", default="mermaid", choices=("mermaid", "svg", "png"))
    graph.add_argument("--out", type=Path, default=None, help="write to a file (default: stdout)")
    # `nlu` parses its own options (bot/cli_nlu.py).
    sub.add_parser(
        "nlu", add_help=False, help="the understanding step: eval, misses, parse, train (-h)"
    )
    args, extra = parser.parse_known_args(argv)
    if args.command == "nlu":
        from bot.cli_nlu import main_nlu

        return main_nlu(args.root, extra)
    if extra and args.command not in ("cases", "case"):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")

    if args.command == "check":
        return cmd_check(args.root)
    if args.command == "console":
        return cmd_console(args.root, args.data_dir)
    if args.command == "graph":
        from bot.graph import main_graph

        return main_graph(args.root, args.flow, args.format, args.out)

    from bot.config import ConfigError

    try:
        settings = _settings()
    except ConfigError as exc:
        return _fail(str(exc))
    if args.command is None and not settings.has_token:
        sys.stderr.write("TELEGRAM_BOT_TOKEN is not set: starting the console chat instead.\n")
        return cmd_console(args.root, None)
    import bot.tg.app as app

    if args.command in ("cases", "case"):
        from bot.cli_cases import main_case, main_cases

        run = main_cases if args.command == "cases" else main_case
        return run(extra, settings)
    if args.command == "purge":
        from bot.privacy import main_purge

        return main_purge(settings)
    if args.command == "webhook":
        return app.main_webhook(settings)
    if args.command == "health":
        return app.health(settings)
    return app.main_run(settings)


if __name__ == "__main__":
    sys.exit(main())
