"""Helpers the tests share: the shoppers' zone, times in it, a hand-moved clock, the project's
engine (loaded once per test session), the environment of a bot subprocess and the URL of a
PostgreSQL schema of the test's own.

Fixtures built on these are in ``tests/conftest.py``.
"""

from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from bot.config import policy_timezone
from bot.engine.engine import Engine

if TYPE_CHECKING:
    from tests.fakes.bot_api import FakeBotAPI

#: The repository root (flows/, locales/, config/).
ROOT = Path(__file__).resolve().parent.parent
#: The shoppers' time zone, as config/policy.yaml names it.
TZ = ZoneInfo(policy_timezone(ROOT))

_ENGINE: Engine | None = None


def at(day: str, hh: int = 12, mm: int = 0) -> datetime:
    """``day`` (ISO) at ``hh:mm`` in the shoppers' zone."""
    return datetime.combine(date.fromisoformat(day), time(hh, mm), TZ)


class Clock:
    """A clock the test moves by hand (``now = …``, :meth:`tick`); with ``step`` it also
    moves that much at every reading, so each update gets a later time."""

    def __init__(self, now: datetime, step: timedelta = timedelta(0)) -> None:
        self.now = now
        self.step = step

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now

    def tick(self, by: timedelta = timedelta(minutes=1)) -> None:
        """Moves the clock on."""
        self.now += by


def project_engine() -> Engine:
    """The engine of the project's flows and locales (loaded once per test session)."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = Engine.load(ROOT)
    return _ENGINE


def bot_env(bot_api: FakeBotAPI, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``python -m bot`` subprocess talking to the fake Bot API."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "BOT_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        TELEGRAM_BOT_TOKEN=bot_api.token,
        TELEGRAM_API_URL=bot_api.url,
        BOT_DATA_DIR=str(data_dir),
        LOG_LEVEL="INFO",
    )
    env.update(extra)
    return env


#: Why the PostgreSQL tests did not run (a skip, or a failure under ``REQUIRE_POSTGRES=1``).
PG_NEEDED = (
    "PostgreSQL tests need TEST_DATABASE_URL=postgresql://127.0.0.1:5432/test "
    "(a server with trust auth)"
)


def pg_schema_url(base: str, schema: str) -> str:
    """``base`` with libpq ``options`` that put ``schema`` first on the search path.

    ``pg_schema_url("postgresql://127.0.0.1:5432/test", "t_1")`` is
    ``postgresql://127.0.0.1:5432/test?options=-csearch_path%3Dt_1``; the store creates the
    schema when it opens that URL, so each test (or bot subprocess) gets empty tables of its
    own. Options already in ``base`` are kept.
    """
    parts = urlsplit(base)
    query = parse_qsl(parts.query, keep_blank_values=True)
    options = " ".join([v for k, v in query if k == "options"] + [f"-csearch_path={schema}"])
    query = [(k, v) for k, v in query if k != "options"] + [("options", options)]
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))
