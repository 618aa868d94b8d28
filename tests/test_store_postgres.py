"""What only the PostgreSQL store does (its share of the Store contract is in
tests/test_store_contract.py): migrations once under a lock, failing in one line without the
password, ``transaction()`` views, the durable queues' retention, and ``DATABASE_URL`` in the
settings and the health check.

Tests using ``pg_url`` need ``TEST_DATABASE_URL`` (skipped without; see tests/conftest.py); the
others run everywhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from bot.config import ConfigError, RedactingFormatter, load_settings
from bot.engine.model import Conversation
from bot.store.base import (
    Case,
    Changes,
    Evidence,
    LogEntry,
    StoreError,
    StoreUnavailable,
    UnknownCase,
    VersionConflict,
)
from bot.store.memory import MemoryStore
from bot.store.pg_migrations import MIGRATIONS, migrate, schema_version
from bot.store.pg_url import describe, redact, schema_of, secrets_of
from bot.store.postgres import PostgresStore
from bot.store.sqlite import SqliteStore, open_store
from tests.support import ROOT, pg_schema_url

PASSWORD = "s3cret-Pa55word"
#: Nothing listens on port 1: connecting is refused at once.
UNREACHABLE = f"postgresql://bot:{PASSWORD}@127.0.0.1:1/botdb"


@pytest.fixture
def pg(pg_url: str) -> Iterator[PostgresStore]:
    s = PostgresStore(pg_url)
    yield s
    s.close()


def raw(url: str) -> psycopg.Connection[tuple[object, ...]]:
    """A connection of the test's own (another session than the store's)."""
    return psycopg.connect(url, autocommit=True, connect_timeout=5)


def conv(chat_id: int = 1, state: str = "menu") -> Conversation:
    return Conversation(chat_id=chat_id, state=state)


# -- opening and migrating ------------------------------------------------------------------


def test_four_processes_opening_a_fresh_schema_at_once_migrate_it_once(pg_url: str) -> None:
    start = threading.Barrier(4)
    errors: list[BaseException] = []
    applied: list[int] = []

    def open_one() -> None:
        try:
            with raw(pg_url) as conn:
                start.wait()
                applied.append(migrate(conn, schema=schema_of(pg_url)))
            PostgresStore(pg_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(applied) == len(MIGRATIONS)  # every step ran in exactly one of them
    with raw(pg_url) as conn:
        assert schema_version(conn) == len(MIGRATIONS)
        assert conn.execute("SELECT count(*) FROM schema_version").fetchone() == (1,)


def test_stores_opened_at_once_on_a_fresh_schema_all_work(pg_url: str) -> None:
    start = threading.Barrier(4)
    stores: list[PostgresStore] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def open_one() -> None:
        start.wait()
        try:
            s = PostgresStore(pg_url)
        except BaseException as exc:
            errors.append(exc)
            return
        with lock:
            stores.append(s)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        ids = {s.next_case_id("C-1") for s in stores}
        assert ids == {f"C-1-{n:04d}" for n in range(1, 5)}
    finally:
        for s in stores:
            s.close()
    with raw(pg_url) as conn:
        assert schema_version(conn) == len(MIGRATIONS)


def test_a_database_of_a_newer_bot_is_refused_in_one_line(pg_url: str) -> None:
    PostgresStore(pg_url).close()
    with raw(pg_url) as conn:
        conn.execute("UPDATE schema_version SET version = %s", (len(MIGRATIONS) + 1,))
    with pytest.raises(StoreError) as err:
        PostgresStore(pg_url)
    message = str(err.value)
    assert "newer" in message and str(len(MIGRATIONS) + 1) in message
    assert len(message.splitlines()) == 1


def test_reopening_applies_nothing_and_keeps_the_data(pg_url: str) -> None:
    first = PostgresStore(pg_url)
    first.commit(Changes(conversation=conv(5), expected_version=0))
    first.close()
    with raw(pg_url) as conn:
        assert migrate(conn, schema=schema_of(pg_url)) == 0
    again = PostgresStore(pg_url)
    try:
        loaded = again.load(5)
        assert loaded is not None and loaded.version == 1
    finally:
        again.close()


def test_an_unreachable_server_fails_fast_in_one_line_without_the_password() -> None:
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as err:
        PostgresStore(UNREACHABLE)
    assert time.monotonic() - started < 5.0
    message = str(err.value)
    assert len(message.splitlines()) == 1
    assert "postgresql://127.0.0.1:1/botdb" in message
    assert PASSWORD not in message and "bot:" not in message
    # the driver's exception is not chained: libpq may quote the connection string
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_open_store_picks_the_backend_from_the_url(tmp_path: Path) -> None:
    assert isinstance(open_store(None), MemoryStore)
    sqlite = open_store(tmp_path, database_url=None)
    assert isinstance(sqlite, SqliteStore)
    sqlite.close()
    with pytest.raises(StoreUnavailable):
        open_store(tmp_path, database_url=UNREACHABLE)
    with pytest.raises(StoreError) as err:
        open_store(tmp_path, database_url=f"mysql://bot:{PASSWORD}@127.0.0.1/botdb")
    assert PASSWORD not in str(err.value)


def test_open_store_with_a_url_gives_the_postgres_store(pg_url: str, tmp_path: Path) -> None:
    s = open_store(tmp_path, database_url=pg_url)
    try:
        assert isinstance(s, PostgresStore) and s.count_conversations() == 0
    finally:
        s.close()
    assert not (tmp_path / "bot.sqlite3").exists()


def test_sqlite_users_never_import_psycopg(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; import bot.config, bot.store.sqlite as s; "
        f"s.open_store(Path({str(tmp_path)!r})).close(); "
        "bot.config.load_settings({}); "
        "sys.exit(any(m.split('.')[0] in ('psycopg', 'psycopg_pool') for m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_only_the_postgres_store_is_remote() -> None:
    assert PostgresStore.remote is True
    assert not hasattr(SqliteStore, "remote") and not hasattr(MemoryStore, "remote")


def test_other_database_errors_are_store_errors_in_one_line(pg: PostgresStore, pg_url: str) -> None:
    with raw(pg_url) as conn:
        conn.execute("DROP TABLE conversations")
    with pytest.raises(StoreError) as err:
        pg.load(1)
    assert type(err.value) is StoreError
    assert len(str(err.value).splitlines()) == 1 and "conversations" in str(err.value)


# -- transaction() views --------------------------------------------------------------------


def test_a_transaction_commits_everything_when_the_block_ends(pg: PostgresStore) -> None:
    with pg.transaction() as tx:
        c = conv(1)
        tx.commit(Changes(conversation=c, expected_version=0, cases=[_case("C-1-0001")]))
        tx.set_chat_flag(1, "reminders_consent", False)
        tx.conn.execute(
            "INSERT INTO inbox (update_id, chat_id, body, received_at) VALUES (7, 1, '{}', 1.0)"
        )
        assert c.version == 1  # reflected at once, as after SQLite's COMMIT
    loaded = pg.load(1)
    assert loaded is not None and loaded.version == 1
    assert pg.get_case("C-1-0001") is not None
    assert pg.chat_flags(1)["reminders_consent"] is False
    with pg.transaction() as tx:
        assert tx.conn.execute("SELECT count(*) FROM inbox").fetchone() == (1,)


def test_a_transaction_rolls_everything_back_on_an_exception(pg: PostgresStore) -> None:
    with pytest.raises(RuntimeError), pg.transaction() as tx:
        tx.commit(Changes(conversation=conv(1), expected_version=0, cases=[_case("C-1-0001")]))
        tx.next_case_id("C-1")
        tx.set_chat_flag(1, "blocked", True)
        tx.conn.execute(
            "INSERT INTO inbox (update_id, chat_id, body, received_at) VALUES (7, 1, '{}', 1.0)"
        )
        raise RuntimeError("the update failed half-way")
    assert pg.load(1) is None
    assert pg.get_case("C-1-0001") is None
    assert pg.chat_flags(1)["blocked"] is False
    assert pg.next_case_id("C-1") == "C-1-0001"
    with pg.transaction() as tx:
        assert tx.conn.execute("SELECT count(*) FROM inbox").fetchone() == (0,)


def test_a_view_sees_its_own_writes_and_nobody_else_does(pg: PostgresStore, pg_url: str) -> None:
    with pg.transaction() as tx:
        tx.commit(Changes(conversation=conv(1), expected_version=0))
        tx.set_chat_flag(1, "language", "en")
        loaded = tx.load(1)
        assert loaded is not None and loaded.version == 1
        assert tx.chat_flags(1)["language"] == "en"
        assert tx.count_conversations() == 1
        # the store itself (another pooled connection) and another session see nothing yet
        assert pg.load(1) is None and pg.count_conversations() == 0
        with raw(pg_url) as other:
            assert other.execute("SELECT count(*) FROM conversations").fetchone() == (0,)
    assert pg.count_conversations() == 1


def test_transaction_on_a_view_is_the_same_view(pg: PostgresStore) -> None:
    with pg.transaction() as tx, tx.transaction() as inner:
        assert inner is tx
        inner.commit(Changes(conversation=conv(1), expected_version=0))
        tx.close()  # a view leaves the pool to its store
        assert tx.conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    assert pg.count_conversations() == 1
    with pytest.raises(RuntimeError):
        _ = pg.conn


def test_a_conflict_in_a_view_undoes_only_that_commit(pg: PostgresStore) -> None:
    pg.commit(Changes(conversation=conv(1), expected_version=0))
    with pg.transaction() as tx:
        stale = conv(1, "stale")
        with pytest.raises(VersionConflict):
            tx.commit(
                Changes(
                    conversation=stale,
                    expected_version=0,
                    log=[LogEntry(1, 1.0, "text", "menu", "stale")],
                )
            )
        assert stale.version == 0 and tx.log_of(1) == []
        # the transaction goes on: reload and apply again, as the service does
        fresh = tx.load(1)
        assert fresh is not None
        fresh.state = "fresh"
        tx.commit(Changes(conversation=fresh, expected_version=fresh.version))
        with pytest.raises(UnknownCase):
            tx.commit(Changes(evidence=[Evidence("C-404", "photo", "f", 1.0)]))
        tx.commit(Changes(log=[LogEntry(1, 2.0, "text", "menu", "fresh")]))
    loaded = pg.load(1)
    assert loaded is not None and (loaded.state, loaded.version) == ("fresh", 2)
    assert [e.state_after for e in pg.log_of(1)] == ["fresh"]


def test_a_database_error_in_the_block_is_a_store_error(pg: PostgresStore) -> None:
    with pytest.raises(StoreError) as err, pg.transaction() as tx:
        tx.conn.execute("SELECT * FROM no_such_table")
    assert len(str(err.value).splitlines()) == 1
    assert isinstance(err.value.__cause__, psycopg.errors.UndefinedTable)


def test_views_of_two_threads_hold_their_own_connections(pg: PostgresStore) -> None:
    inside = threading.Barrier(2)
    seen: list[int] = []

    def worker(chat: int) -> None:
        with pg.transaction() as tx:
            tx.commit(Changes(conversation=conv(chat), expected_version=0))
            inside.wait()  # both transactions open at once
            seen.append(tx.count_conversations())
            inside.wait()  # neither commits before both have counted

    threads = [threading.Thread(target=worker, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [1, 1] and pg.count_conversations() == 2


# -- the durable queues ---------------------------------------------------------------------


def _case(case_id: str, chat_id: int = 1) -> Case:
    return Case(case_id, chat_id, "open", 1.0, 1.0, {"order_no": "P1"}, [])


def _queue_rows(pg: PostgresStore) -> None:
    with pg.transaction() as tx:
        for update_id, chat, status, done_at in [
            (1, 7, "done", 10.0),
            (2, 7, "done", 90.0),
            (3, 7, "pending", None),
            (4, 8, "done", 10.0),
        ]:
            tx.conn.execute(
                "INSERT INTO inbox (update_id, chat_id, body, received_at, status, done_at) "
                "VALUES (%s, %s, '{}', 1.0, %s, %s)",
                (update_id, chat, status, done_at),
            )
        for chat, status, created in [
            (7, "sent", 10.0),
            (7, "failed", 10.0),
            (7, "pending", 10.0),
            (7, "sent", 90.0),
            (8, "sent", 10.0),
        ]:
            tx.conn.execute(
                "INSERT INTO sends (chat_id, method, params, created_at, status) "
                "VALUES (%s, 'sendMessage', '{}', %s, %s)",
                (chat, created, status),
            )


def _count(pg: PostgresStore, table: str, chat: int) -> int:
    with pg.transaction() as tx:
        row = tx.conn.execute(f"SELECT count(*) FROM {table} WHERE chat_id = %s", (chat,))
        return int(row.fetchone()[0])  # type: ignore[index]


def test_prune_finished_also_prunes_the_queues(pg: PostgresStore) -> None:
    _queue_rows(pg)
    counts = pg.prune_finished(before=50.0)
    assert counts == {"reminders": 0, "outbox": 0, "misses": 0, "inbox": 2, "sends": 3}
    assert (_count(pg, "inbox", 7), _count(pg, "sends", 7)) == (2, 2)  # pending and newer stay
    assert pg.prune_finished(before=50.0)["inbox"] == 0


def test_forget_also_deletes_the_chats_handled_queue_rows(pg: PostgresStore) -> None:
    _queue_rows(pg)
    counts = pg.forget(7)
    # What is still on its way (an update typed after /forget, a reply queued) stays.
    assert (counts["inbox"], counts["sends"]) == (2, 3)
    assert (_count(pg, "inbox", 7), _count(pg, "sends", 7)) == (1, 1)
    assert (_count(pg, "inbox", 8), _count(pg, "sends", 8)) == (1, 1)
    done = Changes(forget_chat=8)
    pg.commit(done)
    assert (done.forgotten["inbox"], done.forgotten["sends"]) == (1, 1)


def test_a_nul_in_a_shoppers_message_does_not_fail_the_commit(pg: PostgresStore) -> None:
    from bot.store.base import Miss

    pg.commit(Changes(misses=[Miss(1, 1.0, "a\x00b", "menu", "en")]))
    assert [m.text for m in pg.misses()] == ["a\ufffdb"]


# -- URLs, settings and health --------------------------------------------------------------


def test_urls_are_shown_without_user_or_password() -> None:
    url = f"postgresql://bot:{PASSWORD}@db.internal:6543/bot?sslmode=require"
    assert describe(url) == "postgresql://db.internal:6543/bot"
    assert describe("postgres://127.0.0.1/test") == "postgresql://127.0.0.1:5432/test"
    assert describe("postgresql:///bot?host=/run/pg&port=5433") == "postgresql:///run/pg:5433/bot"
    assert redact(url) == "postgresql://bot:***@db.internal:6543/bot?sslmode=require"
    assert redact(f"postgresql://h/db?password={PASSWORD}&x=1") == (
        "postgresql://h/db?password=***&x=1"
    )
    assert PASSWORD in secrets_of(url) and secrets_of("postgresql://h/db") == ()


def test_the_search_path_schema_is_read_from_the_options() -> None:
    assert schema_of(pg_schema_url("postgresql://127.0.0.1:5432/test", "t_abc")) == "t_abc"
    assert pg_schema_url("postgresql://127.0.0.1:5432/test", "t_abc") == (
        "postgresql://127.0.0.1:5432/test?options=-csearch_path%3Dt_abc"
    )
    assert schema_of("postgresql://h/db?options=-c%20search_path%3D%22Mixed%22,public") == "Mixed"
    assert schema_of("postgresql://h/db?options=--search_path%3DUpper") == "upper"
    assert schema_of("postgresql://h/db?options=-c%20statement_timeout%3D5s") is None
    assert schema_of("postgresql://h/db") is None


def test_database_url_must_be_a_postgresql_url_and_its_password_stays_hidden() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({"DATABASE_URL": f"mysql://bot:{PASSWORD}@127.0.0.1/bot"})
    assert (
        str(err.value)
        == "DATABASE_URL must be a postgresql:// URL, got 'mysql://bot:***@127.0.0.1/bot'"
    )
    for scheme in ("postgresql", "postgres"):
        url = f"{scheme}://bot:{PASSWORD}@127.0.0.1:5432/bot"
        s = load_settings({"DATABASE_URL": url})
        assert s.database_url == url
        assert PASSWORD not in repr(s)
        assert PASSWORD not in s.redact(f"cannot use {url}; password was {PASSWORD}")
    assert load_settings({}).database_url is None


def test_log_lines_never_show_the_database_password() -> None:
    import logging

    settings = load_settings({"DATABASE_URL": f"postgresql://bot:{PASSWORD}@127.0.0.1/bot"})
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "url %s", (settings.database_url,), None
    )
    assert PASSWORD not in RedactingFormatter(settings).format(record)


def _health(tmp_path: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "BOT_"))}
    env.update(PYTHONPATH=str(ROOT), DATABASE_URL=database_url, BOT_DATA_DIR=str(tmp_path))
    return subprocess.run(
        [sys.executable, "-m", "bot", "health"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_health_checks_the_database(pg_url: str, tmp_path: Path) -> None:
    store = PostgresStore(pg_url)
    store.commit(Changes(conversation=conv(1), expected_version=0))
    store.close()
    done = _health(tmp_path, pg_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"ok: database {describe(pg_url)} (1 conversations); no token (console mode)"
    )


def test_health_names_an_unreachable_database_in_one_line_without_the_password(
    tmp_path: Path,
) -> None:
    done = _health(tmp_path, UNREACHABLE)
    assert done.returncode == 1
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("unhealthy: database postgresql://127.0.0.1:1/botdb: ")
    assert PASSWORD not in done.stdout + done.stderr
