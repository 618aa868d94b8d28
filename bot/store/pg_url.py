"""PostgreSQL URLs as the bot checks and shows them, without importing the driver.

``DATABASE_URL`` holds a libpq connection URL (``postgresql://user:password@host:port/db?…``).
Three places need to read it without paying for psycopg: the settings (:mod:`bot.config`
validates it and hides its password in logs), :func:`bot.store.sqlite.open_store` (which backend
to open) and the health check (what to name when the database cannot be reached). The store
itself (:mod:`bot.store.postgres`) uses the same helpers, so every message names a database the
same way: :func:`describe`'s ``postgresql://host:port/db``, which never holds a user name or a
password.

Only the URL form is read here (libpq's ``key=value`` strings are not): it is what
``DATABASE_URL`` is documented to hold and what :mod:`bot.config` accepts.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit

#: The URL schemes libpq accepts, and so ``DATABASE_URL`` may start with.
SCHEMES = ("postgresql://", "postgres://")

_DEFAULT_PORT = "5432"
# `scheme://user:password@`: up to the last `@` before the path, so a password holding an
# unencoded `@` is hidden whole (hiding too much is the safe way to be wrong).
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*):[^\s/]*@")
_PASSWORD_PARAM = re.compile(r"(?i)(?P<head>\bpassword=)[^&\s]*")


def is_postgres_url(url: str) -> bool:
    """Tells whether ``url`` is a PostgreSQL URL (``postgresql://`` or ``postgres://``)."""
    return url.strip().lower().startswith(SCHEMES)


def redact(text: str) -> str:
    """Returns ``text`` with the password of every URL in it replaced by ``***``.

    Both places a URL can carry one are covered: ``scheme://user:password@host`` and a
    ``password=`` query parameter. A text without URLs comes back unchanged.
    """
    text = _USERINFO.sub(r"\g<head>:***@", text)
    return _PASSWORD_PARAM.sub(r"\g<head>***", text)


def secrets_of(url: str) -> tuple[str, ...]:
    """Returns the password(s) ``url`` holds, as written and percent-decoded (none: ``()``).

    For blanking them out of text that did not come from :func:`redact` (a driver's message may
    quote a piece of the URL).
    """
    found: list[str] = []
    try:
        parts = urlsplit(url.strip())
        userinfo = parts.netloc.rpartition("@")[0]
        if ":" in userinfo:
            found.append(userinfo.split(":", 1)[1])
        found += parse_qs(parts.query).get("password", [])
    except ValueError:
        return ()
    values = {v for raw in found for v in (raw, unquote(raw)) if v}
    return tuple(sorted(values, key=len, reverse=True))


def describe(url: str) -> str:
    """Returns ``postgresql://host:port/db`` for ``url``: what messages call the database.

    No user name, no password, no options; a ``host``, ``port`` or ``dbname`` query parameter
    wins over the URL's own parts, as in libpq. Several hosts are shown as written. Never raises:
    a URL that cannot be parsed is shown as ``postgresql://?``.
    """
    try:
        parts = urlsplit(url.strip())
        query = parse_qs(parts.query)
        hosts = unquote(parts.netloc.rpartition("@")[2])
        port = _last(query, "port")
        db = unquote(parts.path.lstrip("/")) or _last(query, "dbname")
        hosts = _last(query, "host") or hosts or "localhost"
    except ValueError:
        return "postgresql://?"
    if "," not in hosts and not _has_port(hosts):
        hosts = f"{hosts}:{port or _DEFAULT_PORT}"
    elif port and "," not in hosts:
        hosts = f"{hosts.rsplit(':', 1)[0]}:{port}"
    return f"postgresql://{hosts}/{db}"


def schema_of(url: str) -> str | None:
    """Returns the first schema the URL's libpq ``options`` put on the ``search_path``.

    ``options=-csearch_path%3Dt_abc`` (also ``-c search_path=…`` and ``--search_path=…``) gives
    ``t_abc``: the schema the store's tables go into, which the store creates if missing. An
    unquoted name is folded to lower case as PostgreSQL folds it; ``"$user"`` and the system
    schemas are skipped. ``None`` when the URL sets no search path.
    """
    try:
        options = " ".join(parse_qs(urlsplit(url.strip()).query).get("options", []))
    except ValueError:
        return None
    tokens = re.split(r"(?<!\\)\s+", options.strip())
    for i, token in enumerate(tokens):
        setting = None
        if token == "-c" and i + 1 < len(tokens):
            setting = tokens[i + 1]
        elif token.startswith(("-c", "--")):
            setting = token[2:]
        if setting and "=" in setting:
            name, _, value = setting.partition("=")
            if name.strip().lower().replace("-", "_") == "search_path":
                return _first_schema(value.replace("\\ ", " "))
    return None


def _first_schema(value: str) -> str | None:
    for item in value.split(","):
        name = item.strip()
        if name.startswith('"') and name.endswith('"') and len(name) >= 2:
            name = name[1:-1].replace('""', '"')
        else:
            name = name.lower()
        if name and name != "$user" and not name.startswith("pg_"):
            return name
    return None


def _last(query: dict[str, list[str]], key: str) -> str:
    values = query.get(key)
    return values[-1] if values else ""


def _has_port(host: str) -> bool:
    if host.startswith("["):  # [::1] or [::1]:5432
        return "]:" in host
    return ":" in host
