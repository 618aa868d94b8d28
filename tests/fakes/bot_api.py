"""A strict fake of the Telegram Bot API (10.0) for end-to-end tests, served by aiohttp.

Fixture (``tests/conftest.py``)::

    async def test_x(bot_api: FakeBotAPI) -> None:   # started server on 127.0.0.1:<random port>
        app = bot_api.application_builder().build()  # real PTB Application pointed at the fake
        # or: bot = bot_api.bot()                    # a telegram.Bot (call `async with bot:`)

At teardown the fixture FAILS the test if ``bot_api.violations`` is not empty. A test that
provokes violations on purpose calls ``bot_api.expect_violation("substring")`` (removes the
matching ones, asserts there was one) or ``bot_api.violations.clear()``.

Connecting: ``bot_api.token``, ``bot_api.base_url`` (``http://127.0.0.1:PORT/bot``; PTB appends
``<token>/<method>``), ``bot_api.base_file_url``, ``bot_api.url`` (``http://127.0.0.1:PORT``).

People and chats (all helpers are synchronous; call them from the test's event loop):
    u = bot_api.user(1001, "Alice", language_code="zh-hans", username=None)  -> FakeUser
    g = bot_api.group(title="Group", forum=False, supergroup=True, bot_admin=True,
                      members=(), privacy=False) -> FakeChat
        privacy=True: like Telegram's bot privacy mode, only commands (/x, /x@thisbot),
        @mentions of the bot and replies to the bot's messages are delivered (helpers return
        update_id 0 for a message the bot never sees)
    t = bot_api.create_topic(g, "Topic")           -> message_thread_id of a user-made topic
    bot_api.block(u) / bot_api.unblock(u)          -> later sends answer 403 "bot was blocked"
A private user who never wrote to the bot cannot be messaged (403 "can't initiate
conversation"); any injected private message marks the user as started.

Injecting updates (each returns the update_id; user handles have the same methods without
the ``user`` argument, e.g. ``u.send_text("/start")``):
    send_text(user, text, chat=None, thread_id=None, reply_to=None)   commands get bot_command
    tap(user, message, data)      callback_query on a bot message (BotMessage or message_id);
                                  the message must carry an inline button with that data
    send_photo / send_video / send_document / send_sticker / send_location(user, chat=None, ...)
    push_update(kind, payload)    any other update kind

Observing the bot:
    await wait_for_messages(chat_id, n, timeout=5) -> the next n *unread* BotMessage of chat
        (a per-chat read cursor; ``sent(chat_id)`` lists all, read or not)
    BotMessage: chat_id, message_id, text (visible, after entity parsing; caption for media),
        raw_text, parse_mode, entities, reply_markup (dict or None), thread_id, reply_to,
        media ("photo"/"document"/"video"/...), file_id, edits, deleted, buttons(),
        callback_data()
    await wait_for_call(method, n=1, timeout=5) -> params of the first n calls of method
    await wait_until(predicate, timeout=5, what="...")
    calls: list[(MethodName, params)]; calls_to(method) -> list[params]
    errors: list[(MethodName, http_status, description)] -- every non-ok answer
    callback_answers: dict[query_id, params]; unanswered_callbacks() -> list[query_id]
    commands(scope=None, language_code="") -> the list set by setMyCommands
    webhook_deliveries: list[WebhookDelivery]
    webhook_parallel = 1    deliveries in flight at once (≤ the webhook's max_connections)
    fake_bugs: list[str] -- results/updates of the fake itself that break the spec (the
        fixture fails on these too; they are bugs to report to the fake's owner)

Faults (per method name, case-insensitive; faulted calls still get validated):
    fail_next(method, kind, times=1, retry_after=1)
        "429"           answer 429 with parameters.retry_after (0 allowed), no effect
        "500" / "502"   server error, no effect
        "timeout"       (= "timeout_before") hang for ``hang_seconds`` (default 30, ends at
                        stop), no effect; "timeout_after": the call TAKES EFFECT, then hangs
        "drop"          (= "drop_before") close the connection without answer, no effect;
                        "drop_after": the call TAKES EFFECT, then the connection is closed
    latency = 0.05      delay added to every call
    enforce_rate_limits(chat=(3, 1.0), group=(20, 60.0), total=(30, 1.0))   opt-in flood
                        control: sends beyond count-per-window answer 429 (rate_limit_hits)

Implemented methods: getMe, getUpdates, setWebhook, deleteWebhook, getWebhookInfo,
sendMessage, sendPhoto, sendDocument, sendVideo (file_id, URL or upload), copyMessage,
forwardMessage, editMessageText, editMessageCaption, editMessageReplyMarkup, deleteMessage,
answerCallbackQuery, setMyCommands, getMyCommands, deleteMyCommands, createForumTopic, getChat,
getChatMember, sendChatAction, getFile (+ download), close, logOut. Other spec methods that
return True are validated and answered True; the rest answer 400 and record a violation.

Strictness: every call is validated against the JSON spec (unknown/missing parameters, types,
nested objects, prose length limits, parse_mode markup, inline buttons, bot commands).
Violations answer 400 like Telegram and are recorded. Also recorded as violations: wrong
token (401), unknown method (404), answerCallbackQuery for a query that was not delivered or
already answered, methods the fake does not implement. Runtime conditions a correct bot must
cope with (403 blocked, "message is not modified", "message to edit not found", 409, chat
not found) are answered like Telegram but NOT recorded as violations (see ``errors``).
Deviations: http:// webhooks are allowed for 127.0.0.1/localhost; unknown HTML named
entities (``&nbsp;``) are rejected (Telegram would show them literally).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import ClientSession, ClientTimeout, web

from tests.fakes.spec import (
    EntityParseError,
    MethodSpec,
    check_object,
    load_spec,
    parse_text,
    validate_call,
)

TOKEN = "123456789:AAFakeTokenForTests_abcdefghijklmnopq"
BOT_ID = 123456789
BOT_USERNAME = "xhs_aftersales_test_bot"

FAULT_KINDS = {"429", "500", "502", "timeout", "timeout_before", "timeout_after"} | {
    "drop",
    "drop_before",
    "drop_after",
}
# Update kinds delivered unless allowed_updates says otherwise: every Update field of the spec
# except those that "must explicitly" be requested (chat_member, message_reaction, ...).
ALL_UPDATE_KINDS = frozenset(load_spec().types["Update"].fields) - {"update_id"}
DEFAULT_ALLOWED = frozenset(
    name
    for name, f in load_spec().types["Update"].fields.items()
    if name != "update_id" and "must explicitly specify" not in f.description
)
CHAT_ACTIONS = {
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
}
TOPIC_COLORS = {7322096, 16766590, 13338331, 9367192, 16749490, 16478047}
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]{30,}$")
_LANG_RE = re.compile(r"^([a-z]{2})?$")


class ApiError(Exception):
    """An error answer. ``violation``: also record it in ``server.violations``."""

    def __init__(
        self,
        status: int,
        description: str,
        *,
        violation: bool = False,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.violation = violation
        self.parameters = parameters


def _bad(desc: str, *, violation: bool = False) -> ApiError:
    return ApiError(400, f"Bad Request: {desc}", violation=violation)


def _u16len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def _one_level(msg: dict[str, Any]) -> dict[str, Any]:
    """Telegram does not nest reply_to_message inside a reply_to_message."""
    return {k: v for k, v in msg.items() if k != "reply_to_message"}


_AUTO_ENTITIES = re.compile(
    r"(?P<bot_command>(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?)"
    r"|(?P<mention>(?<![\w@])@[A-Za-z0-9_]{5,32})"
    r"|(?P<url>https?://[^\s]+)"
)


def detect_entities(text: str) -> list[dict[str, Any]]:
    """Entities Telegram adds to a user's plain text: bot_command, mention, url."""
    out = []
    for m in _AUTO_ENTITIES.finditer(text):
        kind = m.lastgroup
        assert kind is not None
        out.append(
            {
                "type": kind,
                "offset": _u16len(text[: m.start()]),
                "length": _u16len(m.group(0)),
            }
        )
    return out


# ---- model ---------------------------------------------------------------------------


@dataclass
class FakeUser:
    server: FakeBotAPI = field(repr=False)
    id: int
    first_name: str
    language_code: str | None = "zh-hans"
    username: str | None = None
    last_name: str | None = None
    started: bool = False
    blocked: bool = False

    @property
    def chat_id(self) -> int:
        return self.id

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            d["last_name"] = self.last_name
        if self.username:
            d["username"] = self.username
        if self.language_code:
            d["language_code"] = self.language_code
        return d

    # convenience wrappers
    def send_text(self, text: str, chat: FakeChat | None = None, **kw: Any) -> int:
        return self.server.send_text(self, text, chat, **kw)

    def tap(self, message: BotMessage | int | Any, data: str) -> int:
        return self.server.tap(self, message, data)

    def send_photo(self, chat: FakeChat | None = None, **kw: Any) -> int:
        return self.server.send_photo(self, chat, **kw)

    def send_video(self, chat: FakeChat | None = None, **kw: Any) -> int:
        return self.server.send_video(self, chat, **kw)

    def send_document(self, chat: FakeChat | None = None, **kw: Any) -> int:
        return self.server.send_document(self, chat, **kw)

    def send_sticker(self, chat: FakeChat | None = None, **kw: Any) -> int:
        return self.server.send_sticker(self, chat, **kw)

    def send_location(self, chat: FakeChat | None = None, **kw: Any) -> int:
        return self.server.send_location(self, chat, **kw)


@dataclass
class FakeChat:
    id: int
    type: str  # private | group | supergroup
    title: str | None = None
    user: FakeUser | None = None  # for private chats
    is_forum: bool = False
    bot_status: str = "member"  # member | administrator | kicked
    can_manage_topics: bool = True
    privacy: bool = False  # bot privacy mode: only commands, mentions, replies are delivered
    members: dict[int, str] = field(default_factory=dict)  # user id -> status
    topics: dict[int, str] = field(default_factory=dict)  # thread id -> name
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_message_id: int = 1

    def new_message_id(self) -> int:
        mid = self.next_message_id
        self.next_message_id += 1
        return mid

    def to_dict(self) -> dict[str, Any]:
        if self.type == "private":
            assert self.user is not None
            d: dict[str, Any] = {"id": self.id, "type": "private"}
            d["first_name"] = self.user.first_name
            if self.user.last_name:
                d["last_name"] = self.user.last_name
            if self.user.username:
                d["username"] = self.user.username
            return d
        d = {"id": self.id, "type": self.type, "title": self.title or "Group"}
        if self.is_forum:
            d["is_forum"] = True
        return d


@dataclass
class BotMessage:
    """A message the bot sent (live: edits update it)."""

    chat_id: int
    message_id: int
    method: str
    text: str | None
    raw_text: str | None
    parse_mode: str | None
    entities: list[dict[str, Any]]
    reply_markup: dict[str, Any] | None
    thread_id: int | None
    reply_to: int | None
    media: str | None = None
    file_id: str | None = None
    params: dict[str, Any] = field(default_factory=dict, repr=False)
    edits: list[tuple[str, dict[str, Any]]] = field(default_factory=list, repr=False)
    deleted: bool = False

    def buttons(self) -> list[dict[str, Any]]:
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [b for row in rows for b in row]

    def callback_data(self) -> list[str]:
        return [b["callback_data"] for b in self.buttons() if "callback_data" in b]


@dataclass
class FileRecord:
    file_id: str
    file_unique_id: str
    kind: str  # photo | document | video | sticker
    size: int = 1024
    content: bytes = b"fake file content"


@dataclass
class Fault:
    kind: str
    retry_after: int = 1


@dataclass
class WebhookDelivery:
    update_id: int
    status: int | None
    error: str | None = None
    secret_header: str | None = None


@dataclass
class _Webhook:
    url: str
    secret_token: str | None
    max_connections: int = 40
    last_error: str | None = None
    last_error_date: int | None = None


_Handler = Callable[[dict[str, Any]], Any]


class FakeBotAPI:
    def __init__(self, token: str = TOKEN, *, bot_username: str = BOT_USERNAME) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.spec = load_spec()
        self.port = 0
        self.latency = 0.0
        self.hang_seconds = 30.0
        self.violations: list[str] = []
        self.fake_bugs: list[str] = []  # results of the fake itself that break the spec
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.errors: list[tuple[str, int, str]] = []
        self.users: dict[int, FakeUser] = {}
        self.chats: dict[int, FakeChat] = {}
        self.files: dict[str, FileRecord] = {}
        self.callback_queries: dict[str, dict[str, Any]] = {}
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.webhook_deliveries: list[WebhookDelivery] = []
        #: Webhook deliveries in flight at once (Telegram: up to the webhook's
        #: ``max_connections``); 1 = one after another, in update order (the default).
        self.webhook_parallel = 1
        self.logged_out = False
        self.closed = False
        self._updates: list[dict[str, Any]] = []
        self._delivered: set[int] = set()
        self._update_ids = itertools.count(100_000_001)
        self._ids = itertools.count(1)
        self._group_ids = itertools.count(1)
        self._allowed: set[str] = set(DEFAULT_ALLOWED)
        self._webhook: _Webhook | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._faults: dict[str, deque[Fault]] = {}
        self._rate: dict[str, tuple[int, float]] | None = None
        self._send_times: dict[int | None, deque[float]] = {}
        self.rate_limit_hits = 0
        self._sent: dict[int, list[BotMessage]] = {}
        self._read: dict[int, int] = {}
        self._poll_generation = 0
        self._tick = asyncio.Event()
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self._handlers: dict[str, _Handler] = {
            name[len("_m_") :]: getattr(self, name) for name in dir(self) if name.startswith("_m_")
        }

    # ---- lifecycle -----------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    async def start(self) -> None:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        addr = self._runner.addresses[0]
        self.port = int(addr[1])

    async def stop(self) -> None:
        self._stopping.set()
        self._notify()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> FakeBotAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @staticmethod
    def fast_request(**kwargs: Any) -> Any:
        """An ``HTTPXRequest`` that skips loading CA certificates (~0.1-0.4 s per client);
        fine here because the fake speaks plain HTTP on 127.0.0.1."""
        from telegram.request import HTTPXRequest

        kwargs.setdefault("httpx_kwargs", {"verify": False})
        return HTTPXRequest(**kwargs)

    def bot(self, **kwargs: Any) -> Any:
        """A ``telegram.Bot`` pointed at this server (use ``async with``)."""
        from telegram import Bot

        kwargs.setdefault("request", self.fast_request())
        kwargs.setdefault("get_updates_request", self.fast_request())
        return Bot(self.token, base_url=self.base_url, base_file_url=self.base_file_url, **kwargs)

    def application_builder(self, *, fast_requests: bool = True) -> Any:
        """An ``ApplicationBuilder`` with token and URLs set (updater/polling still usable).
        ``fast_requests=False`` if you want to configure PTB's request settings yourself."""
        from telegram.ext import Application

        builder = (
            Application.builder()
            .token(self.token)
            .base_url(self.base_url)
            .base_file_url(self.base_file_url)
        )
        if fast_requests:
            builder = builder.request(self.fast_request()).get_updates_request(self.fast_request())
        return builder

    # ---- test-facing API -----------------------------------------------------------
    def user(
        self,
        id: int,
        first_name: str,
        language_code: str | None = "zh-hans",
        *,
        username: str | None = None,
        last_name: str | None = None,
    ) -> FakeUser:
        if id in self.users:
            return self.users[id]
        u = FakeUser(self, id, first_name, language_code, username, last_name)
        self.users[id] = u
        self.chats[id] = FakeChat(id=id, type="private", user=u)
        return u

    def group(
        self,
        title: str = "Group",
        *,
        forum: bool = False,
        supergroup: bool = True,
        bot_admin: bool = True,
        members: tuple[FakeUser, ...] = (),
        chat_id: int | None = None,
        privacy: bool = False,
    ) -> FakeChat:
        n = next(self._group_ids)
        cid = chat_id if chat_id is not None else (-1001000000000 - n if supergroup else -n)
        chat = FakeChat(
            id=cid,
            type="supergroup" if supergroup else "group",
            title=title,
            is_forum=forum and supergroup,
            bot_status="administrator" if bot_admin else "member",
            next_message_id=2,  # 1 is the service message; also the "General" forum topic
            privacy=privacy,
        )
        for m in members:
            chat.members[m.id] = "member"
        self.chats[cid] = chat
        return chat

    def create_topic(self, chat: FakeChat, name: str) -> int:
        if not chat.is_forum:
            raise ValueError("chat is not a forum")
        mid = chat.new_message_id()
        chat.topics[mid] = name
        return mid

    def block(self, user: FakeUser) -> None:
        user.blocked = True

    def unblock(self, user: FakeUser) -> None:
        user.blocked = False

    def enforce_rate_limits(
        self,
        *,
        chat: tuple[int, float] = (3, 1.0),
        group: tuple[int, float] = (20, 60.0),
        total: tuple[int, float] = (30, 1.0),
    ) -> None:
        """Opt-in flood control like Telegram's: at most ``count`` sent messages per
        ``seconds`` sliding window per chat, per group chat and in total; beyond that the
        send answers 429 with retry_after (no effect). Hits are counted in rate_limit_hits
        (not violations: a bot must cope with 429). Off by default."""
        self._rate = {"chat": chat, "group": group, "total": total}

    def fail_next(self, method: str, kind: str, times: int = 1, *, retry_after: int = 1) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {sorted(FAULT_KINDS)}")
        q = self._faults.setdefault(method.lower(), deque())
        q.extend(Fault(kind, retry_after) for _ in range(times))

    def expect_violation(self, substring: str) -> list[str]:
        """Remove and return violations containing ``substring``; fail if there is none."""
        hit = [v for v in self.violations if substring in v]
        if not hit:
            raise AssertionError(
                f"expected a violation containing {substring!r}, got {self.violations!r}"
            )
        self.violations[:] = [v for v in self.violations if substring not in v]
        return hit

    def assert_no_violations(self) -> None:
        """Raise AssertionError listing unexpected violations (and bugs of the fake itself)."""
        problems = [*self.violations, *(f"FAKE BUG {b}" for b in self.fake_bugs)]
        if problems:
            raise AssertionError("fake Bot API recorded violations:\n  " + "\n  ".join(problems))

    def sent(self, chat_id: int) -> list[BotMessage]:
        return list(self._sent.get(chat_id, []))

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        m = method.lower()
        return [p for name, p in self.calls if name.lower() == m]

    def commands(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]]:
        return list(self._commands.get((self._scope_key(scope), language_code), []))

    def unanswered_callbacks(self) -> list[str]:
        return [q for q in self._delivered_queries() if q not in self.callback_answers]

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        return list(self._updates)

    async def wait_until(
        self, predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition"
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"fake Bot API: timed out after {timeout}s waiting for {what}")
            tick = self._tick
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(tick.wait(), remaining)

    async def wait_for_messages(
        self, chat_id: int, n: int = 1, timeout: float = 5.0
    ) -> list[BotMessage]:
        start = self._read.get(chat_id, 0)
        try:
            await self.wait_until(
                lambda: len(self._sent.get(chat_id, [])) >= start + n,
                timeout,
                f"{n} new bot message(s) in chat {chat_id}",
            )
        except AssertionError as err:
            got = self._sent.get(chat_id, [])[start:]
            raise AssertionError(
                f"{err}; got {len(got)}: {[m.text for m in got]!r}; errors: {self.errors!r}; "
                f"violations: {self.violations!r}"
            ) from None
        self._read[chat_id] = start + n
        return self._sent[chat_id][start : start + n]

    async def wait_for_call(
        self, method: str, n: int = 1, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        await self.wait_until(
            lambda: len(self.calls_to(method)) >= n, timeout, f"{n} call(s) of {method}"
        )
        return self.calls_to(method)[:n]

    # ---- update injection ----------------------------------------------------------
    def push_update(self, kind: str, payload: dict[str, Any]) -> int:
        uid = next(self._update_ids)
        update = {"update_id": uid, kind: payload}
        self.fake_bugs.extend(f"update {uid}: {p}" for p in check_object("Update", update))
        self._updates.append(update)
        self._notify()
        return uid

    def _user_message(
        self,
        user: FakeUser,
        chat: FakeChat | None,
        content: dict[str, Any],
        *,
        thread_id: int | None = None,
        reply_to: int | None = None,
    ) -> int:
        chat = chat or self.chats[user.id]
        if chat.type == "private":
            user.started = True
        else:
            chat.members.setdefault(user.id, "member")
        mid = chat.new_message_id()
        if chat.privacy and not self._addressed_to_bot(chat, content, reply_to):
            # privacy mode: Telegram does not deliver this group message to the bot at all
            chat.messages[mid] = {"message_id": mid, "from": user.to_dict(), **content}
            return 0
        msg: dict[str, Any] = {
            "message_id": mid,
            "from": user.to_dict(),
            "chat": chat.to_dict(),
            "date": int(time.time()),
        }
        if thread_id is not None:
            if thread_id not in chat.topics:
                raise ValueError(f"no topic {thread_id} in chat {chat.id}")
            msg["message_thread_id"] = thread_id
            msg["is_topic_message"] = True
        if reply_to is not None:
            msg["reply_to_message"] = _one_level(chat.messages[reply_to])
        msg.update(content)
        if "caption" in msg and (caption_entities := detect_entities(msg["caption"])):
            msg["caption_entities"] = caption_entities
        chat.messages[mid] = msg
        return self.push_update("message", msg)

    def _addressed_to_bot(
        self, chat: FakeChat, content: dict[str, Any], reply_to: int | None
    ) -> bool:
        text = content.get("text") or content.get("caption") or ""
        if reply_to is not None:
            replied = chat.messages.get(reply_to, {})
            if replied.get("from", {}).get("id") == self.bot_id:
                return True
        for e in detect_entities(text):
            value = text.encode("utf-16-le")[e["offset"] * 2 : (e["offset"] + e["length"]) * 2]
            word = value.decode("utf-16-le")
            if e["type"] == "mention" and word[1:].lower() == self.bot_username.lower():
                return True
            if e["type"] == "bot_command" and (
                "@" not in word or word.split("@", 1)[1].lower() == self.bot_username.lower()
            ):
                return True
        return False

    def send_text(
        self,
        user: FakeUser,
        text: str,
        chat: FakeChat | None = None,
        *,
        thread_id: int | None = None,
        reply_to: int | None = None,
    ) -> int:
        content: dict[str, Any] = {"text": text}
        entities = detect_entities(text)
        if entities:
            content["entities"] = entities
        return self._user_message(user, chat, content, thread_id=thread_id, reply_to=reply_to)

    def _new_file(self, kind: str) -> FileRecord:
        n = next(self._ids)
        rec = FileRecord(f"{kind[:2].upper()}FakeFileId{n:08d}", f"uq{kind[:2]}{n:06d}", kind)
        self.files[rec.file_id] = rec
        return rec

    def send_photo(
        self,
        user: FakeUser,
        chat: FakeChat | None = None,
        *,
        caption: str | None = None,
        thread_id: int | None = None,
    ) -> int:
        rec = self._new_file("photo")
        content: dict[str, Any] = {"photo": self._photo_sizes(rec)}
        if caption is not None:
            content["caption"] = caption
        return self._user_message(user, chat, content, thread_id=thread_id)

    def send_video(
        self,
        user: FakeUser,
        chat: FakeChat | None = None,
        *,
        caption: str | None = None,
        duration: int = 5,
        thread_id: int | None = None,
    ) -> int:
        rec = self._new_file("video")
        content: dict[str, Any] = {"video": self._file_obj(rec, duration=duration)}
        if caption is not None:
            content["caption"] = caption
        return self._user_message(user, chat, content, thread_id=thread_id)

    def send_document(
        self,
        user: FakeUser,
        chat: FakeChat | None = None,
        *,
        file_name: str = "receipt.pdf",
        mime_type: str = "application/pdf",
        caption: str | None = None,
        thread_id: int | None = None,
    ) -> int:
        rec = self._new_file("document")
        doc = self._file_obj(rec)
        doc.update(file_name=file_name, mime_type=mime_type)
        content: dict[str, Any] = {"document": doc}
        if caption is not None:
            content["caption"] = caption
        return self._user_message(user, chat, content, thread_id=thread_id)

    def send_sticker(
        self, user: FakeUser, chat: FakeChat | None = None, *, emoji: str = "\U0001f44d"
    ) -> int:
        rec = self._new_file("sticker")
        sticker = self._file_obj(rec)
        sticker.update(type="regular", is_animated=False, is_video=False, emoji=emoji)
        sticker.update(width=512, height=512)
        return self._user_message(user, chat, {"sticker": sticker})

    def send_location(
        self,
        user: FakeUser,
        chat: FakeChat | None = None,
        *,
        latitude: float = 31.2304,
        longitude: float = 121.4737,
    ) -> int:
        loc = {"latitude": latitude, "longitude": longitude}
        return self._user_message(user, chat, {"location": loc})

    def tap(self, user: FakeUser, message: BotMessage | int | Any, data: str) -> int:
        """``message``: a BotMessage, a message_id in the user's private chat, or any object
        with ``message_id`` and ``chat_id`` (e.g. a ``telegram.Message``)."""
        if isinstance(message, int):
            chat = self.chats[user.id]
            mid = message
        else:
            chat = self.chats[message.chat_id]
            mid = message.message_id
        msg = chat.messages.get(mid)
        if msg is None:
            raise ValueError(f"message {mid} does not exist in chat {chat.id}")
        rows = (msg.get("reply_markup") or {}).get("inline_keyboard") or []
        if not any(b.get("callback_data") == data for row in rows for b in row):
            raise ValueError(f"message {mid} has no inline button with callback_data {data!r}")
        qid = str(4_000_000_000_000_000_000 + next(self._ids))
        query = {
            "id": qid,
            "from": user.to_dict(),
            "message": msg,
            "chat_instance": str(abs(chat.id) * 7 + 13),
            "data": data,
        }
        uid = self.push_update("callback_query", query)
        self.callback_queries[qid] = {"update_id": uid, "user_id": user.id, "data": data}
        return uid

    # ---- internals -----------------------------------------------------------------
    def _notify(self) -> None:
        self._tick.set()
        self._tick = asyncio.Event()

    def _delivered_queries(self) -> list[str]:
        return [
            q for q, rec in self.callback_queries.items() if rec["update_id"] in self._delivered
        ]

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Aftersales Test Bot",
            "username": self.bot_username,
        }

    @staticmethod
    def _file_obj(rec: FileRecord, **extra: Any) -> dict[str, Any]:
        d: dict[str, Any] = {
            "file_id": rec.file_id,
            "file_unique_id": rec.file_unique_id,
            "file_size": rec.size,
        }
        if rec.kind == "video":
            d.update(width=640, height=360, duration=5)
        d.update(extra)
        return d

    @staticmethod
    def _photo_sizes(rec: FileRecord) -> list[dict[str, Any]]:
        return [
            {
                "file_id": rec.file_id,
                "file_unique_id": rec.file_unique_id,
                "width": 800,
                "height": 600,
                "file_size": rec.size,
            }
        ]

    @staticmethod
    def _scope_key(scope: dict[str, Any] | None) -> str:
        return json.dumps(scope or {"type": "default"}, sort_keys=True)

    def _json(self, status: int, body: dict[str, Any]) -> web.Response:
        return web.json_response(body, status=status)

    def _error(self, method: str, err: ApiError) -> web.Response:
        self.errors.append((method, err.status, err.description))
        if err.violation:
            self.violations.append(f"{method}: {err.description}")
        body: dict[str, Any] = {
            "ok": False,
            "error_code": err.status,
            "description": err.description,
        }
        if err.parameters:
            body["parameters"] = err.parameters
        return self._json(err.status, body)

    async def _read_params(self, request: web.Request) -> tuple[dict[str, Any], bool]:
        raw: dict[str, Any] = dict(request.query)
        if request.method not in ("POST", "GET"):
            raise ApiError(405, "Method Not Allowed", violation=True)
        ctype = request.content_type
        if request.method == "POST" and request.can_read_body:
            if ctype == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise _bad("can't parse JSON body", violation=True) from None
                if not isinstance(body, dict):
                    raise _bad("JSON body must be an object", violation=True)
                raw.update(body)
                return raw, False
            if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                post = await request.post()
                raw.update(post)
            elif ctype:
                raise _bad(f"unsupported Content-Type {ctype}", violation=True)
        return raw, True

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.Response(status=401, text="Unauthorized")
        path = request.match_info["path"]
        for rec in self.files.values():
            if f"files/{rec.file_unique_id}" == path:
                return web.Response(body=rec.content)
        return web.Response(status=404, text="Not Found")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method_raw = request.match_info["method"]
        token = request.match_info["token"]
        if token != self.token:
            # Telegram: 404 for a malformed token, 401 for a well-formed but wrong one
            status, text = (401, "Unauthorized") if _TOKEN_RE.match(token) else (404, "Not Found")
            return self._error(method_raw, ApiError(status, text, violation=True))
        ms = self.spec.method(method_raw)
        if ms is None:
            return self._error(method_raw, ApiError(404, "Not Found", violation=True))
        try:
            raw, form = await self._read_params(request)
        except ApiError as err:
            return self._error(ms.name, err)
        check = validate_call(ms, raw, form=form)
        self.violations.extend(e.detail for e in check.errors)
        self.calls.append((ms.name, check.params if not check.errors else raw))
        self._notify()
        if self.latency:
            await asyncio.sleep(self.latency)
        faults = self._faults.get(ms.name.lower())
        fault = faults.popleft() if faults else None
        try:
            if fault is not None:
                return await self._apply_fault(fault, request, ms, check.params, bool(check.errors))
            if check.errors:
                raise _bad(check.errors[0].description)  # already recorded
            sending = self._check_rate(ms.name, check.params)
            result = await self._dispatch(ms, check.params)
            if sending is not None:
                self._record_send(sending)
            self.fake_bugs.extend(f"{ms.name}: {p}" for p in check_result(ms.returns, result))
        except ApiError as err:
            return self._error(ms.name, err)
        finally:
            self._notify()
        return self._json(200, {"ok": True, "result": result})

    async def _dispatch(self, ms: MethodSpec, params: dict[str, Any]) -> Any:
        handler = self._handlers.get(ms.name.lower())
        if handler is not None:
            result = handler(params)
            if asyncio.iscoroutine(result):
                result = await result
            return result
        if ms.returns == ("Boolean",):
            return True
        raise _bad(f"method {ms.name} is not implemented by the fake Bot API", violation=True)

    async def _hang(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), self.hang_seconds)

    async def _apply_fault(
        self,
        fault: Fault,
        request: web.Request,
        ms: MethodSpec,
        params: dict[str, Any],
        invalid: bool,
    ) -> web.StreamResponse:
        kind = {"timeout": "timeout_before", "drop": "drop_before"}.get(fault.kind, fault.kind)
        if kind == "429":
            n = fault.retry_after
            raise ApiError(
                429, f"Too Many Requests: retry after {n}", parameters={"retry_after": n}
            )
        if kind == "500":
            raise ApiError(500, "Internal Server Error")
        if kind == "502":
            raise ApiError(502, "Bad Gateway")
        result: Any = None
        if kind.endswith("_after"):
            if invalid:
                raise _bad("invalid call (see violations)")
            result = await self._dispatch(ms, params)
        if kind.startswith("timeout"):
            await self._hang()
            if result is None:
                raise ApiError(504, "Gateway Timeout")
            return self._json(200, {"ok": True, "result": result})
        # drop: close the connection without writing a response
        self.errors.append((ms.name, 0, f"connection dropped ({kind})"))
        transport = request.transport
        if transport is not None:
            transport.abort()
        raise asyncio.CancelledError

    # ---- flood control (opt-in) ----------------------------------------------------
    _SENDING = frozenset(
        {"sendMessage", "sendPhoto", "sendDocument", "sendVideo", "copyMessage", "forwardMessage"}
    )

    def _check_rate(self, method: str, p: dict[str, Any]) -> int | None:
        """Raise 429 if sending now would exceed a limit; return the chat id of a send."""
        if method not in self._SENDING:
            return None
        chat_id = p.get("chat_id")
        key = chat_id if isinstance(chat_id, int) else None
        if self._rate is None:
            return key
        now = time.monotonic()
        checks = [(key, self._rate["chat"]), (None, self._rate["total"])]
        if isinstance(chat_id, int) and chat_id < 0:
            checks.append((key, self._rate["group"]))
        for k, (count, window) in checks:
            times = [t for t in self._send_times.get(k, deque()) if now - t < window]
            if len(times) >= count:
                self.rate_limit_hits += 1
                wait = max(1, math.ceil(window - (now - times[-count])))
                raise ApiError(
                    429, f"Too Many Requests: retry after {wait}", parameters={"retry_after": wait}
                )
        return key

    def _record_send(self, key: int) -> None:
        now = time.monotonic()
        for k in {key, None}:
            q = self._send_times.setdefault(k, deque(maxlen=1000))
            q.append(now)

    # ---- chat helpers --------------------------------------------------------------
    def _chat(self, chat_id: Any) -> FakeChat:
        if isinstance(chat_id, str):
            if chat_id.startswith("@"):
                for c in self.chats.values():
                    if c.user and c.user.username == chat_id[1:]:
                        return c
            raise _bad("chat not found")
        chat = self.chats.get(chat_id)
        if chat is None:
            raise _bad("chat not found")
        return chat

    def _target(self, chat_id: Any) -> FakeChat:
        """A chat the bot wants to send to: applies Telegram's 403 rules."""
        chat = self._chat(chat_id)
        if chat.type == "private":
            assert chat.user is not None
            if chat.user.blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if not chat.user.started:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        elif chat.bot_status == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {chat.type} chat")
        return chat

    @staticmethod
    def _thread(chat: FakeChat, thread_id: int | None) -> int | None:
        if thread_id is None or (thread_id == 1 and chat.is_forum):
            return None  # General topic
        if not chat.is_forum or thread_id not in chat.topics:
            raise _bad("message thread not found")
        return thread_id

    def _formatted(
        self, text: str, parse_mode: str | None, entities: list[dict[str, Any]] | None
    ) -> tuple[str, list[dict[str, Any]]]:
        if parse_mode:
            try:
                return parse_text(text, parse_mode)
            except EntityParseError as err:
                raise _bad(f"can't parse entities: {err}", violation=True) from None
        return text.strip(), list(entities or [])

    def _store_bot_message(
        self,
        chat: FakeChat,
        method: str,
        params: dict[str, Any],
        content: dict[str, Any],
        *,
        visible: str | None,
        raw_text: str | None,
        entities: list[dict[str, Any]],
        media: str | None = None,
        file_id: str | None = None,
    ) -> dict[str, Any]:
        thread = self._thread(chat, params.get("message_thread_id"))
        reply_to: int | None = None
        rp = params.get("reply_parameters")
        if rp is not None:
            target = self._chat(rp["chat_id"]) if "chat_id" in rp else chat
            if rp["message_id"] in target.messages:
                reply_to = rp["message_id"] if target is chat else None
            elif not rp.get("allow_sending_without_reply"):
                raise _bad("message to be replied not found")
        markup = params.get("reply_markup")
        mid = chat.new_message_id()
        msg: dict[str, Any] = {
            "message_id": mid,
            "from": self._bot_user(),
            "chat": chat.to_dict(),
            "date": int(time.time()),
        }
        if thread is not None:
            msg["message_thread_id"] = thread
            msg["is_topic_message"] = True
        if reply_to is not None:
            msg["reply_to_message"] = _one_level(chat.messages[reply_to])
        msg.update(content)
        if markup is not None and "inline_keyboard" in markup:
            msg["reply_markup"] = markup
        chat.messages[mid] = msg
        bm = BotMessage(
            chat_id=chat.id,
            message_id=mid,
            method=method,
            text=visible,
            raw_text=raw_text,
            parse_mode=params.get("parse_mode"),
            entities=entities,
            reply_markup=markup,
            thread_id=thread,
            reply_to=reply_to,
            media=media,
            file_id=file_id,
            params=params,
        )
        self._sent.setdefault(chat.id, []).append(bm)
        return msg

    def _bot_message(self, chat: FakeChat, mid: int) -> BotMessage | None:
        for bm in self._sent.get(chat.id, []):
            if bm.message_id == mid:
                return bm
        return None

    def _message_for_edit(self, p: dict[str, Any]) -> tuple[FakeChat, dict[str, Any]]:
        if "inline_message_id" in p:
            raise _bad("MESSAGE_ID_INVALID")
        if "chat_id" not in p or "message_id" not in p:
            raise _bad("message identifier is not specified", violation=True)
        chat = self._chat(p["chat_id"])
        msg = chat.messages.get(p["message_id"])
        if msg is None:
            raise _bad("message to edit not found")
        if msg["from"]["id"] != self.bot_id:
            raise _bad("message can't be edited")
        return chat, msg

    # ---- methods (``_m_<lowercase name>``) -----------------------------------------
    def _m_getme(self, p: dict[str, Any]) -> dict[str, Any]:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _m_logout(self, p: dict[str, Any]) -> bool:
        self.logged_out = True
        return True

    def _m_close(self, p: dict[str, Any]) -> bool:
        self.closed = True
        return True

    def _set_allowed(self, allowed: list[str] | None) -> None:
        if allowed is None:
            return
        unknown = [a for a in allowed if a not in ALL_UPDATE_KINDS]
        if unknown:  # Telegram silently ignores them; for us it is a bug in the bot
            self.violations.append(f"allowed_updates: unknown update types {unknown}")
        self._allowed = set(allowed) if allowed else set(DEFAULT_ALLOWED)

    def _m_setwebhook(self, p: dict[str, Any]) -> bool:
        url = p["url"]
        if not url:
            return self._m_deletewebhook(p)
        parts = urlsplit(url)
        local_http = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost")
        if parts.scheme != "https" and not local_http:
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook", violation=True)
        secret = p.get("secret_token")
        if secret is not None and not _SECRET_RE.match(secret):
            raise _bad("secret token contains unallowed characters", violation=True)
        self._set_allowed(p.get("allowed_updates"))
        if p.get("drop_pending_updates"):
            self._updates.clear()
        self._webhook = _Webhook(url, secret, p.get("max_connections", 40))
        self._poll_generation += 1  # terminates a running long poll
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.get_running_loop().create_task(self._webhook_loop())
        return True

    def _m_deletewebhook(self, p: dict[str, Any]) -> bool:
        self._webhook = None
        if p.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _m_getwebhookinfo(self, p: dict[str, Any]) -> dict[str, Any]:
        wh = self._webhook
        info: dict[str, Any] = {
            "url": wh.url if wh else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if wh:
            info["max_connections"] = wh.max_connections
            if wh.last_error:
                info["last_error_message"] = wh.last_error
                info["last_error_date"] = wh.last_error_date
        return info

    async def _webhook_loop(self) -> None:
        if self._session is None:
            self._session = ClientSession(timeout=ClientTimeout(total=5))
        in_flight: dict[int, asyncio.Task[None]] = {}
        try:
            while not self._stopping.is_set():
                wh = self._webhook
                if wh is None:
                    return
                ready = [u for u in self._updates if self._kind(u) in self._allowed]
                self._updates[:] = ready
                fresh = [u for u in ready if u["update_id"] not in in_flight]
                room = max(1, min(self.webhook_parallel, wh.max_connections)) - len(in_flight)
                if not fresh or room <= 0:
                    tick = self._tick
                    await tick.wait()
                    continue
                if self.webhook_parallel <= 1:
                    await self._deliver(wh, fresh[0])
                    continue
                for update in fresh[:room]:
                    uid = update["update_id"]
                    task = asyncio.get_running_loop().create_task(self._deliver(wh, update))
                    in_flight[uid] = task
                    task.add_done_callback(lambda _t, uid=uid: in_flight.pop(uid, None))
        finally:
            for task in list(in_flight.values()):
                task.cancel()

    async def _deliver(self, wh: _Webhook, update: dict[str, Any]) -> None:
        """POSTs one update to the webhook, retrying like Telegram (5 attempts here)."""
        assert self._session is not None
        headers = {}
        if wh.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = wh.secret_token
        status: int | None = None
        error: str | None = None
        for attempt in range(5):
            try:
                async with self._session.post(wh.url, json=update, headers=headers) as resp:
                    status = resp.status
                    await resp.read()
                error = (
                    None if 200 <= status < 300 else f"Wrong response from the webhook: {status}"
                )
            except (OSError, TimeoutError, Exception) as exc:
                status, error = None, f"Connection failed: {type(exc).__name__}"
            if error is None or self._webhook is not wh:
                break
            wh.last_error, wh.last_error_date = error, int(time.time())
            await asyncio.sleep(0.05 * (attempt + 1))
        self.webhook_deliveries.append(
            WebhookDelivery(update["update_id"], status, error, wh.secret_token)
        )
        if error is None:
            self._delivered.add(update["update_id"])
        if update in self._updates:
            self._updates.remove(update)
        self._notify()

    @staticmethod
    def _kind(update: dict[str, Any]) -> str:
        return next(k for k in update if k != "update_id")

    async def _m_getupdates(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        if self._webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = p.get("offset")
        limit = min(max(p.get("limit", 100), 1), 100)
        timeout = max(p.get("timeout", 0), 0)
        self._set_allowed(p.get("allowed_updates"))
        if offset is not None:
            if offset < 0:
                self._updates[:] = self._updates[offset:]
            else:
                self._updates[:] = [u for u in self._updates if u["update_id"] >= offset]
        self._poll_generation += 1
        generation = self._poll_generation
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._updates[:] = [u for u in self._updates if self._kind(u) in self._allowed]
            if self._updates or self._stopping.is_set():
                break
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            tick = self._tick
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(tick.wait(), remaining)
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
        batch = self._updates[:limit]
        self._delivered.update(u["update_id"] for u in batch)
        return batch

    def _m_sendmessage(self, p: dict[str, Any]) -> dict[str, Any]:
        chat = self._target(p["chat_id"])
        text, entities = self._formatted(p["text"], p.get("parse_mode"), p.get("entities"))
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        return self._store_bot_message(
            chat, "sendMessage", p, content, visible=text, raw_text=p["text"], entities=entities
        )

    def _send_media(self, p: dict[str, Any], kind: str, method: str) -> dict[str, Any]:
        chat = self._target(p["chat_id"])
        value = p[kind]
        if not isinstance(value, str):  # uploaded file
            rec = self._new_file(kind)
        elif value.startswith("attach://"):
            raise _bad(f"attach:// is only allowed inside InputMedia ({kind})", violation=True)
        elif value.startswith(("http://", "https://")):
            rec = self._new_file(kind)
        else:
            found = self.files.get(value)
            if found is None:
                raise _bad("wrong file identifier/HTTP URL specified")
            if found.kind != kind:
                raise _bad(f"can't use file of type {found.kind.title()} as {kind.title()}")
            rec = found
        content: dict[str, Any] = {
            kind: self._photo_sizes(rec) if kind == "photo" else self._file_obj(rec)
        }
        caption: str = ""
        entities: list[dict[str, Any]] = []
        if p.get("caption"):
            caption, entities = self._formatted(
                p["caption"], p.get("parse_mode"), p.get("caption_entities")
            )
            if caption:
                content["caption"] = caption
            if entities:
                content["caption_entities"] = entities
        return self._store_bot_message(
            chat,
            method,
            p,
            content,
            visible=caption or None,
            raw_text=p.get("caption"),
            entities=entities,
            media=kind,
            file_id=rec.file_id,
        )

    def _m_sendphoto(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._send_media(p, "photo", "sendPhoto")

    def _m_senddocument(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._send_media(p, "document", "sendDocument")

    def _m_sendvideo(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._send_media(p, "video", "sendVideo")

    def _m_editmessagetext(self, p: dict[str, Any]) -> dict[str, Any]:
        chat, msg = self._message_for_edit(p)
        if "text" not in msg:
            raise _bad("there is no text in the message to edit")
        text, entities = self._formatted(p["text"], p.get("parse_mode"), p.get("entities"))
        markup = p.get("reply_markup")
        if markup is not None and "inline_keyboard" not in markup:
            raise _bad("inline keyboard expected", violation=True)
        same = (
            msg["text"] == text
            and msg.get("entities", []) == entities
            and msg.get("reply_markup") == markup
        )
        if same:
            raise _bad(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        msg["text"] = text
        msg.pop("entities", None)
        if entities:
            msg["entities"] = entities
        self._set_markup(msg, markup)
        msg["edit_date"] = int(time.time())
        bm = self._bot_message(chat, msg["message_id"])
        if bm is not None:
            bm.text, bm.raw_text, bm.entities = text, p["text"], entities
            bm.parse_mode = p.get("parse_mode")
            bm.reply_markup = markup
            bm.edits.append(("editMessageText", p))
        return msg

    @staticmethod
    def _set_markup(msg: dict[str, Any], markup: dict[str, Any] | None) -> None:
        if markup and markup.get("inline_keyboard"):
            msg["reply_markup"] = markup
        else:
            msg.pop("reply_markup", None)

    def _m_editmessagereplymarkup(self, p: dict[str, Any]) -> dict[str, Any]:
        chat, msg = self._message_for_edit(p)
        markup = p.get("reply_markup")
        if markup is not None and "inline_keyboard" not in markup:
            raise _bad("inline keyboard expected", violation=True)
        current = msg.get("reply_markup")
        new = markup if markup and markup.get("inline_keyboard") else None
        if current == new:
            raise _bad(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        self._set_markup(msg, markup)
        msg["edit_date"] = int(time.time())
        bm = self._bot_message(chat, msg["message_id"])
        if bm is not None:
            bm.reply_markup = new
            bm.edits.append(("editMessageReplyMarkup", p))
        return msg

    def _m_editmessagecaption(self, p: dict[str, Any]) -> dict[str, Any]:
        chat, msg = self._message_for_edit(p)
        if "text" in msg:
            raise _bad("there is no caption in the message to edit")
        caption, entities = self._formatted(
            p.get("caption", ""), p.get("parse_mode"), p.get("caption_entities")
        )
        markup = p.get("reply_markup")
        if markup is not None and "inline_keyboard" not in markup:
            raise _bad("inline keyboard expected", violation=True)
        if (
            msg.get("caption", "") == caption
            and msg.get("caption_entities", []) == entities
            and msg.get("reply_markup") == markup
        ):
            raise _bad(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        msg.pop("caption", None)
        msg.pop("caption_entities", None)
        if caption:
            msg["caption"] = caption
        if entities:
            msg["caption_entities"] = entities
        self._set_markup(msg, markup)
        msg["edit_date"] = int(time.time())
        bm = self._bot_message(chat, msg["message_id"])
        if bm is not None:
            bm.text, bm.raw_text, bm.entities = caption or None, p.get("caption"), entities
            bm.parse_mode = p.get("parse_mode")
            bm.reply_markup = markup
            bm.edits.append(("editMessageCaption", p))
        return msg

    def _m_deletemessage(self, p: dict[str, Any]) -> bool:
        chat = self._chat(p["chat_id"])
        msg = chat.messages.pop(p["message_id"], None)
        if msg is None:
            raise _bad("message to delete not found")
        bm = self._bot_message(chat, p["message_id"])
        if bm is not None:
            bm.deleted = True
        return True

    def _m_answercallbackquery(self, p: dict[str, Any]) -> bool:
        qid = p["callback_query_id"]
        rec = self.callback_queries.get(qid)
        if rec is None or rec["update_id"] not in self._delivered or qid in self.callback_answers:
            raise _bad(
                "query is too old and response timeout expired or query ID is invalid",
                violation=True,
            )
        self.callback_answers[qid] = p
        return True

    def _m_setmycommands(self, p: dict[str, Any]) -> bool:
        cmds = p["commands"]
        if len(cmds) > 100:
            raise _bad("too many commands (at most 100)", violation=True)
        names = [c["command"] for c in cmds]
        if len(set(names)) != len(names):
            raise _bad("BOT_COMMAND_DUPLICATE", violation=True)
        lang = p.get("language_code", "")
        if not _LANG_RE.match(lang):
            raise _bad("invalid language code (two-letter ISO 639-1 expected)", violation=True)
        self._commands[(self._scope_key(p.get("scope")), lang)] = cmds
        return True

    def _m_getmycommands(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        return self.commands(p.get("scope"), p.get("language_code", ""))

    def _m_deletemycommands(self, p: dict[str, Any]) -> bool:
        self._commands.pop((self._scope_key(p.get("scope")), p.get("language_code", "")), None)
        return True

    def _source_message(self, p: dict[str, Any], what: str) -> dict[str, Any]:
        src_chat = self._chat(p["from_chat_id"])
        msg = src_chat.messages.get(p["message_id"])
        if msg is None:
            raise _bad(f"message to {what} not found")
        return msg

    def _m_copymessage(self, p: dict[str, Any]) -> dict[str, Any]:
        src = self._source_message(p, "copy")
        chat = self._target(p["chat_id"])
        content: dict[str, Any] = {}
        media = None
        for key in ("text", "entities", "photo", "video", "document", "sticker", "location"):
            if key in src:
                content[key] = src[key]
                if key not in ("text", "entities"):
                    media = key
        visible = src.get("text") or src.get("caption")
        entities = list(src.get("entities", src.get("caption_entities", [])))
        if "caption" in p:
            visible, entities = self._formatted(
                p["caption"], p.get("parse_mode"), p.get("caption_entities")
            )
        if media and visible:
            content["caption"] = visible
            if entities:
                content["caption_entities"] = entities
        msg = self._store_bot_message(
            chat,
            "copyMessage",
            p,
            content,
            visible=visible,
            raw_text=visible,
            entities=entities,
            media=media,
        )
        return {"message_id": msg["message_id"]}

    def _m_forwardmessage(self, p: dict[str, Any]) -> dict[str, Any]:
        src = self._source_message(p, "forward")
        chat = self._target(p["chat_id"])
        content = {
            k: v
            for k, v in src.items()
            if k in ("text", "entities", "photo", "video", "document", "sticker", "location")
            or k in ("caption", "caption_entities")
        }
        content["forward_origin"] = {
            "type": "user",
            "date": src["date"],
            "sender_user": src["from"],
        }
        visible = src.get("text") or src.get("caption")
        return self._store_bot_message(
            chat,
            "forwardMessage",
            p,
            content,
            visible=visible,
            raw_text=visible,
            entities=list(src.get("entities", [])),
        )

    def _m_createforumtopic(self, p: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(p["chat_id"])
        if not chat.is_forum:
            raise _bad("the chat is not a forum")
        if chat.bot_status != "administrator" or not chat.can_manage_topics:
            raise _bad("not enough rights to create a topic")
        color = p.get("icon_color", 7322096)
        if color not in TOPIC_COLORS:
            raise _bad("TOPIC_ICON_COLOR_INVALID", violation=True)
        tid = self.create_topic(chat, p["name"])
        topic: dict[str, Any] = {"message_thread_id": tid, "name": p["name"], "icon_color": color}
        if "icon_custom_emoji_id" in p:
            topic["icon_custom_emoji_id"] = p["icon_custom_emoji_id"]
        chat.messages[tid] = {
            "message_id": tid,
            "from": self._bot_user(),
            "chat": chat.to_dict(),
            "date": int(time.time()),
            "message_thread_id": tid,
            "forum_topic_created": {"name": p["name"], "icon_color": color},
        }
        return topic

    def _m_getchat(self, p: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(p["chat_id"])
        info = chat.to_dict()
        info.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        )
        if chat.user and chat.user.language_code is not None:
            pass  # Telegram does not expose language_code in getChat
        return info

    def _m_getchatmember(self, p: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(p["chat_id"])
        uid = p["user_id"]
        if uid == self.bot_id:
            if chat.bot_status == "administrator":
                return self._admin_member(self._bot_user())
            status = "kicked" if chat.bot_status == "kicked" else "member"
            return self._member(status, self._bot_user())
        user = self.users.get(uid)
        if user is None:
            raise _bad("user not found")
        if chat.type == "private":
            status = "member" if chat.id == uid else "left"
        else:
            status = chat.members.get(uid, "left")
        if status == "administrator":
            return self._admin_member(user.to_dict())
        return self._member(status, user.to_dict())

    @staticmethod
    def _member(status: str, user: dict[str, Any]) -> dict[str, Any]:
        d: dict[str, Any] = {"status": status, "user": user}
        if status == "creator":
            d["is_anonymous"] = False
        if status == "kicked":
            d["until_date"] = 0
        return d

    @staticmethod
    def _admin_member(user: dict[str, Any]) -> dict[str, Any]:
        d: dict[str, Any] = {"status": "administrator", "user": user}
        for flag in (
            "can_be_edited",
            "is_anonymous",
            "can_post_stories",
            "can_edit_stories",
            "can_delete_stories",
            "can_promote_members",
            "can_change_info",
        ):
            d[flag] = False
        for flag in (
            "can_manage_chat",
            "can_delete_messages",
            "can_manage_video_chats",
            "can_restrict_members",
            "can_invite_users",
            "can_manage_topics",
        ):
            d[flag] = True
        return d

    def _m_sendchataction(self, p: dict[str, Any]) -> bool:
        chat = self._target(p["chat_id"])
        if p["action"] not in CHAT_ACTIONS:
            raise _bad("wrong parameter action in request", violation=True)
        self._thread(chat, p.get("message_thread_id"))
        return True

    def _m_getfile(self, p: dict[str, Any]) -> dict[str, Any]:
        rec = self.files.get(p["file_id"])
        if rec is None:
            raise _bad("invalid file_id")
        return {
            "file_id": rec.file_id,
            "file_unique_id": rec.file_unique_id,
            "file_size": rec.size,
            "file_path": f"files/{rec.file_unique_id}",
        }


async def started_server(**kwargs: Any) -> AsyncIterator[FakeBotAPI]:
    """Async generator used by the ``bot_api`` fixture: yields a started server, stops it."""
    server = FakeBotAPI(**kwargs)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def check_result(type_names: tuple[str, ...], result: Any) -> list[str]:
    """Check a result the fake returned against the method's spec return type(s)."""
    problems: list[str] = []
    for t in type_names:
        if t.startswith("Array of ") and isinstance(result, list):
            inner = t[len("Array of ") :]
            return [p for item in result for p in check_object(inner, item)]
        if t in ("Boolean",) and isinstance(result, bool):
            return []
        if t in ("Integer", "String") and isinstance(result, int | str):
            return []
        problems = check_object(t, result)
        if not problems:
            return []
    return problems
