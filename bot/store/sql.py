"""The queries the SQLite and the PostgreSQL stores share (everything but how a connection is
had, how a commit is written, and the dialect's own statements).

:class:`SqlStore` holds them, written once with ``?`` placeholders. A subclass gives it
:meth:`SqlStore._read` and :meth:`SqlStore._write`, each a context manager yielding something
with ``execute(sql, params)`` (a ``sqlite3.Connection`` as it is; a psycopg connection behind
:class:`Dialect`, which turns ``?`` into ``%s``). Before this module the two stores had these
eighteen methods twice, differing only in the placeholder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from functools import lru_cache
from typing import Any

from bot.engine.model import Conversation
from bot.store.base import (
    CHAT_FLAG_DEFAULTS,
    REMINDER_FINAL,
    Case,
    Evidence,
    LogEntry,
    Miss,
    OutboxItem,
    Reminder,
)
from bot.store.rows import (
    CASE_COLS as _CASE_COLS,
)
from bot.store.rows import (
    OUTBOX_COLS as _OUTBOX_COLS,
)
from bot.store.rows import (
    REMINDER_COLS as _REMINDER_COLS,
)
from bot.store.rows import (
    case_row,
    evidence_row,
    log_row,
    miss_row,
    no_nul,
    outbox_row,
    reminder_row,
)


@lru_cache(maxsize=512)
def to_format_style(sql: str) -> str:
    """``sql`` with its ``?`` placeholders as ``%s`` (psycopg's style); no ``?`` or ``%`` may
    appear in the SQL otherwise."""
    return sql.replace("?", "%s")


class Dialect:
    """A psycopg connection that takes the ``?`` placeholders :class:`SqlStore` writes."""

    __slots__ = ("conn",)

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        return self.conn.execute(to_format_style(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(to_format_style(sql), rows)


class SqlStore:
    """The store methods both SQL backends run the same way."""

    def _read(self) -> AbstractContextManager[Any]:
        """A connection for one read (no transaction needed), errors translated."""
        raise NotImplementedError

    def _write(self) -> AbstractContextManager[Any]:
        """A connection in one write transaction, committed at the end, errors translated."""
        raise NotImplementedError

    def next_case_id(self, prefix: str) -> str:
        """Returns ``f"{prefix}-{n:04d}"``; the counter per prefix is bumped in a transaction."""
        with self._write() as conn:
            row = conn.execute(
                "INSERT INTO case_counters (prefix, n) VALUES (?, 1) "
                "ON CONFLICT (prefix) DO UPDATE SET n = case_counters.n + 1 RETURNING n",
                (prefix,),
            ).fetchone()
        assert row is not None  # an upsert with RETURNING always returns its row
        return f"{prefix}-{int(row[0]):04d}"

    def load(self, chat_id: int) -> Conversation | None:
        """Returns the shopper's conversation, or ``None``."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT data, version FROM conversations WHERE chat_id = ?", (chat_id,)
            ).fetchone()
        if row is None:
            return None
        conv = Conversation.from_dict(json.loads(row[0]))
        conv.version = int(row[1])
        return conv

    def delete_conversation(self, chat_id: int) -> bool:
        """Deletes the conversation; returns whether there was one."""
        with self._write() as conn:
            cur = conn.execute("DELETE FROM conversations WHERE chat_id = ?", (chat_id,))
            return bool(cur.rowcount > 0)

    def count_conversations(self) -> int:
        """Returns how many conversations are stored (a full count; not for hot paths)."""
        with self._read() as conn:
            return int(conn.execute("SELECT count(*) FROM conversations").fetchone()[0])

    def get_case(self, case_id: str) -> Case | None:
        """Returns one case, or ``None``."""
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_CASE_COLS} FROM cases WHERE case_id = ?", (case_id,)
            ).fetchone()
        return case_row(row) if row is not None else None

    def cases_of(self, chat_id: int) -> list[Case]:
        """Returns the shopper's cases, newest first."""
        with self._read() as conn:
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
        with self._read() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [case_row(r) for r in rows]

    def evidence_of(self, case_id: str) -> list[Evidence]:
        """Returns a case's evidence in the order it was sent."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT case_id, media, file_id, at FROM evidence WHERE case_id = ? ORDER BY id",
                (case_id,),
            ).fetchall()
        return [evidence_row(r) for r in rows]

    def log_of(self, chat_id: int, limit: int = 100) -> Sequence[LogEntry]:
        """Returns the chat's most recent ``limit`` log entries, oldest first."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT chat_id, at, kind, state_before, state_after FROM ("
                "SELECT id, chat_id, at, kind, state_before, state_after FROM event_log "
                "WHERE chat_id = ? ORDER BY id DESC LIMIT ?) AS recent ORDER BY id",
                (chat_id, max(limit, 0)),
            ).fetchall()
        return [log_row(r) for r in rows]

    def due_reminders(self, now: float, limit: int = 100) -> list[Reminder]:
        """Returns pending reminders due at ``now``, earliest first."""
        with self._read() as conn:
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
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE reminders SET status = ? WHERE id = ? AND status = 'pending'",
                (status, reminder_id),
            )
            return bool(cur.rowcount == 1)

    def pending_reminders(self, chat_id: int) -> list[Reminder]:
        """Returns the chat's pending reminders, earliest first."""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_REMINDER_COLS} FROM reminders "
                "WHERE chat_id = ? AND status = 'pending' ORDER BY due, id",
                (chat_id,),
            ).fetchall()
        return [reminder_row(r) for r in rows]

    def cancel_reminder(self, chat_id: int, reminder_id: int) -> bool:
        """Cancels the reminder only if it is pending and belongs to ``chat_id``."""
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE reminders SET status = 'cancelled' "
                "WHERE id = ? AND chat_id = ? AND status = 'pending'",
                (reminder_id, chat_id),
            )
            return bool(cur.rowcount == 1)

    def reschedule_reminder(self, reminder_id: int, due: float) -> bool:
        """Moves a pending reminder to ``due``."""
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE reminders SET due = ? WHERE id = ? AND status = 'pending'",
                (due, reminder_id),
            )
            return bool(cur.rowcount == 1)

    def due_outbox(self, now: float, limit: int = 100) -> list[OutboxItem]:
        """Returns pending outbox items due at ``now``, oldest first."""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_OUTBOX_COLS} FROM outbox "
                "WHERE status = 'pending' AND next_at <= ? ORDER BY next_at, id LIMIT ?",
                (now, limit),
            ).fetchall()
        return [outbox_row(r) for r in rows]

    def outbox_done(self, item_id: int) -> bool:
        """Marks an item done; returns whether it was pending."""
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE outbox SET status = 'done' WHERE id = ? AND status = 'pending'",
                (item_id,),
            )
            return bool(cur.rowcount == 1)

    def outbox_retry(self, item_id: int, next_at: float, error: str) -> bool:
        """Counts a failed attempt and postpones a pending item."""
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ? "
                "WHERE id = ? AND status = 'pending'",
                (next_at, no_nul(error), item_id),
            )
            return bool(cur.rowcount == 1)

    def chat_flags(self, chat_id: int) -> dict[str, Any]:
        """Returns the chat's flags over :data:`CHAT_FLAG_DEFAULTS`."""
        with self._read() as conn:
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

    def misses(self, since: float = 0.0, limit: int = 10000) -> list[Miss]:
        """Returns the kept misses since ``since``, newest first."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT chat_id, at, text, state, locale, guess FROM nlu_misses "
                "WHERE at >= ? ORDER BY at DESC, id DESC LIMIT ?",
                (since, limit),
            ).fetchall()
        return [miss_row(r) for r in rows]
