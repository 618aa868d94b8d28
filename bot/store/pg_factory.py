"""Opening the PostgreSQL store: connecting, migrating, the pool, and what a psycopg error means
for whoever runs the bot.

The counterpart of :mod:`bot.store.factory` for SQLite, moved out of
:mod:`bot.store.postgres` for the same reasons (no module over 500 lines; start-up is the path
that has to fail well). An unreachable server, a refused login or a database of a newer bot
must stop the bot with one line naming ``postgresql://host:port/db``, never a traceback and
never the password.

Start-up: one direct connection creates the URL's ``search_path`` schema if missing and applies
any missing migrations (:mod:`bot.store.pg_migrations`, under an advisory lock); then the pool
opens (``min_size=1``) and start-up waits for its first connection. Connecting is bounded by
:data:`CONNECT_TIMEOUT` (libpq's ``connect_timeout``, unless the URL sets its own), so a server
that does not answer fails start-up in about five seconds.

Pooled connections are in autocommit mode: the store opens its own transactions, and a read
that is one statement needs none. Connections are not tested before each loan (that would be one
more round trip per transaction, measured in ``python -m bench workers``): after a server
restart, each stale connection fails one call (``StoreUnavailable``; the queue workers retry, the
one-process bot apologises) and the pool replaces it.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

from bot.store.base import StoreError, StoreUnavailable, VersionConflict
from bot.store.pg_migrations import migrate
from bot.store.pg_url import describe, redact, schema_of, secrets_of

#: Seconds to reach the server at open, and to wait for a free pooled connection.
CONNECT_TIMEOUT = 5.0

Conn = psycopg.Connection[Any]
Pool = ConnectionPool[Conn]


def open_pool(url: str, *, max_size: int, timeout: float = CONNECT_TIMEOUT) -> Pool:
    """Migrates the database at ``url`` and returns an open pool of up to ``max_size``
    connections to it, with one connection ready.

    Raises :class:`StoreUnavailable` (one line) if the server cannot be reached or refuses the
    login within ``timeout``, :class:`StoreError` for anything else (a malformed URL, a
    database written by a newer bot).
    """
    conninfo = _conninfo(url, timeout)
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            migrate(conn, schema=schema_of(url))
    except psycopg.Error as exc:
        # `from None`: libpq may quote the connection string (and so the password).
        raise translate(url, exc, connecting=True) from None
    pool: Pool = ConnectionPool(
        conninfo,
        min_size=1,
        max_size=max_size,
        open=True,
        kwargs={"autocommit": True},
        timeout=timeout,
        # No check of each connection as it leaves the pool: that is one more round trip per
        # transaction (measured in `python -m bench workers`). A connection that broke while
        # idle fails its first statement (StoreUnavailable: the update stays queued and is
        # retried) and the pool drops it when it comes back.
        name=f"store {describe(url)}",
    )
    try:
        pool.wait(timeout=timeout)
    except PoolTimeout:
        pool.close()
        raise StoreUnavailable(
            f"cannot connect to database {describe(url)}: no connection within {timeout:g} s"
        ) from None
    return pool


def _conninfo(url: str, timeout: float) -> str:
    """``url`` with libpq's ``connect_timeout`` set (unless the URL sets its own)."""
    try:
        if "connect_timeout" in conninfo_to_dict(url):
            return url
        return make_conninfo(url, connect_timeout=max(2, round(timeout)))
    except psycopg.Error as exc:
        raise translate(url, exc, connecting=True) from None


def translate(url: str, exc: psycopg.Error, *, connecting: bool = False) -> StoreError:
    """Returns the error to raise for ``exc`` on the database at ``url``.

    Errors that mean "the database cannot be used" (``psycopg.OperationalError``: unreachable,
    login refused, no pooled connection within the timeout, the connection lost) become
    :class:`StoreUnavailable`; a deadlock or serialization failure between two writers becomes
    :class:`VersionConflict` (the service replays the update, as after any lost race); anything
    else becomes :class:`StoreError`. The message is one line naming
    ``postgresql://host:port/db``, with any password in the driver's words blanked out.
    """
    where = describe(url)
    line = " ".join(str(exc).split()) or type(exc).__name__
    for secret in secrets_of(url):
        line = line.replace(secret, "***")
    line = redact(line)
    if isinstance(exc, errors.TransactionRollback):
        return VersionConflict(f"database {where}: {line}")
    if isinstance(exc, psycopg.OperationalError):
        if connecting:
            return StoreUnavailable(f"cannot connect to database {where}: {line}")
        return StoreUnavailable(f"database {where} unavailable: {line}")
    return StoreError(f"database {where}: {line}")
