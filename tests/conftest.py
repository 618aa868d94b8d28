"""Shared pytest fixtures (plain helpers: tests/support.py). Each owner keeps a marked section."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.engine.engine import Engine
from bot.store.sqlite import SqliteStore
from tests.fakes.bot_api import FakeBotAPI
from tests.support import project_engine

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
