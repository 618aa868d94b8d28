"""What one PostgreSQL commit writes: the rows a :class:`~bot.store.base.Changes` becomes.

The same seam as :mod:`bot.store.writes` for SQLite, and the same statements where the two
dialects agree: the store class (:mod:`bot.store.postgres`) owns the pool, the transaction
(or the savepoint, on a view bound to a caller's transaction) and the error translation; this
module owns the SQL run inside it. Every function here takes a connection that is already in a
transaction and never commits or rolls back itself, so a
:class:`~bot.store.base.VersionConflict` or :class:`~bot.store.base.UnknownCase` raised half-way
undoes everything the commit wrote.

What differs from SQLite: ids come back with ``RETURNING id`` instead of ``lastrowid``; a chat's
JSON ``extra`` is read ``FOR UPDATE`` (SQLite's ``BEGIN IMMEDIATE`` serialises writers, here
two flags set at once must not lose one); PostgreSQL's ``TEXT`` cannot hold a NUL character, so
the free text of a miss and an outbox error has NULs replaced (a shopper's message holding one
must not fail its update's commit on every retry); and :func:`forget` and :func:`prune` also
delete rows of the durable queues (``inbox``, ``sends``).
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg import errors

from bot.store.base import (
    LOG_KEEP_PER_CHAT,
    Changes,
    UnknownCase,
    VersionConflict,
    anonymized_fields,
    anonymized_timeline,
)
from bot.store.rows import CASE_COLS, no_nul
from bot.store.writes import Written, dumps

Conn = psycopg.Connection[Any]

_BOOL_FLAGS = ("blocked", "reminders_consent")


def write_changes(conn: Conn, changes: Changes, now: float) -> Written:
    """Writes every part of ``changes``; raises :class:`VersionConflict` if the conversation
    or a case was stored by someone else since it was read.

    ``now`` stamps reminders that carry no ``created_at``. Nothing on ``changes`` is modified:
    the caller does that once the transaction (or savepoint) is through, so a rolled-back commit
    leaves its objects as they were.
    """
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
                "VALUES (%s, %s, %s, 1, %s) ON CONFLICT (chat_id) DO NOTHING",
                (conv.chat_id, conv.state, blob, conv.updated_at),
            )
        else:
            cur = conn.execute(
                "UPDATE conversations SET state = %s, data = %s, version = %s, "
                "updated_at = %s WHERE chat_id = %s AND version = %s",
                (conv.state, blob, expected + 1, conv.updated_at, conv.chat_id, expected),
            )
        if cur.rowcount != 1:
            row = conn.execute(
                "SELECT version FROM conversations WHERE chat_id = %s", (conv.chat_id,)
            ).fetchone()
            stored = int(row[0]) if row is not None else 0
            raise VersionConflict(
                f"conversation {conv.chat_id}: stored version {stored}, expected {expected}"
            )
    for chat_id, kind in changes.reminders_cancel:
        if kind is None:
            conn.execute(
                "UPDATE reminders SET status = 'cancelled' "
                "WHERE chat_id = %s AND status = 'pending'",
                (chat_id,),
            )
        else:
            conn.execute(
                "UPDATE reminders SET status = 'cancelled' "
                "WHERE chat_id = %s AND status = 'pending' AND kind = %s",
                (chat_id, kind),
            )
    for rem in changes.reminders_add:
        row = conn.execute(
            "INSERT INTO reminders (chat_id, kind, due, payload, status, created_at) "
            "VALUES (%s, %s, %s, %s, 'pending', %s) RETURNING id",
            (rem.chat_id, rem.kind, rem.due, dumps(rem.payload), rem.created_at or now),
        ).fetchone()
        reminder_ids.append(int(row[0]) if row is not None else 0)
    if changes.log:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO event_log (chat_id, at, kind, state_before, state_after) "
                "VALUES (%s, %s, %s, %s, %s)",
                [(e.chat_id, e.at, e.kind, e.state_before, e.state_after) for e in changes.log],
            )
        for chat_id in {e.chat_id for e in changes.log}:
            conn.execute(
                "DELETE FROM event_log WHERE chat_id = %s AND id <= ("
                "SELECT id FROM event_log WHERE chat_id = %s "
                "ORDER BY id DESC LIMIT 1 OFFSET %s)",
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
                f"INSERT INTO cases ({CASE_COLS}) VALUES (%s, %s, %s, %s, %s, %s, %s, 1) "
                "ON CONFLICT (case_id) DO NOTHING",
                (c.case_id, *values),
            )
        else:
            cur = conn.execute(
                "UPDATE cases SET chat_id = %s, status = %s, created_at = %s, "
                "updated_at = %s, fields = %s, timeline = %s, version = version + 1 "
                "WHERE case_id = %s AND version = %s",
                (*values, c.case_id, c.version),
            )
        if cur.rowcount != 1:
            found = conn.execute(
                "SELECT version FROM cases WHERE case_id = %s", (c.case_id,)
            ).fetchone()
            held = int(found[0]) if found is not None else 0
            raise VersionConflict(f"case {c.case_id}: stored version {held}, read at {c.version}")
    for ev in changes.evidence:
        try:
            conn.execute(
                "INSERT INTO evidence (case_id, media, file_id, at) VALUES (%s, %s, %s, %s)",
                (ev.case_id, ev.media, ev.file_id, ev.at),
            )
        except errors.ForeignKeyViolation as exc:
            raise UnknownCase(f"evidence for unknown case {ev.case_id}") from exc
    if changes.misses:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO nlu_misses (chat_id, at, text, state, locale, guess) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                [
                    (m.chat_id, m.at, no_nul(m.text), m.state, m.locale, dumps(m.guess))
                    for m in changes.misses
                ],
            )
    for item in changes.outbox:
        row = conn.execute(
            "INSERT INTO outbox (kind, payload, attempts, next_at, status, last_error) "
            "VALUES (%s, %s, %s, %s, 'pending', %s) RETURNING id",
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
        set_flag(conn, chat_id, name, value)
    forgotten = forget(conn, changes.forget_chat) if changes.forget_chat else {}
    return Written(reminder_ids, outbox_ids, forgotten)


def set_flag(conn: Conn, chat_id: int, name: str, value: Any) -> None:
    """Sets one chat flag: the known ones are columns, any other goes into the row's JSON
    ``extra`` column, so a new flag needs no migration.
    """
    if name in _BOOL_FLAGS:
        conn.execute(
            f"INSERT INTO chats (chat_id, {name}) VALUES (%s, %s) "
            f"ON CONFLICT (chat_id) DO UPDATE SET {name} = EXCLUDED.{name}",
            (chat_id, bool(value)),
        )
    elif name == "language":
        conn.execute(
            "INSERT INTO chats (chat_id, language) VALUES (%s, %s) "
            "ON CONFLICT (chat_id) DO UPDATE SET language = EXCLUDED.language",
            (chat_id, None if value is None else str(value)),
        )
    else:
        conn.execute("INSERT INTO chats (chat_id) VALUES (%s) ON CONFLICT DO NOTHING", (chat_id,))
        row = conn.execute(
            "SELECT extra FROM chats WHERE chat_id = %s FOR UPDATE", (chat_id,)
        ).fetchone()
        extra = json.loads(row[0]) if row is not None else {}
        extra[name] = value
        conn.execute("UPDATE chats SET extra = %s WHERE chat_id = %s", (dumps(extra), chat_id))


def forget(conn: Conn, chat_id: int) -> dict[str, int]:
    """Deletes the chat's personal data; returns how many rows of each kind went.

    Cases are kept for statistics but detached from the chat (``chat_id`` 0) with their
    personal fields anonymized, and their version bumped so a writer holding one conflicts.
    Besides SQLite's keys, ``inbox`` and ``sends`` count the chat's rows of the durable queues
    (updates received, Bot API calls to make: both hold what the shopper wrote or was told).
    """

    def delete(statement: str) -> int:
        return conn.execute(statement, (chat_id,)).rowcount

    counts = {
        "conversations": delete("DELETE FROM conversations WHERE chat_id = %s"),
        "reminders": delete("DELETE FROM reminders WHERE chat_id = %s"),
        "log": delete("DELETE FROM event_log WHERE chat_id = %s"),
        "misses": delete("DELETE FROM nlu_misses WHERE chat_id = %s"),
        "evidence": delete(
            "DELETE FROM evidence WHERE case_id IN (SELECT case_id FROM cases WHERE chat_id = %s)"
        ),
        "cases": 0,
        # What is still on its way stays: a message typed after /forget is applied (to a fresh
        # conversation), and replies already queued go out; what was handled goes now.
        "inbox": delete("DELETE FROM inbox WHERE chat_id = %s AND status != 'pending'"),
        "sends": delete(
            "DELETE FROM sends WHERE chat_id = %s AND status NOT IN ('pending', 'sending')"
        ),
    }
    rows = conn.execute(
        "SELECT case_id, fields, timeline FROM cases WHERE chat_id = %s FOR UPDATE", (chat_id,)
    ).fetchall()
    for case_id, fields, timeline in rows:
        conn.execute(
            "UPDATE cases SET chat_id = 0, fields = %s, timeline = %s, version = version + 1 "
            "WHERE case_id = %s",
            (
                dumps(anonymized_fields(json.loads(fields))),
                dumps(anonymized_timeline(json.loads(timeline))),
                case_id,
            ),
        )
    counts["cases"] = len(rows)
    return counts


def prune(conn: Conn, before: float) -> dict[str, int]:
    """Deletes finished work older than ``before``; returns how many rows of each kind went.

    As SQLite's :meth:`~bot.store.sqlite.SqliteStore.prune_finished` (non-pending reminders due
    before ``before``, every ``done`` outbox item: they have no time of completion, misses kept
    before ``before``), and of the durable queues: ``inbox`` updates applied (``done``) before
    ``before`` and ``sends`` no longer pending that were queued before it. Keys: ``reminders``,
    ``outbox``, ``misses``, ``inbox``, ``sends``.
    """

    def delete(statement: str, *args: Any) -> int:
        return conn.execute(statement, args).rowcount

    return {
        "reminders": delete("DELETE FROM reminders WHERE status != 'pending' AND due < %s", before),
        "outbox": delete("DELETE FROM outbox WHERE status = 'done'"),
        "misses": delete("DELETE FROM nlu_misses WHERE at < %s", before),
        "inbox": delete("DELETE FROM inbox WHERE status = 'done' AND done_at < %s", before),
        "sends": delete(
            "DELETE FROM sends WHERE status NOT IN ('pending', 'sending') AND created_at < %s",
            before,
        ),
    }
