"""SQLite :class:`~bot.store.base.Store` — the default backend.

One file, ``<data dir>/bot.sqlite3``, one connection (guarded by a lock, so the store may be
called from worker threads), autocommit mode with explicit ``BEGIN IMMEDIATE … COMMIT``.

Durability: WAL journal with ``synchronous=NORMAL`` — a committed update survives a crash or
``kill -9`` of the process; on power loss the last few commits may be lost, never corrupted.

The module is split by what it does (issue 13, no module over 500 lines). Here: the store
class (connection, lock, transactions, the queries) and :func:`open_store`, which also opens
the PostgreSQL store (:mod:`bot.store.postgres`) when a ``DATABASE_URL`` is set. Opening the file
and translating SQLite's errors live in :mod:`bot.store.factory`. The schema and its migrations
live in :mod:`bot.store.migrations`, and the rows one :meth:`SqliteStore.commit` writes live in
:mod:`bot.store.writes`.

Bounded growth:

- the event log keeps the newest :data:`~bot.store.base.LOG_KEEP_PER_CHAT` entries per chat,
  pruned in the same transaction that writes new entries (one index range delete);
- :meth:`SqliteStore.purge_closed_cases` removes old finished cases and their evidence;
- :meth:`SqliteStore.prune_finished` removes old sent/cancelled reminders and done outbox items.

SQLite errors that mean "the data directory cannot be used" (disk full, read-only, cannot
open, I/O error, locked, not a database) become :class:`~bot.store.base.StoreUnavailable` with
a one-line message naming the file; other SQLite errors become
:class:`~bot.store.base.StoreError` (:func:`bot.store.factory.translate`).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import Any

from bot.store.base import (
    CASE_DONE,
    Changes,
    Store,
    StoreError,
)
from bot.store.factory import DB_NAME as DB_NAME  # re-exported: tests and bench name the file
from bot.store.factory import connect, data_file, translate
from bot.store.memory import MemoryStore
from bot.store.pg_url import is_postgres_url, redact
from bot.store.sql import SqlStore
from bot.store.writes import forget, set_flag, write_changes


def open_store(
    data_dir: Path | None, *, database_url: str | None = None, pool_size: int = 8
) -> Store:
    """Returns the store the settings name: PostgreSQL if ``database_url`` is set, else the
    SQLite store in ``data_dir`` (created if missing); ``None`` → a memory store.

    psycopg is imported only when a ``database_url`` is given (SQLite users never load it).
    Raises :class:`StoreUnavailable` with a one-line message if the directory or the database
    cannot be used, :class:`StoreError` if ``database_url`` is not a PostgreSQL URL.
    ``pool_size`` is the most PostgreSQL connections the process keeps.
    """
    if database_url:
        if not is_postgres_url(database_url):
            raise StoreError(f"not a postgresql:// URL: {redact(database_url)!r}")
        from bot.store.postgres import PostgresStore

        return PostgresStore(database_url, max_size=pool_size)
    if data_dir is None:
        return MemoryStore()
    return SqliteStore.open(data_dir)


class SqliteStore(SqlStore):
    """Conversations, cases, evidence, event log, reminders, outbox and chat flags in SQLite."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        """Opens (creating and migrating unless ``read_only``) the database file at ``path``."""
        self.path = Path(path)
        self._lock = threading.RLock()
        self._closed = False
        self._conn = connect(self.path, read_only=read_only)

    @classmethod
    def open(cls, data_dir: Path) -> SqliteStore:
        """Opens ``data_dir/bot.sqlite3``, creating the directory and the schema as needed."""
        return cls(data_file(data_dir))

    # -- plumbing -----------------------------------------------------------------------------

    def _translate(self, exc: sqlite3.Error) -> StoreError:
        return translate(self.path, exc)

    @contextmanager
    def _guard(self) -> Iterator[sqlite3.Connection]:
        """Serialises access and translates SQLite errors."""
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise self._translate(exc) from exc

    def _read(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._guard()

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._tx()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: ``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error."""
        with self._guard() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise

    # -- conversations ------------------------------------------------------------------------

    def commit(self, changes: Changes) -> None:
        """Writes ``changes`` in one transaction; sets the new version on the conversation."""
        now = time.time()
        with self._tx() as conn:
            written = write_changes(conn, changes, now)
        written.reflect(changes, now)

    # -- chats --------------------------------------------------------------------------------

    def set_chat_flag(self, chat_id: int, name: str, value: Any) -> None:
        """Sets one chat flag (known flags are columns, others live in a JSON column)."""
        with self._tx() as conn:
            set_flag(conn, chat_id, name, value)

    # -- privacy and retention ------------------------------------------------------------------

    def forget(self, chat_id: int) -> dict[str, int]:
        """Deletes the chat's personal data in one transaction; returns counts."""
        with self._tx() as conn:
            return forget(conn, chat_id)

    def purge_closed_cases(self, before: float) -> int:
        """Deletes closed/resolved cases (evidence by cascade) last updated before ``before``."""
        marks = ", ".join("?" for _ in CASE_DONE)
        with self._tx() as conn:
            cur = conn.execute(
                f"DELETE FROM cases WHERE status IN ({marks}) AND updated_at < ?",
                (*sorted(CASE_DONE), before),
            )
            return cur.rowcount

    def prune_finished(self, before: float) -> dict[str, int]:
        """Deletes non-pending reminders due before ``before`` and done outbox items.

        Outbox items have no timestamp of completion, so every ``done`` item goes.
        """
        with self._tx() as conn:
            reminders = conn.execute(
                "DELETE FROM reminders WHERE status != 'pending' AND due < ?", (before,)
            ).rowcount
            outbox = conn.execute("DELETE FROM outbox WHERE status = 'done'").rowcount
            misses = conn.execute("DELETE FROM nlu_misses WHERE at < ?", (before,)).rowcount
        return {"reminders": reminders, "outbox": outbox, "misses": misses}

    def integrity_check(self) -> str:
        """Returns the first line of ``PRAGMA integrity_check`` (``"ok"`` when healthy)."""
        with self._guard() as conn:
            return str(conn.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        """Lets SQLite refresh its statistics, checkpoints the WAL and closes the file."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with suppress(sqlite3.Error):
                self._conn.execute("PRAGMA analysis_limit = 400")
                self._conn.execute("PRAGMA optimize")
            self._conn.close()
