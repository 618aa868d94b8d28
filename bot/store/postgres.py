"""PostgreSQL :class:`~bot.store.base.Store` — for several workers sharing one database.

Chosen by ``DATABASE_URL`` (:func:`bot.store.sqlite.open_store`); same semantics as
:mod:`bot.store.sqlite` (the contract tests run against memory, SQLite and this). psycopg 3
is the driver: maintained, with a synchronous API that matches the synchronous
:class:`~bot.store.base.Store`, and its own connection pool (``psycopg_pool``). Only this
module and its ``pg_`` helpers import it, and only :func:`~bot.store.sqlite.open_store` given a
URL imports them, so SQLite users never load it.

The module is split like the SQLite store's (no module over 500 lines): here the store class
(transactions, views, the queries); connecting, migrating at open (an advisory lock, so workers
starting at once migrate once), the pool and what a psycopg error means in
:mod:`bot.store.pg_factory`; the schema in :mod:`bot.store.pg_migrations`; the rows one
:meth:`PostgresStore.commit` writes in :mod:`bot.store.pg_writes`; reading and showing the URL
(without the driver) in :mod:`bot.store.pg_url`.

Transactions: every method takes a pooled connection (autocommit mode) for the one call. A
write runs in ``BEGIN … COMMIT``; a read is one statement, atomic by itself, so it skips the two
round trips. :meth:`PostgresStore.transaction` instead yields a *view* bound to one connection
in one transaction: every method of the view runs in it and commits nothing on its own (a
write runs in a savepoint, so a :class:`~bot.store.base.VersionConflict` undoes only that
call's writes and the caller can reload and retry, as the service does), and ``view.conn``
lets other code (the durable queues, :mod:`bot.store.pg_queue`) run its SQL in the same
transaction.

JSON columns are ``TEXT``, as in SQLite: nothing queries inside them, and text keeps a value
byte for byte as written (key order, number spelling), so the three backends give back the
same data; ``JSONB`` would reorder keys and re-spell numbers for no gain here.

Errors (:func:`bot.store.pg_factory.translate`): an unreachable server, a refused login, no
pooled connection within the timeout, a lost connection become
:class:`~bot.store.base.StoreUnavailable` with one line naming ``postgresql://host:port/db``
(never the password); a deadlock between two writers becomes
:class:`~bot.store.base.VersionConflict`; any other psycopg error
:class:`~bot.store.base.StoreError` with one line.

Bounded growth as in SQLite; :meth:`PostgresStore.prune_finished` also prunes the durable queues.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import psycopg

from bot.store.base import (
    CASE_DONE,
    Changes,
    StoreError,
)
from bot.store.pg_factory import CONNECT_TIMEOUT, Conn, open_pool, translate
from bot.store.pg_url import describe
from bot.store.pg_writes import forget, prune, set_flag, write_changes
from bot.store.sql import Dialect, SqlStore


class PostgresStore(SqlStore):
    """Conversations, cases, evidence, event log, reminders, outbox and chat flags in PostgreSQL.

    ``PostgresStore(url)`` opens the store (see the module's docstring); one instance is shared
    by every thread (each call takes its own pooled connection). A view from
    :meth:`transaction` belongs to the thread that opened it.
    """

    #: The store is across a network: the service runs its calls in a worker thread.
    remote: ClassVar[bool] = True

    def __init__(self, url: str, *, max_size: int = 8, timeout: float = CONNECT_TIMEOUT) -> None:
        """Connects to ``url``, creates its schema and migrates, then opens the pool.

        ``max_size`` caps the pool's connections; ``timeout`` bounds connecting at open and
        waiting for a free connection later. Raises :class:`StoreUnavailable` (one line naming
        host, port and database) if the server cannot be reached or refuses the login, and
        :class:`StoreError` for anything else (a database of a newer bot, a malformed URL).
        """
        self.where = describe(url)
        self._url = url
        self._timeout = timeout
        self._bound: Conn | None = None
        self._pool = open_pool(url, max_size=max_size, timeout=timeout)

    # -- plumbing -----------------------------------------------------------------------------

    def _translate(self, exc: psycopg.Error) -> StoreError:
        return translate(self._url, exc)

    @contextmanager
    def _tx(self, *, write: bool = True) -> Iterator[Conn]:
        """A connection for one call, in a transaction if ``write``; psycopg errors translated.

        On a bound view: the view's connection, with a savepoint around a write (the caller's
        transaction stays open). Otherwise a pooled connection: ``BEGIN … COMMIT`` around a
        write, rolled back on any error; a read runs as it is (one statement).
        """
        try:
            if self._bound is not None:
                if write:
                    with self._bound.transaction():
                        yield self._bound
                else:
                    yield self._bound
                return
            with self._pool.connection(timeout=self._timeout) as conn:
                if write:
                    with conn.transaction():
                        yield conn
                else:
                    yield conn
        except psycopg.Error as exc:
            raise self._translate(exc) from exc

    @contextmanager
    def _read(self) -> Iterator[Dialect]:
        with self._tx(write=False) as conn:
            yield Dialect(conn)

    @contextmanager
    def _write(self) -> Iterator[Dialect]:
        with self._tx() as conn:
            yield Dialect(conn)

    @contextmanager
    def transaction(self) -> Iterator[PostgresStore]:
        """Yields a view of the store bound to one connection in one transaction.

        Every method called on the view runs in that transaction and does not commit; the
        transaction commits when the ``with`` block ends normally and rolls back on any
        exception. ``view.conn`` is the connection, for SQL of the caller's own. On a view this
        yields the view itself (no nesting). psycopg errors leaving the block are translated
        like the store's own. Objects a :meth:`commit` on the view updated (versions, ids) are
        not reset if the transaction later rolls back.
        """
        if self._bound is not None:
            yield self
            return
        try:
            with self._pool.connection(timeout=self._timeout) as conn, conn.transaction():
                yield self._view(conn)
        except psycopg.Error as exc:
            raise self._translate(exc) from exc

    def _view(self, conn: Conn) -> PostgresStore:
        view = copy.copy(self)
        view._bound = conn
        return view

    @property
    def conn(self) -> Conn:
        """The connection of a view from :meth:`transaction` (in its open transaction)."""
        if self._bound is None:
            raise RuntimeError("PostgresStore.conn is only there on a transaction() view")
        return self._bound

    # -- conversations ------------------------------------------------------------------------

    def commit(self, changes: Changes) -> None:
        """Writes ``changes`` in one transaction (a savepoint on a view); sets the new version
        on the conversation, and the ids of new reminders and outbox items."""
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
        """Deletes the chat's personal data in one transaction; returns counts.

        The keys of :meth:`bot.store.sqlite.SqliteStore.forget`, and ``inbox`` and ``sends``:
        the chat's rows of the durable queues, deleted too.
        """
        with self._tx() as conn:
            return forget(conn, chat_id)

    def purge_closed_cases(self, before: float) -> int:
        """Deletes closed/resolved cases (evidence by cascade) last updated before ``before``."""
        with self._tx() as conn:
            cur = conn.execute(
                "DELETE FROM cases WHERE status = ANY(%s) AND updated_at < %s",
                (sorted(CASE_DONE), before),
            )
            return cur.rowcount

    def prune_finished(self, before: float) -> dict[str, int]:
        """Deletes non-pending reminders due before ``before``, done outbox items and misses
        kept before ``before``, and the durable queues' finished rows older than ``before``.

        Counts under ``reminders``, ``outbox``, ``misses``, ``inbox`` and ``sends``
        (:func:`bot.store.pg_writes.prune`).
        """
        with self._tx() as conn:
            return prune(conn, before)

    def close(self) -> None:
        """Closes the pool (waiting for connections in use); a view leaves it to its store."""
        if self._bound is None:
            self._pool.close()
