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

from bot.store import writes
from bot.store.base import (
    Changes,
    anonymized_fields,
    anonymized_timeline,
)
from bot.store.sql import Dialect
from bot.store.writes import Written, dumps

Conn = psycopg.Connection[Any]

_BOOL_FLAGS = ("blocked", "reminders_consent")


def write_changes(conn: Conn, changes: Changes, now: float) -> Written:
    """:func:`bot.store.writes.write_changes` on PostgreSQL: its chat flags and ``/forget``
    (below), and a foreign key's error."""
    return writes.write_changes(
        Dialect(conn),
        changes,
        now,
        flag=lambda c, chat_id, name, value: set_flag(c.conn, chat_id, name, value),
        erase=lambda c, chat_id: forget(c.conn, chat_id),
        missing_case=(errors.ForeignKeyViolation,),
    )


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
