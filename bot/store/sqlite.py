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

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from bot.engine.model import Conversation
from bot.store.base import (
    CASE_DONE,
    CHAT_FLAG_DEFAULTS,
    REMINDER_FINAL,
    Case,
    Changes,
    Evidence,
    LogEntry,
    Miss,
    OutboxItem,
    Reminder,
    Store,
    StoreError,
)
from bot.store.factory import DB_NAME as DB_NAME  # re-exported: tests and bench name the file
from bot.store.factory import connect, data_file, translate
from bot.store.memory import MemoryStore
from bot.store.pg_url import is_postgres_url, redact
from bot.store.rows import CASE_COLS as _CASE_COLS
from bot.store.rows import OUTBOX_COLS as _OUTBOX_COLS
from bot.store.rows import REMINDER_COLS as _REMINDER_COLS
from bot.store.rows import case_row, evidence_row, log_row, miss_row, outbox_row, reminder_row
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


class SqliteStore:
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

    def load(self, chat_id: int) -> Conversation | None:
        """Returns the shopper's conversation, or ``None``."""
        with self._guard() as conn:
            row = conn.execute(
                "SELECT data, version FROM conversations WHERE chat_id = ?", (chat_id,)
            ).fetchone()
        if row is None:
            return None
        conv = Conversation.from_dict(json.loads(row[0]))
        conv.version = int(row[1])
        return conv

    def commit(self, changes: Changes) -> None:
        """Writes ``changes`` in one transaction; sets the new version on the conversation."""
        now = time.time()
        with self._tx() as conn:
            written = write_changes(conn, changes, now)
        # Committed: reflect the store's assignments on the caller's objects.
        changes.forgotten = written.forgotten
        conv = changes.conversation
        if conv is not None:
            conv.version = changes.expected_version + 1
        for case in changes.cases:
            case.version += 1
        for rem, rid in zip(changes.reminders_add, written.reminder_ids, strict=True):
            rem.id = rid
            rem.status = "pending"
            if not rem.created_at:
                rem.created_at = now
        for item, oid in zip(changes.outbox, written.outbox_ids, strict=True):
            item.id = oid
            item.status = "pending"

    def delete_conversation(self, chat_id: int) -> bool:
        """Deletes the conversation; returns whether there was one."""
        with self._tx() as conn:
            cur = conn.execute("DELETE FROM conversations WHERE chat_id = ?", (chat_id,))
            return cur.rowcount > 0

    def count_conversations(self) -> int:
        """Returns how many conversations are stored (a full count; not for hot paths)."""
        with self._guard() as conn:
            return int(conn.execute("SELECT count(*) FROM conversations").fetchone()[0])

    # -- cases --------------------------------------------------------------------------------

    def next_case_id(self, prefix: str) -> str:
        """Returns ``f"{prefix}-{n:04d}"``; the counter per prefix is bumped in a transaction."""
        with self._tx() as conn:
            row = conn.execute(
                "INSERT INTO case_counters (prefix, n) VALUES (?, 1) "
                "ON CONFLICT (prefix) DO UPDATE SET n = n + 1 RETURNING n",
                (prefix,),
            ).fetchone()
        return f"{prefix}-{int(row[0]):04d}"

    def get_case(self, case_id: str) -> Case | None:
        """Returns one case, or ``None``."""
        with self._guard() as conn:
            row = conn.execute(
                f"SELECT {_CASE_COLS} FROM cases WHERE case_id = ?", (case_id,)
            ).fetchone()
        return case_row(row) if row is not None else None

    def cases_of(self, chat_id: int) -> list[Case]:
        """Returns the shopper's cases, newest first."""
        with self._guard() as conn:
            rows = conn.execute(
                f"SELECT {_CASE_COLS} FROM cases WHERE chat_id = ? "
                "ORDER BY created_at DESC, case_id DESC",
                (chat_id,),
            ).fetchall()
        return [case_row(r) for r in rows]

    def list_cases(self, status: str | None = None, since: float | None = None) -> list[Case]:
        """Returns cases by status and/or created at or after ``since``, oldest first."""
        where: list[str] = []
        args: list[Any] = []
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if since is not None:
            where.append("created_at >= ?")
            args.append(since)
        sql = f"SELECT {_CASE_COLS} FROM cases"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at, case_id"
        with self._guard() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [case_row(r) for r in rows]

    def evidence_of(self, case_id: str) -> list[Evidence]:
        """Returns a case's evidence in the order it was sent."""
        with self._guard() as conn:
            rows = conn.execute(
                "SELECT case_id, media, file_id, at FROM evidence WHERE case_id = ? ORDER BY id",
                (case_id,),
            ).fetchall()
        return [evidence_row(r) for r in rows]

    def log_of(self, chat_id: int, limit: int = 100) -> Sequence[LogEntry]:
        """Returns the chat's most recent ``limit`` log entries, oldest first."""
        with self._guard() as conn:
            rows = conn.execute(
                "SELECT chat_id, at, kind, state_before, state_after FROM ("
                "SELECT id, chat_id, at, kind, state_before, state_after FROM event_log "
                "WHERE chat_id = ? ORDER BY id DESC LIMIT ?) ORDER BY id",
                (chat_id, max(limit, 0)),
            ).fetchall()
        return [log_row(r) for r in rows]

    # -- reminders ----------------------------------------------------------------------------

    def due_reminders(self, now: float, limit: int = 100) -> list[Reminder]:
        """Returns pending reminders due at ``now``, earliest first."""
        with self._guard() as conn:
            rows = conn.execute(
                f"SELECT {_REMINDER_COLS} FROM reminders "
                "WHERE status = 'pending' AND due <= ? ORDER BY due, id LIMIT ?",
                (now, limit),
            ).fetchall()
        return [reminder_row(r) for r in rows]

    def mark_reminder(self, reminder_id: int, status: str) -> bool:
        """Moves a pending reminder to a final status; only the first call returns ``True``."""
        if status not in REMINDER_FINAL:
            raise ValueError(f"reminder status must be one of {sorted(REMINDER_FINAL)}")
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE reminders SET status = ? WHERE id = ? AND status = 'pending'",
                (status, reminder_id),
            )
            return cur.rowcount == 1

    def pending_reminders(self, chat_id: int) -> list[Reminder]:
        """Returns the chat's pending reminders, earliest first."""
        with self._guard() as conn:
            rows = conn.execute(
                f"SELECT {_REMINDER_COLS} FROM reminders "
                "WHERE chat_id = ? AND status = 'pending' ORDER BY due, id",
                (chat_id,),
            ).fetchall()
        return [reminder_row(r) for r in rows]

    def cancel_reminder(self, chat_id: int, reminder_id: int) -> bool:
        """Cancels the reminder only if it is pending and belongs to ``chat_id``."""
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE reminders SET status = 'cancelled' "
                "WHERE id = ? AND chat_id = ? AND status = 'pending'",
                (reminder_id, chat_id),
            )
            return cur.rowcount == 1

    def reschedule_reminder(self, reminder_id: int, due: float) -> bool:
        """Moves a pending reminder to ``due``."""
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE reminders SET due = ? WHERE id = ? AND status = 'pending'",
                (due, reminder_id),
            )
            return cur.rowcount == 1

    # -- outbox -------------------------------------------------------------------------------

    def due_outbox(self, now: float, limit: int = 100) -> list[OutboxItem]:
        """Returns pending outbox items due at ``now``, oldest first."""
        with self._guard() as conn:
            rows = conn.execute(
                f"SELECT {_OUTBOX_COLS} FROM outbox "
                "WHERE status = 'pending' AND next_at <= ? ORDER BY next_at, id LIMIT ?",
                (now, limit),
            ).fetchall()
        return [outbox_row(r) for r in rows]

    def outbox_done(self, item_id: int) -> bool:
        """Marks an item done; returns whether it was pending."""
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE outbox SET status = 'done' WHERE id = ? AND status = 'pending'",
                (item_id,),
            )
            return cur.rowcount == 1

    def outbox_retry(self, item_id: int, next_at: float, error: str) -> bool:
        """Counts a failed attempt and postpones a pending item."""
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ? "
                "WHERE id = ? AND status = 'pending'",
                (next_at, error, item_id),
            )
            return cur.rowcount == 1

    # -- chats --------------------------------------------------------------------------------

    def set_chat_flag(self, chat_id: int, name: str, value: Any) -> None:
        """Sets one chat flag (known flags are columns, others live in a JSON column)."""
        with self._tx() as conn:
            set_flag(conn, chat_id, name, value)

    def chat_flags(self, chat_id: int) -> dict[str, Any]:
        """Returns the chat's flags over :data:`CHAT_FLAG_DEFAULTS`."""
        with self._guard() as conn:
            row = conn.execute(
                "SELECT blocked, reminders_consent, language, extra FROM chats WHERE chat_id = ?",
                (chat_id,),
            ).fetchone()
        if row is None:
            return dict(CHAT_FLAG_DEFAULTS)
        flags: dict[str, Any] = {**CHAT_FLAG_DEFAULTS, **json.loads(row[3])}
        flags["blocked"] = bool(row[0])
        flags["reminders_consent"] = bool(row[1])
        flags["language"] = row[2]
        return flags

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

    def misses(self, since: float = 0.0, limit: int = 10000) -> list[Miss]:
        """Returns the kept misses since ``since``, newest first."""
        with self._guard() as conn:
            rows = conn.execute(
                "SELECT chat_id, at, text, state, locale, guess FROM nlu_misses "
                "WHERE at >= ? ORDER BY at DESC, id DESC LIMIT ?",
                (since, limit),
            ).fetchall()
        return [miss_row(r) for r in rows]

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
