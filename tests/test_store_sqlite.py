"""SQLite-specific guarantees: schema migrations, WAL, durability and clear errors (B3)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bot.engine.model import Conversation
from bot.store.base import (
    Case,
    Changes,
    Evidence,
    Reminder,
    StoreError,
    StoreUnavailable,
    VersionConflict,
)
from bot.store.memory import MemoryStore
from bot.store.migrations import MIGRATIONS, SCHEMA_VERSION, migrate, schema_version
from bot.store.sqlite import DB_NAME, SqliteStore, open_store

TABLES = {
    "conversations",
    "cases",
    "evidence",
    "event_log",
    "reminders",
    "outbox",
    "chats",
    "case_counters",
}


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    conn.close()
    return {r[0] for r in rows}


def test_open_creates_file_and_schema_from_nothing(tmp_path: Path) -> None:
    data = tmp_path / "nested" / "data"
    store = SqliteStore.open(data)
    store.close()
    db = data / DB_NAME
    assert db.is_file()
    assert tables(db) >= TABLES
    conn = sqlite3.connect(db)
    assert schema_version(conn) == SCHEMA_VERSION == len(MIGRATIONS)
    conn.close()


def test_reopen_applies_no_migration_and_keeps_data(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path)
    c = Conversation(chat_id=5, state="return.ask_date", slots={"signed_on": "2026-11-20"}, step=4)
    store.commit(
        Changes(
            conversation=c,
            expected_version=0,
            cases=[Case("C-2611-0001", 5, "open", 1.0, 1.0, {"reason": "quality"})],
            evidence=[Evidence("C-2611-0001", "photo", "AgAD", 1.0)],
            reminders_add=[Reminder(None, 5, "nudge", 50.0, {"step": 4})],
        )
    )
    assert store.next_case_id("C-2611") == "C-2611-0001"
    store.set_chat_flag(5, "reminders_consent", False)
    store.close()
    store.close()  # idempotent

    conn = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    assert migrate(conn) == 0
    conn.close()

    again = SqliteStore.open(tmp_path)
    assert again.load(5) == c
    assert [e.file_id for e in again.evidence_of("C-2611-0001")] == ["AgAD"]
    assert [r.payload for r in again.pending_reminders(5)] == [{"step": 4}]
    assert again.next_case_id("C-2611") == "C-2611-0002"
    assert again.chat_flags(5)["reminders_consent"] is False
    again.close()


def test_migration_steps_apply_in_order_and_a_failing_step_rolls_back(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.sqlite3", isolation_level=None)
    steps = [*MIGRATIONS, ["CREATE TABLE extra (x INTEGER)", "INSERT INTO extra VALUES (1)"]]
    assert migrate(conn, steps) == len(steps)
    assert schema_version(conn) == len(steps)
    broken = [*steps, ["CREATE TABLE more (y INTEGER)", "INSERT INTO nowhere VALUES (1)"]]
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, broken)
    assert schema_version(conn) == len(steps)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master").fetchall()}
    assert "extra" in names and "more" not in names
    assert not conn.in_transaction
    conn.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    SqliteStore.open(tmp_path).close()
    conn = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        SqliteStore.open(tmp_path)


def test_wal_foreign_keys_and_synchronous_normal(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path)
    conn = store._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    store.close()
    # WAL is a property of the file: a fresh connection sees it too.
    other = sqlite3.connect(tmp_path / DB_NAME)
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other.close()


def test_integrity_check_ok_after_writes(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path)
    for i in range(1, 50):
        store.commit(Changes(conversation=Conversation(i, "menu"), expected_version=0))
    store.forget(3)
    assert store.integrity_check() == "ok"
    store.close()


def test_queries_use_indexes_not_scans(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path)
    conn = store._conn
    hot = [
        ("SELECT data, version FROM conversations WHERE chat_id = ?", (1,)),
        ("SELECT id FROM reminders WHERE status = 'pending' AND due <= ? ORDER BY due", (1.0,)),
        ("SELECT id FROM outbox WHERE status = 'pending' AND next_at <= ? ORDER BY next_at", (1,)),
        ("SELECT id FROM event_log WHERE chat_id = ? ORDER BY id DESC", (1,)),
        ("SELECT case_id FROM cases WHERE chat_id = ?", (1,)),
        ("SELECT id FROM evidence WHERE case_id = ?", ("C-1",)),
    ]
    for sql, args in hot:
        plan = " ".join(str(r[-1]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql, args))
        assert "SCAN" not in plan, (sql, plan)
    store.close()


def test_two_connections_conflict_instead_of_overwriting(tmp_path: Path) -> None:
    a = SqliteStore.open(tmp_path)
    b = SqliteStore.open(tmp_path)
    a.commit(Changes(conversation=Conversation(1, "menu"), expected_version=0))
    ca, cb = a.load(1), b.load(1)
    assert ca is not None and cb is not None
    a.commit(Changes(conversation=ca, expected_version=ca.version))
    with pytest.raises(VersionConflict):
        b.commit(Changes(conversation=cb, expected_version=cb.version))
    a.close()
    b.close()


def test_case_ids_unique_across_connections(tmp_path: Path) -> None:
    stores = [SqliteStore.open(tmp_path) for _ in range(3)]
    ids: list[str] = []
    lock = threading.Lock()

    def worker(s: SqliteStore) -> None:
        for _ in range(20):
            new = s.next_case_id("C-2611")
            with lock:
                ids.append(new)

    threads = [threading.Thread(target=worker, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(ids) == [f"C-2611-{n:04d}" for n in range(1, 61)]
    for s in stores:
        s.close()


KILL_SCRIPT = """
import os, signal, sys
from pathlib import Path
from bot.engine.model import Conversation
from bot.store.base import Changes
from bot.store.sqlite import SqliteStore
store = SqliteStore.open(Path(sys.argv[1]))
store.commit(Changes(conversation=Conversation(9, "refuse.inspect", step=3), expected_version=0))
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_committed_update_survives_kill_9(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(tmp_path)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        check=False,
    )
    assert proc.returncode == -9, proc.stderr
    store = SqliteStore.open(tmp_path)
    loaded = store.load(9)
    assert loaded is not None and (loaded.state, loaded.step, loaded.version) == (
        "refuse.inspect",
        3,
        1,
    )
    assert store.integrity_check() == "ok"
    store.close()


# -- clear errors ---------------------------------------------------------------------------


def assert_one_line_naming(exc: BaseException, path: Path) -> None:
    message = str(exc)
    assert "\n" not in message
    assert str(path) in message
    assert "Traceback" not in message


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_data_dir_is_unavailable(tmp_path: Path) -> None:
    data = tmp_path / "ro"
    data.mkdir()
    data.chmod(0o555)
    try:
        with pytest.raises(StoreUnavailable) as info:
            SqliteStore.open(data)
    finally:
        data.chmod(0o755)
    assert_one_line_naming(info.value, data)


def test_read_only_store_refuses_writes_with_clear_message(tmp_path: Path) -> None:
    SqliteStore.open(tmp_path).close()
    db = tmp_path / DB_NAME
    store = SqliteStore(db, read_only=True)
    assert store.load(1) is None
    with pytest.raises(StoreUnavailable, match="read-only") as info:
        store.commit(Changes(conversation=Conversation(1, "menu"), expected_version=0))
    assert_one_line_naming(info.value, db)
    store.close()


def test_data_dir_that_is_a_file_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreUnavailable) as info:
        SqliteStore.open(blocker / "data")
    assert_one_line_naming(info.value, blocker / "data")


def test_database_path_that_is_a_directory_cannot_be_opened(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).mkdir()
    with pytest.raises(StoreUnavailable, match="cannot open") as info:
        SqliteStore.open(tmp_path)
    assert_one_line_naming(info.value, tmp_path / DB_NAME)


def test_disk_full_is_unavailable_and_writes_nothing(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path)
    store.commit(Changes(conversation=Conversation(1, "menu"), expected_version=0))
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages}")
    big = Conversation(2, "menu", slots={"blob": "x" * 200_000})
    with pytest.raises(StoreUnavailable, match="full") as info:
        store.commit(Changes(conversation=big, expected_version=0))
    assert_one_line_naming(info.value, tmp_path / DB_NAME)
    assert big.version == 0
    assert store.load(2) is None
    loaded = store.load(1)
    assert loaded is not None and loaded.version == 1
    store.close()


def test_garbage_file_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreUnavailable, match="not a usable") as info:
        SqliteStore.open(tmp_path)
    assert_one_line_naming(info.value, tmp_path / DB_NAME)


def test_open_store_picks_backend(tmp_path: Path) -> None:
    assert isinstance(open_store(None), MemoryStore)
    store = open_store(tmp_path)
    assert isinstance(store, SqliteStore)
    store.close()
