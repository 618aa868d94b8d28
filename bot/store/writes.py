"""What one SQLite commit writes: the rows a :class:`~bot.store.base.Changes` becomes.

Moved out of :mod:`bot.store.sqlite` (issue 13, no module over 500 lines) along the seam the
code already had: the store class owns the connection, the lock and the transaction
(``BEGIN IMMEDIATE`` … ``COMMIT``, rollback, error translation); this module owns the SQL run
inside it. Every function here takes a connection that is already in a write transaction and
never commits or rolls back itself, so a :class:`~bot.store.base.VersionConflict` or
:class:`~bot.store.base.UnknownCase` raised half-way undoes everything the commit wrote.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any, NamedTuple

from bot.store.base import (
    LOG_KEEP_PER_CHAT,
    Changes,
    UnknownCase,
    VersionConflict,
    anonymized_fields,
    anonymized_timeline,
)
from bot.store.rows import CASE_COLS, no_nul

_BOOL_FLAGS = ("blocked", "reminders_consent")


def dumps(value: Any) -> str:
    """Compact JSON with non-ASCII kept as is (Chinese text stays readable and small)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Written(NamedTuple):
    """What the database assigned during :func:`write_changes`, to be reflected on the caller's
    objects only once the transaction has committed."""

    reminder_ids: list[int]
    outbox_ids: list[int]
    forgotten: dict[str, int]

    def reflect(self, changes: Changes, now: float) -> None:
        """Puts what the store assigned on the caller's objects, once the write went through:
        the versions, the new reminders' and outbox items' ids, the ``/forget`` counts."""
        changes.forgotten = self.forgotten
        conv = changes.conversation
        if conv is not None:
            conv.version = changes.expected_version + 1
        for case in changes.cases:
            case.version += 1
        for rem, rid in zip(changes.reminders_add, self.reminder_ids, strict=True):
            rem.id = rid
            rem.status = "pending"
            if not rem.created_at:
                rem.created_at = now
        for item, oid in zip(changes.outbox, self.outbox_ids, strict=True):
            item.id = oid
            item.status = "pending"


def write_changes(
    conn: Any,
    changes: Changes,
    now: float,
    *,
    flag: Callable[[Any, int, str, Any], None] | None = None,
    erase: Callable[[Any, int], dict[str, int]] | None = None,
    missing_case: tuple[type[Exception], ...] = (sqlite3.IntegrityError,),
) -> Written:
    """Writes every part of ``changes``; raises :class:`VersionConflict` if the conversation
    or a case was stored by someone else since it was read.

    ``now`` stamps reminders that carry no ``created_at``. Nothing on ``changes`` is modified:
    the caller does that once the transaction (or savepoint) is through, so a rolled-back commit
    leaves its objects as they were.

    One function for both SQL stores: ``conn`` is a ``sqlite3.Connection`` or a psycopg one
    behind :class:`bot.store.sql.Dialect` (``?`` placeholders, ``RETURNING id``, which SQLite has
    since 3.35). The dialects differ in the chat flags (``flag``), ``/forget`` (``erase``) and
    the error a foreign key raises (``missing_case``); SQLite's are the defaults.
    """
    flag = flag or set_flag
    erase = erase or forget
    conv = changes.conversation
    expected = changes.expected_version
    reminder_ids: list[int] = []
    outbox_ids: list[int] = []
    if conv is not None:
        data = conv.to_dict()
        data.pop("version", None)
        blob = dumps(data)
        if expected == 0:
            cur = conn.execute(
                "INSERT INTO conversations (chat_id, state, data, version, updated_at) "
                "VALUES (?, ?, ?, 1, ?) ON CONFLICT (chat_id) DO NOTHING",
                (conv.chat_id, conv.state, blob, conv.updated_at),
            )
        else:
            cur = conn.execute(
                "UPDATE conversations SET state = ?, data = ?, version = ?, "
                "updated_at = ? WHERE chat_id = ? AND version = ?",
                (conv.state, blob, expected + 1, conv.updated_at, conv.chat_id, expected),
            )
        if cur.rowcount != 1:
            row = conn.execute(
                "SELECT version FROM conversations WHERE chat_id = ?", (conv.chat_id,)
            ).fetchone()
            stored = int(row[0]) if row is not None else 0
            raise VersionConflict(
                f"conversation {conv.chat_id}: stored version {stored}, expected {expected}"
            )
    for chat_id, kind in changes.reminders_cancel:
        if kind is None:
            conn.execute(
                "UPDATE reminders SET status = 'cancelled' "
                "WHERE chat_id = ? AND status = 'pending'",
                (chat_id,),
            )
        else:
            conn.execute(
                "UPDATE reminders SET status = 'cancelled' "
                "WHERE chat_id = ? AND status = 'pending' AND kind = ?",
                (chat_id, kind),
            )
    for rem in changes.reminders_add:
        row = conn.execute(
            "INSERT INTO reminders (chat_id, kind, due, payload, status, created_at) "
            "VALUES (?, ?, ?, ?, 'pending', ?) RETURNING id",
            (rem.chat_id, rem.kind, rem.due, dumps(rem.payload), rem.created_at or now),
        ).fetchone()
        reminder_ids.append(int(row[0]) if row is not None else 0)
    if changes.log:
        conn.executemany(
            "INSERT INTO event_log (chat_id, at, kind, state_before, state_after) "
            "VALUES (?, ?, ?, ?, ?)",
            [(e.chat_id, e.at, e.kind, e.state_before, e.state_after) for e in changes.log],
        )
        for chat_id in {e.chat_id for e in changes.log}:
            conn.execute(
                "DELETE FROM event_log WHERE chat_id = ? AND id <= ("
                "SELECT id FROM event_log WHERE chat_id = ? "
                "ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (chat_id, chat_id, LOG_KEEP_PER_CHAT),
            )
    for c in changes.cases:
        values = (
            c.chat_id,
            c.status,
            c.created_at,
            c.updated_at,
            dumps(c.fields),
            dumps(c.timeline),
        )
        if c.version == 0:
            cur = conn.execute(
                f"INSERT INTO cases ({CASE_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, 1) "
                "ON CONFLICT (case_id) DO NOTHING",
                (c.case_id, *values),
            )
        else:
            cur = conn.execute(
                "UPDATE cases SET chat_id = ?, status = ?, created_at = ?, "
                "updated_at = ?, fields = ?, timeline = ?, version = version + 1 "
                "WHERE case_id = ? AND version = ?",
                (*values, c.case_id, c.version),
            )
        if cur.rowcount != 1:
            found = conn.execute(
                "SELECT version FROM cases WHERE case_id = ?", (c.case_id,)
            ).fetchone()
            held = int(found[0]) if found is not None else 0
            raise VersionConflict(f"case {c.case_id}: stored version {held}, read at {c.version}")
    for ev in changes.evidence:
        try:
            conn.execute(
                "INSERT INTO evidence (case_id, media, file_id, at) VALUES (?, ?, ?, ?)",
                (ev.case_id, ev.media, ev.file_id, ev.at),
            )
        except missing_case as exc:
            raise UnknownCase(f"evidence for unknown case {ev.case_id}") from exc
    if changes.misses:
        conn.executemany(
            "INSERT INTO nlu_misses (chat_id, at, text, state, locale, guess) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (m.chat_id, m.at, no_nul(m.text), m.state, m.locale, dumps(m.guess))
                for m in changes.misses
            ],
        )
    for item in changes.outbox:
        row = conn.execute(
            "INSERT INTO outbox (kind, payload, attempts, next_at, status, last_error) "
            "VALUES (?, ?, ?, ?, 'pending', ?) RETURNING id",
            (
                item.kind,
                dumps(item.payload),
                item.attempts,
                item.next_at,
                no_nul(item.last_error),
            ),
        ).fetchone()
        outbox_ids.append(int(row[0]) if row is not None else 0)
    for chat_id, name, value in changes.chat_flags:
        flag(conn, chat_id, name, value)
    forgotten = erase(conn, changes.forget_chat) if changes.forget_chat else {}
    return Written(reminder_ids, outbox_ids, forgotten)


def set_flag(conn: sqlite3.Connection, chat_id: int, name: str, value: Any) -> None:
    """Sets one chat flag: the known ones are columns, any other goes into the row's JSON
    ``extra`` column, so a new flag needs no migration.
    """
    conn.execute("INSERT INTO chats (chat_id) VALUES (?) ON CONFLICT DO NOTHING", (chat_id,))
    if name in _BOOL_FLAGS:
        conn.execute(f"UPDATE chats SET {name} = ? WHERE chat_id = ?", (int(bool(value)), chat_id))
    elif name == "language":
        conn.execute(
            "UPDATE chats SET language = ? WHERE chat_id = ?",
            (None if value is None else str(value), chat_id),
        )
    else:
        row = conn.execute("SELECT extra FROM chats WHERE chat_id = ?", (chat_id,)).fetchone()
        extra = json.loads(row[0])
        extra[name] = value
        conn.execute("UPDATE chats SET extra = ? WHERE chat_id = ?", (dumps(extra), chat_id))


def forget(conn: sqlite3.Connection, chat_id: int) -> dict[str, int]:
    """Deletes the chat's personal data; returns how many rows of each kind went.

    Cases are kept for statistics but detached from the chat (``chat_id`` 0) with their
    personal fields anonymized, and their version bumped so a writer holding one conflicts.
    """
    counts = {
        "conversations": conn.execute(
            "DELETE FROM conversations WHERE chat_id = ?", (chat_id,)
        ).rowcount,
        "reminders": conn.execute("DELETE FROM reminders WHERE chat_id = ?", (chat_id,)).rowcount,
        "log": conn.execute("DELETE FROM event_log WHERE chat_id = ?", (chat_id,)).rowcount,
        "misses": conn.execute("DELETE FROM nlu_misses WHERE chat_id = ?", (chat_id,)).rowcount,
        "evidence": conn.execute(
            "DELETE FROM evidence WHERE case_id IN (SELECT case_id FROM cases WHERE chat_id = ?)",
            (chat_id,),
        ).rowcount,
        "cases": 0,
    }
    rows = conn.execute(
        "SELECT case_id, fields, timeline FROM cases WHERE chat_id = ?", (chat_id,)
    ).fetchall()
    for case_id, fields, timeline in rows:
        conn.execute(
            "UPDATE cases SET chat_id = 0, fields = ?, timeline = ?, version = version + 1 "
            "WHERE case_id = ?",
            (
                dumps(anonymized_fields(json.loads(fields))),
                dumps(anonymized_timeline(json.loads(timeline))),
                case_id,
            ),
        )
    counts["cases"] = len(rows)
    return counts
