"""Settings from the environment and an optional ``.env`` file.

Every setting is checked when :func:`load_settings` builds the :class:`Settings`; a bad value
stops start-up with a :class:`ConfigError` whose message is one line naming the variable and
saying what is expected. The bot token and the database password never appear in a message or a
``repr``.

Variables (all optional; without ``TELEGRAM_BOT_TOKEN`` only the console runs):

====================  =============================================================
TELEGRAM_BOT_TOKEN    the token from @BotFather (``123456:ABC…``)
TELEGRAM_API_URL      Bot API server root, default ``https://api.telegram.org``
BOT_DATA_DIR          where the SQLite file lives, default ``./data``
DATABASE_URL          ``postgresql://user:password@host:port/db``: PostgreSQL instead of SQLite
QUEUE_APPLIERS        with PostgreSQL, updates one webhook worker applies at once, default 8
QUEUE_SENDERS         with PostgreSQL, Bot API calls one webhook worker makes at once, default 64
LOG_LEVEL             DEBUG / INFO / WARNING / ERROR, default INFO
WEBHOOK_LISTEN        address the webhook server binds, default ``0.0.0.0``
WEBHOOK_PORT          its port, default 8443
WEBHOOK_URL           the public https URL Telegram posts to (webhook mode only)
WEBHOOK_PATH          the local path, default the path of WEBHOOK_URL, else ``telegram``
WEBHOOK_SECRET        secret token Telegram sends in a header (1-256 of ``A-Za-z0-9_-``)
OPERATOR_CHAT_ID      chat where cases are announced to human agents
OPERATOR_IDS          comma-separated Telegram user ids allowed to act as agents
CONCURRENCY           updates handled at the same time (see docs/telegram.md), default 8
TIMEZONE              IANA zone for dates the shopper types (default: config/policy.yaml timezone)
SEND_RATE_LIMIT       messages per second the bot sends across all chats, default 30, 0 = no cap
CHAT_RATE_LIMIT       messages per second to one private chat, default 1, 0 = no cap
====================  =============================================================
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.store.pg_url import is_postgres_url, secrets_of
from bot.store.pg_url import redact as redact_url

#: Measured with ``bench/concurrency.py`` (figures in docs/telegram.md).
DEFAULT_CONCURRENCY = 24

_TOKEN = re.compile(r"^[0-9]{1,20}:[A-Za-z0-9_-]{20,}$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message is one line naming it."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service reads from its environment (frozen; the token is never shown)."""

    token: str | None = field(default=None, repr=False)
    api_url: str = "https://api.telegram.org"
    data_dir: Path = Path("data")
    #: A ``postgresql://`` URL: the store is PostgreSQL (``data_dir`` is then unused).
    database_url: str | None = field(default=None, repr=False)
    log_level: str = "INFO"
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    webhook_url: str | None = None
    webhook_path: str = "telegram"
    webhook_secret: str | None = field(default=None, repr=False)
    operator_chat_id: int | None = None
    operator_ids: frozenset[int] = frozenset()
    concurrency: int = DEFAULT_CONCURRENCY
    #: An IANA zone, or "" for the one in config/policy.yaml (the engine resolves it).
    timezone: str = ""
    #: A command (case JSON on stdin) or an http(s) URL (JSON POST) told about case changes.
    intervention_hook: str | None = field(default=None, repr=False)
    #: Closed cases older than this many days are purged (``python -m bot purge``).
    retention_days: int = 180
    #: Messages per second across all chats (Telegram's default allowance); 0 = no cap of ours.
    send_rate_limit: float = 30.0
    #: Messages per second to one private chat; 0 = no cap of ours. 429 answers are always
    #: waited out and retried, whatever these two say.
    chat_rate_limit: float = 1.0
    #: Several webhook workers on PostgreSQL (bot/tg/queue.py): updates applied at once by one
    #: process, and Bot API calls in flight at once from it.
    queue_appliers: int = 8
    queue_senders: int = 64

    @property
    def has_token(self) -> bool:
        """Tells whether a Telegram token is configured."""
        return bool(self.token)

    def redact(self, text: str) -> str:
        """Returns ``text`` with the token, the webhook secret and the database password
        replaced by ``***`` (and the password of any other URL in it)."""
        database = secrets_of(self.database_url) if self.database_url else ()
        for secret in (self.token, self.webhook_secret, *database):
            if secret:
                text = text.replace(secret, "***")
        return redact_url(text)


def read_env_file(path: Path) -> dict[str, str]:
    """Parses a ``.env`` file: ``KEY=value`` lines, ``#`` comments, optional quotes/``export``."""
    values: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return values
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.__class__.__name__})") from None
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _ENV_LINE.match(line)
        if match is None:
            raise ConfigError(f"{path}:{number}: expected KEY=value")
        key, value = match.group(1), match.group(2)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


def load_settings(environ: Mapping[str, str], env_file: Path | None = None) -> Settings:
    """Builds :class:`Settings` from ``environ`` over ``env_file``; raises :class:`ConfigError`."""
    merged: dict[str, str] = {}
    if env_file is not None:
        merged.update(read_env_file(env_file))
    merged.update({k: v for k, v in environ.items() if v != ""})

    def get(name: str) -> str | None:
        value = merged.get(name, "").strip()
        return value or None

    token = get("TELEGRAM_BOT_TOKEN")
    if token is not None and not _TOKEN.match(token):
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN does not look like a token from @BotFather "
            "(digits, a colon, then letters); copy it again"
        )

    api_url = (get("TELEGRAM_API_URL") or "https://api.telegram.org").rstrip("/")
    parts = urlsplit(api_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"TELEGRAM_API_URL must be an http(s) URL, got {api_url!r}")
    if parts.path.endswith("/bot"):
        raise ConfigError(
            "TELEGRAM_API_URL is the server root (e.g. https://api.telegram.org), without /bot"
        )

    log_level = (get("LOG_LEVEL") or "INFO").upper()
    if log_level not in _LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(_LEVELS)}, got {log_level!r}")

    webhook_url = get("WEBHOOK_URL")
    if webhook_url is not None:
        wparts = urlsplit(webhook_url)
        if wparts.scheme not in ("http", "https") or not wparts.netloc:
            raise ConfigError(f"WEBHOOK_URL must be an http(s) URL, got {webhook_url!r}")

    webhook_secret = get("WEBHOOK_SECRET")
    if webhook_secret is not None and not _SECRET.match(webhook_secret):
        raise ConfigError("WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -")

    timezone = get("TIMEZONE") or ""
    try:
        if timezone:
            ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"TIMEZONE must be an IANA zone like Asia/Shanghai, got {timezone!r}"
        ) from None

    database_url = get("DATABASE_URL")
    if database_url is not None and not is_postgres_url(database_url):
        raise ConfigError(
            f"DATABASE_URL must be a postgresql:// URL, got {redact_url(database_url)!r}"
        )

    operator_chat = get("OPERATOR_CHAT_ID")
    operator_ids_raw = get("OPERATOR_IDS")
    operator_ids: set[int] = set()
    if operator_ids_raw:
        for item in operator_ids_raw.replace(";", ",").split(","):
            if item.strip():
                operator_ids.add(_int("OPERATOR_IDS", item.strip(), minimum=1))

    return Settings(
        token=token,
        api_url=api_url,
        data_dir=Path(get("BOT_DATA_DIR") or "data"),
        database_url=database_url,
        log_level=log_level,
        webhook_listen=get("WEBHOOK_LISTEN") or "0.0.0.0",
        webhook_port=_int("WEBHOOK_PORT", get("WEBHOOK_PORT") or "8443", 1, 65535),
        webhook_url=webhook_url,
        webhook_path=(get("WEBHOOK_PATH") or _path_of(webhook_url) or "telegram").strip("/"),
        webhook_secret=webhook_secret,
        operator_chat_id=None if operator_chat is None else _int("OPERATOR_CHAT_ID", operator_chat),
        operator_ids=frozenset(operator_ids),
        concurrency=_int("CONCURRENCY", get("CONCURRENCY") or str(DEFAULT_CONCURRENCY), 1, 4096),
        timezone=timezone,
        intervention_hook=_hook(get("INTERVENTION_HOOK")),
        retention_days=_int("RETENTION_DAYS", get("RETENTION_DAYS") or "180", 1, 36500),
        send_rate_limit=_rate("SEND_RATE_LIMIT", get("SEND_RATE_LIMIT") or "30"),
        chat_rate_limit=_rate("CHAT_RATE_LIMIT", get("CHAT_RATE_LIMIT") or "1"),
        queue_appliers=_int("QUEUE_APPLIERS", get("QUEUE_APPLIERS") or "8", 1, 64),
        queue_senders=_int("QUEUE_SENDERS", get("QUEUE_SENDERS") or "64", 1, 256),
    )


#: Above this a cap is no cap: Telegram's paid broadcasts allow up to 1000 messages a second.
_MAX_RATE = 100_000.0


def _rate(name: str, value: str) -> float:
    """Validates a messages-per-second setting: a number from 0 (no cap) upwards."""
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not 0 <= number <= _MAX_RATE:  # also rejects nan and inf
        raise ConfigError(
            f"{name} must be messages per second, a number from 0 (no limit) to "
            f"{_MAX_RATE:.0f}, got {value!r}"
        )
    return number


def _hook(value: str | None) -> str | None:
    """Validates ``INTERVENTION_HOOK`` (a command line or an http(s) URL)."""
    if value is None or not value.strip():
        return None
    import shlex

    try:
        if not value.strip().lower().startswith(("http://", "https://")) and not shlex.split(value):
            raise ValueError("no command")
    except ValueError as exc:
        raise ConfigError(
            f"INTERVENTION_HOOK must be a command or an http(s) URL ({exc})"
        ) from None
    return value.strip()


def _path_of(url: str | None) -> str:
    """Returns the path of ``url`` without slashes (``""`` when there is none)."""
    return urlsplit(url).path.strip("/") if url else ""


def _int(name: str, value: str, minimum: int | None = None, maximum: int | None = None) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {value!r}") from None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        low = "" if minimum is None else str(minimum)
        high = "" if maximum is None else str(maximum)
        raise ConfigError(f"{name} must be between {low} and {high}, got {number}")
    return number


class RedactingFormatter(logging.Formatter):
    """Formats one-line records with the token, the webhook secret and the database password
    blanked out (a safety net)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._settings = settings

    def format(self, record: logging.LogRecord) -> str:
        """Returns the formatted record (traceback included) without secrets."""
        return self._settings.redact(super().format(record))


def configure_logging(settings: Settings) -> None:
    """Sets up one-line logs at ``LOG_LEVEL``; HTTP client logs (they show URLs) stay quiet."""
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter(settings))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    level = logging.getLevelName(settings.log_level)
    # httpx logs every request URL at INFO, and the URL contains the token.
    for noisy in ("httpx", "httpcore", "hpack", "tornado.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, level))
    # PTB's DEBUG lines hold whole updates and call parameters (message texts, order numbers):
    # even LOG_LEVEL=DEBUG only shows our own debug lines, never the shopper's words.
    logging.getLogger("telegram").setLevel(max(logging.INFO, level))
    # transitions logs every trigger at INFO: four lines per update that say nothing new.
    logging.getLogger("transitions").setLevel(max(logging.WARNING, level))


#: The content tree next to the package (flows, locales, config).
CONTENT_ROOT = Path(__file__).resolve().parent.parent


def policy_timezone(root: Path = CONTENT_ROOT) -> str:
    """The shoppers' time zone of ``config/policy.yaml`` (for tools that load no engine)."""
    import yaml

    raw = yaml.safe_load((root / "config" / "policy.yaml").read_text(encoding="utf-8")) or {}
    zone = raw.get("timezone") if isinstance(raw, dict) else None
    if not isinstance(zone, str) or not zone:
        raise ConfigError("config/policy.yaml has no `timezone`")
    return zone
