"""The durable queues of several workers on PostgreSQL: the inbox of updates and the outbox of
Bot API calls (tables ``inbox`` and ``sends``, :mod:`bot.store.pg_migrations` step 2).

Every function takes a connection that is already in a transaction (a
:meth:`~bot.store.postgres.PostgresStore.transaction` view's ``conn``) and never commits itself.
The shapes, and why they are safe (docs/reliability.md):

- **Inbox.** The webhook handler inserts the update (``update_id`` is the primary key, so
  Telegram's re-delivery of an update inserts nothing) and only then answers Telegram.
  :func:`claim_update` takes the *earliest pending update of a chat*, and only if no earlier
  update of that chat is pending, with ``FOR UPDATE SKIP LOCKED``: the row stays locked for as
  long as the transaction that applies it is open, so no other worker can take that chat's next
  update until this one is committed (per-chat order), and a worker that dies mid-way loses its
  connection, PostgreSQL rolls the transaction back, and the update is pending again (nothing
  lost). The conversation's writes, the replies and :func:`finish_update` are one commit, so an
  update is applied once or not at all (no duplicate).
- **Outbox.** Replies are rows of ``sends``, written in that same commit. A sender takes the
  earliest open call of a chat the same way and marks it ``sending`` with its worker's id in a
  short transaction; it makes the call holding no connection, then marks it ``sent``. Each
  worker holds a session advisory lock on its id for its whole life, so when a worker dies its
  ``sending`` calls are taken up again at once by another (:func:`claim_send`), and the chat's
  later calls wait behind them. A worker that dies after Telegram accepted a call and before
  its "sent" commit leaves it to be made again: that window (Telegram's answer plus one
  commit) is the only way a reply goes out twice.
- **Reminders and the hook** are claimed with ``FOR UPDATE SKIP LOCKED`` too
  (:func:`claim_reminder`, :func:`claim_hook_items`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from bot.store.base import OutboxItem, Reminder
from bot.store.rows import OUTBOX_COLS, REMINDER_COLS, loads, outbox_row, reminder_row


class Conn(Protocol):
    """The part of a ``psycopg.Connection`` used here (kept structural: no psycopg import)."""

    def execute(self, query: Any, params: Any = ..., /) -> Any: ...


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# -- inbox ----------------------------------------------------------------------------------------


#: How long an update waits for the one before it (``update_id - 1``) to arrive. Telegram numbers
#: updates one after another; delivered over several connections they may arrive out of order,
#: and a chat's later update must not be applied before an earlier one still on its way. The
#: wait ends as soon as the predecessor is in, so it costs time only when one is missing
#: (a gap in the numbering, or a delivery Telegram will retry later).
REORDER_WINDOW = 1.0


def enqueue_update(conn: Conn, update_id: int, chat_id: int, body: str) -> bool:
    """Stores one received update; returns ``False`` if it was already there (a re-delivery).

    ``received_at`` is the database's clock, which every worker shares."""
    cur = conn.execute(
        "INSERT INTO inbox (update_id, chat_id, body, received_at) "
        "VALUES (%s, %s, %s, extract(epoch FROM clock_timestamp())) "
        "ON CONFLICT (update_id) DO NOTHING",
        (update_id, chat_id, body),
    )
    return bool(cur.rowcount == 1)


@dataclass(frozen=True, slots=True)
class Claimed:
    """An update taken from the inbox, locked until the transaction ends."""

    update_id: int
    chat_id: int
    body: str


_CLAIM_UPDATE = """
SELECT i.update_id, i.chat_id, i.body FROM inbox AS i
WHERE i.status = 'pending'
  AND NOT EXISTS (
    SELECT 1 FROM inbox AS e
    WHERE e.chat_id = i.chat_id AND e.status = 'pending' AND e.update_id < i.update_id
  )
  AND (
    EXISTS (SELECT 1 FROM inbox AS p WHERE p.update_id = i.update_id - 1)
    OR i.received_at <= extract(epoch FROM clock_timestamp()) - %s
  )
ORDER BY i.update_id
LIMIT 1
FOR UPDATE OF i SKIP LOCKED
"""


def claim_update(conn: Conn) -> Claimed | None:
    """Takes the next update whose chat has no earlier pending update and whose predecessor has
    arrived (or waited :data:`REORDER_WINDOW` for it), or ``None``."""
    row = conn.execute(_CLAIM_UPDATE, (REORDER_WINDOW,)).fetchone()
    if row is None:
        return None
    return Claimed(int(row[0]), int(row[1]), str(row[2]))


def finish_update(conn: Conn, update_id: int, now: float, status: str = "done") -> None:
    """Marks a taken update applied (``done``) or given up (``failed``), and drops its body:
    the update's text, names and files are the shopper's, and once applied only its
    ``update_id`` is needed (to recognise a re-delivery), not what it said."""
    conn.execute(
        "UPDATE inbox SET status = %s, done_at = %s, body = '' WHERE update_id = %s",
        (status, now, update_id),
    )


def inbox_counts(conn: Conn) -> dict[str, int]:
    """Returns how many updates are in each status (for health and the tests)."""
    rows = conn.execute("SELECT status, count(*) FROM inbox GROUP BY status").fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


# -- outbox of Bot API calls ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    """One Bot API call to make, in the chat's order."""

    id: int
    chat_id: int
    method: str
    params: dict[str, Any]
    attempts: int


#: Calls that need not wait their turn in the chat (``lane`` NULL): the answer that stops a
#: tapped button's spinner and the removal of the tapped keyboard change no message the shopper
#: reads next, so they go out beside the reply, not one round trip before or after it (the
#: one-process bot does the same).
UNORDERED = frozenset({"answerCallbackQuery", "editMessageReplyMarkup"})


def add_sends(
    conn: Conn,
    chat_id: int,
    calls: list[tuple[str, dict[str, Any]]],
    now: float,
    update_id: int | None,
) -> int:
    """Queues the calls of one turn in order; returns how many."""
    for method, params in calls:
        lane = None if method in UNORDERED else chat_id
        conn.execute(
            "INSERT INTO sends (chat_id, lane, method, params, update_id, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (chat_id, lane, method, _dumps(params), update_id, now),
        )
    return len(calls)


#: First key of the session advisory lock each worker holds while it lives
#: (``pg_advisory_lock(OWNER_LOCKS, owner)``, :func:`hold_owner_lock`): a call marked
#: ``sending`` by a worker whose lock is gone (the process died, PostgreSQL closed its
#: session) is taken up again at once, without a timeout to wait out.
OWNER_LOCKS = 0x5842

_CLAIM_SEND = """
SELECT s.id, s.chat_id, s.method, s.params, s.attempts FROM sends AS s
WHERE s.status = 'pending' AND s.next_at <= %(now)s
  AND NOT EXISTS (
    SELECT 1 FROM sends AS e
    WHERE e.lane = s.lane AND e.status IN ('pending', 'sending') AND e.id < s.id
  )
ORDER BY s.id
LIMIT %(limit)s
FOR UPDATE OF s SKIP LOCKED
"""


def hold_owner_lock(conn: Conn, owner: int) -> None:
    """Takes the worker's session advisory lock on ``conn`` (an autocommit connection kept open
    for the worker's life): while it is held, the calls marked ``sending`` by ``owner`` are
    its own."""
    conn.execute("SELECT pg_advisory_lock(%s, %s)", (OWNER_LOCKS, owner))


_ORPHANS = """
UPDATE sends SET status = 'pending', owner = NULL
WHERE status = 'sending' AND NOT EXISTS (
  SELECT 1 FROM pg_locks AS l
  WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s
    AND l.objid = sends.owner::oid AND l.objsubid = 2
)
"""


def reclaim_orphans(conn: Conn) -> int:
    """Puts back the calls a dead worker was making (its advisory lock is gone); returns how
    many. Run now and then by every worker (the leader's idle poll), not in every claim: reading
    ``pg_locks`` is the dearest part of the query."""
    return int(conn.execute(_ORPHANS, (OWNER_LOCKS,)).rowcount)


def claim_sends(conn: Conn, now: float, owner: int, limit: int = 1) -> list[Send]:
    """Takes up to ``limit`` due calls, each the earliest open call of its chat, and marks them
    ``sending`` by ``owner`` (calls of a dead worker come back with :func:`reclaim_orphans`).

    At most one call per chat: a chat's next call is not eligible while an earlier one is open
    (except the :data:`UNORDERED` ones, which wait for nothing).
    The caller commits at once and makes the calls holding no connection; :func:`finish_send`
    or :func:`retry_send` settle them.
    """
    rows = conn.execute(_CLAIM_SEND, {"now": now, "limit": limit}).fetchall()
    if not rows:
        return []
    conn.execute(
        "UPDATE sends SET status = 'sending', owner = %s WHERE id = ANY(%s)",
        (owner, [int(r[0]) for r in rows]),
    )
    return [Send(int(r[0]), int(r[1]), str(r[2]), loads(r[3]), int(r[4])) for r in rows]


def claim_send(conn: Conn, now: float, owner: int) -> Send | None:
    """:func:`claim_sends` of one call, or ``None``."""
    taken = claim_sends(conn, now, owner, 1)
    return taken[0] if taken else None


def finish_send(
    conn: Conn, send_id: int, status: str, now: float, error: str = "", owner: int | None = None
) -> bool:
    """Marks a call ``sent``, ``failed`` or ``dropped`` (the chat blocked the bot); with
    ``owner``, only while that worker still has it. Returns whether it changed. The call's
    parameters (the message text) are not kept once it is settled."""
    cur = conn.execute(
        "UPDATE sends SET status = %s, sent_at = %s, last_error = %s, attempts = attempts + 1, "
        "params = '{}' WHERE id = %s AND status IN ('pending', 'sending') "
        "AND (%s::integer IS NULL OR owner = %s)",
        (status, now, error[:200], send_id, owner, owner),
    )
    return bool(cur.rowcount == 1)


def retry_send(conn: Conn, send_id: int, next_at: float, error: str) -> None:
    """Puts a call back for later (a 429's ``retry_after``, a call that certainly did not
    arrive)."""
    conn.execute(
        "UPDATE sends SET status = 'pending', owner = NULL, next_at = %s, "
        "attempts = attempts + 1, last_error = %s WHERE id = %s",
        (next_at, error[:200], send_id),
    )


def drop_chat_sends(conn: Conn, chat_id: int, now: float) -> int:
    """Drops every open call to a chat that blocked the bot; returns how many."""
    cur = conn.execute(
        "UPDATE sends SET status = 'dropped', sent_at = %s, params = '{}' "
        "WHERE chat_id = %s AND status IN ('pending', 'sending')",
        (now, chat_id),
    )
    return int(cur.rowcount)


# -- reminders and the integration hook ----------------------------------------------------------


def claim_reminder(conn: Conn, now: float) -> Reminder | None:
    """Takes the earliest due pending reminder no other worker holds, locked until commit."""
    row = conn.execute(
        f"SELECT {REMINDER_COLS} FROM reminders "
        "WHERE status = 'pending' AND due <= %s ORDER BY due, id LIMIT 1 FOR UPDATE SKIP LOCKED",
        (now,),
    ).fetchone()
    return None if row is None else reminder_row(row)


def claim_hook_items(
    conn: Conn, kind: str, now: float, lease: float, limit: int = 20
) -> list[OutboxItem]:
    """Leases due outbox items of ``kind`` for ``lease`` seconds (their ``next_at`` moves on), so
    other workers skip them while this one delivers; returns them as they were."""
    rows = conn.execute(
        "UPDATE outbox SET next_at = %s WHERE id IN ("
        "SELECT id FROM outbox WHERE status = 'pending' AND kind = %s AND next_at <= %s "
        "ORDER BY next_at, id LIMIT %s FOR UPDATE SKIP LOCKED) "
        f"RETURNING {OUTBOX_COLS}",
        (now + lease, kind, now, limit),
    ).fetchall()
    items = sorted((outbox_row(r) for r in rows), key=lambda i: i.id or 0)
    for item in items:
        item.next_at = now
    return items


def take_update(conn: Conn, update_id: int) -> bool:
    """Locks one pending update (to give it up after a failure); ``False`` if another worker
    holds it or it is no longer pending."""
    row = conn.execute(
        "SELECT 1 FROM inbox WHERE update_id = %s AND status = 'pending' FOR UPDATE SKIP LOCKED",
        (update_id,),
    ).fetchone()
    return row is not None
