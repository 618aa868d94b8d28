"""Shared pytest fixtures (plain helpers: tests/support.py). Each owner keeps a marked section."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.engine.engine import Engine
from bot.store.sqlite import SqliteStore
from tests.fakes.bot_api import FakeBotAPI
from tests.support import PG_NEEDED, pg_schema_url, project_engine

# ==== fake Telegram Bot API (owner: fake Bot API server; tests/fakes/bot_api.py) ============

# PTB 22.x warns (DeprecationWarning -> error under filterwarnings=error) whenever a RetryAfter
# is built unless this opt-in is set; with it, RetryAfter.retry_after is a datetime.timedelta.
os.environ.setdefault("PTB_TIMEDELTA", "1")


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotAPI]:
    """A started strict fake Bot API on 127.0.0.1:<random port>.

    Fails the test at teardown if any violation was recorded and not expected (use
    ``bot_api.expect_violation("...")`` or ``bot_api.violations.clear()`` in tests that
    provoke violations on purpose). API: see the docstring of ``tests/fakes/bot_api.py``.
    """
    server = FakeBotAPI()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
    try:
        server.assert_no_violations()
    except AssertionError as err:
        pytest.fail(str(err), pytrace=False)


# ==== end of fake Telegram Bot API section ===================================================


# ==== shared fixtures (plain helpers: tests/support.py) ======================================


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The engine of the project's flows and locales (a test module may override it, e.g. with
    a fixture's flows)."""
    return project_engine()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    """A fresh SQLite store in the test's temporary directory, closed afterwards."""
    s = SqliteStore(tmp_path / "bot.sqlite3")
    yield s
    s.close()


# ==== end of shared fixtures section =========================================================


# ==== PostgreSQL (owner: PostgreSQL store; bot/store/postgres.py) ============================


@pytest.fixture(scope="session")
def pg_server() -> str:
    """``TEST_DATABASE_URL``, once the server answered (asked once per session).

    Without it, or when the server cannot be reached, every test using it is skipped with one
    line saying what it needs, or fails with that line under ``REQUIRE_POSTGRES=1`` (CI).
    """
    import psycopg

    base = os.environ.get("TEST_DATABASE_URL", "").strip()
    problem = "" if base else "TEST_DATABASE_URL is not set"
    if base:
        try:
            psycopg.connect(base, connect_timeout=5).close()
        except psycopg.Error as exc:
            problem = " ".join(str(exc).split())
    if problem:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{PG_NEEDED}: {problem}", pytrace=False)
        pytest.skip(PG_NEEDED)
    return base


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A URL of ``TEST_DATABASE_URL`` whose search path is a fresh schema (``t_<random>``),
    which the store creates when it opens; dropped with everything in it afterwards."""
    import psycopg
    from psycopg import sql

    schema = f"t_{secrets.token_hex(6)}"
    yield pg_schema_url(pg_server, schema)
    with psycopg.connect(pg_server, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


# ==== end of PostgreSQL section ===============================================================
