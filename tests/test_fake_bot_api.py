"""Tests for the strict fake Telegram Bot API (tests/fakes/bot_api.py).

Drives the fake with a real python-telegram-bot ``Bot``/``Application`` and raw aiohttp calls.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyParameters,
    Update,
)
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import CallbackQueryHandler, CommandHandler, ContextTypes

from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.spec import (
    EntityParseError,
    load_spec,
    parse_html,
    parse_markdown,
    parse_text,
)

USER_ID = 1001


def kb(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(d, callback_data=d) for d in data]])


@pytest.fixture
async def bot(bot_api: FakeBotAPI) -> AsyncIterator[Any]:
    b = bot_api.bot()
    async with b:
        yield b


@pytest.fixture
def alice(bot_api: FakeBotAPI) -> Any:
    u = bot_api.user(USER_ID, "Alice")
    u.send_text("/start")
    return u


async def raw_call(
    server: FakeBotAPI,
    method: str,
    *,
    data: Any = None,
    json_body: Any = None,
    token: str | None = None,
    http: str = "POST",
    params: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    url = f"{server.base_url}{token or server.token}/{method}"
    async with (
        aiohttp.ClientSession() as s,
        s.request(http, url, data=data, json=json_body, params=params) as r,
    ):
        return r.status, await r.json()


# ---- spec & parsers ---------------------------------------------------------------------


def test_spec_is_parsed_once_and_is_case_insensitive() -> None:
    assert load_spec() is load_spec()
    spec = load_spec()
    assert spec.version == "Bot API 10.0"
    assert spec.method("SENDMESSAGE") is spec.method("sendMessage") is not None
    text = spec.methods["sendmessage"].fields["text"]
    assert text.required and text.limit == (1, 4096, "characters") and text.after_entities
    button = spec.types["InlineKeyboardButton"].fields["callback_data"]
    assert button.limit == (1, 64, "bytes")


def test_html_parser_visible_text_and_utf16_entities() -> None:
    text, ents = parse_html('<b>hi</b> &lt;x&gt; &amp; 😀<a href="http://e.x/?a=1&amp;b=2">l</a>')
    assert text == "hi <x> & 😀l"
    assert ents == [
        {"type": "bold", "offset": 0, "length": 2},
        {"type": "text_link", "offset": 11, "length": 1, "url": "http://e.x/?a=1&b=2"},
    ]
    text, ents = parse_html(
        '<pre><code class="language-py">x</code></pre><span class="tg-spoiler">s</span>'
        "<tg-spoiler>t</tg-spoiler><blockquote expandable>q</blockquote>&#20013;"
    )
    assert text == "xstq中"
    assert [e["type"] for e in ents] == ["pre", "spoiler", "spoiler", "expandable_blockquote"]
    assert ents[0]["language"] == "py"


@pytest.mark.parametrize(
    ("html", "fragment"),
    [
        ("<b>x", "Can't find end tag"),
        ("a < b", "Unsupported start tag"),
        ("<b>x</i>", "Unmatched end tag"),
        ("x</b>", "Unexpected end tag"),
        ("&nbsp;", "Unsupported HTML entity"),
        ("<span>x</span>", "tg-spoiler"),
        ("<br/>", 'Unsupported start tag "br"'),
        ("<p>x</p>", 'Unsupported start tag "p"'),
        ('<a href="x>y</a>', "Unclosed start tag"),
        ("<tg-emoji>x</tg-emoji>", "emoji-id"),
    ],
)
def test_html_parser_rejects_what_telegram_rejects(html: str, fragment: str) -> None:
    with pytest.raises(EntityParseError, match=fragment):
        parse_html(html)


def test_markdown_v2_parser() -> None:
    text, ents = parse_markdown(r"*b* _i_ __u__ ~s~ ||p|| `c` [l](http://x) 1\.5\!", v2=True)
    assert text == "b i u s p c l 1.5!"
    assert [e["type"] for e in ents] == [
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "code",
        "text_link",
    ]
    for bad in ("1.5", "*open", "a-b", "(x)"):
        with pytest.raises(EntityParseError):
            parse_markdown(bad, v2=True)
    assert parse_text("*b* 1.5", "Markdown")[0] == "b 1.5"
    with pytest.raises(EntityParseError, match="parse_mode"):
        parse_text("x", "BBCode")


# ---- routing & bodies ---------------------------------------------------------------------


async def test_get_me_and_method_names_are_case_insensitive(bot_api: FakeBotAPI) -> None:
    status, body = await raw_call(bot_api, "GETME", http="GET")
    assert status == 200 and body["ok"] and body["result"]["is_bot"] is True
    status, body = await raw_call(bot_api, "getme")
    assert status == 200 and body["result"]["username"] == bot_api.bot_username


async def test_wrong_token_is_401_and_malformed_token_is_404(bot_api: FakeBotAPI) -> None:
    status, body = await raw_call(bot_api, "getMe", token="1:" + "x" * 35)
    assert (status, body["description"]) == (401, "Unauthorized")
    status, body = await raw_call(bot_api, "getMe", token="nonsense")
    assert (status, body["description"]) == (404, "Not Found")
    assert len(bot_api.expect_violation("getMe")) == 2


async def test_unknown_method_is_404_violation(bot_api: FakeBotAPI, bot: Any) -> None:
    status, body = await raw_call(bot_api, "sendMessages", data={"chat_id": "1"})
    assert status == 404 and body == {"ok": False, "error_code": 404, "description": "Not Found"}
    with pytest.raises(EndPointNotFound):  # PTB's mapping of Telegram's 404
        await bot.do_api_request("frobnicate")
    assert len(bot_api.expect_violation("Not Found")) == 2


async def test_json_query_and_multipart_bodies(bot_api: FakeBotAPI, alice: Any) -> None:
    markup = {"inline_keyboard": [[{"text": "ok", "callback_data": "ok"}]]}
    status, body = await raw_call(
        bot_api, "sendMessage", json_body={"chat_id": USER_ID, "text": "j", "reply_markup": markup}
    )
    assert status == 200, body
    assert body["result"]["reply_markup"] == markup
    status, body = await raw_call(
        bot_api, "sendMessage", http="GET", params={"chat_id": str(USER_ID), "text": "q"}
    )
    assert status == 200, body
    form = aiohttp.FormData()
    form.add_field("chat_id", str(USER_ID))
    form.add_field("caption", "<i>receipt</i>")
    form.add_field("parse_mode", "HTML")
    form.add_field("document", b"%PDF-1.4 fake", filename="r.pdf")
    status, body = await raw_call(bot_api, "sendDocument", data=form)
    assert status == 200, body
    assert body["result"]["caption"] == "receipt"
    assert [m.text for m in bot_api.sent(USER_ID)] == ["j", "q", "receipt"]
    assert bot_api.sent(USER_ID)[2].media == "document"


# ---- valid calls with a real PTB Bot --------------------------------------------------------


async def test_valid_calls_pass_and_results_match_spec(
    bot_api: FakeBotAPI, bot: Any, alice: Any
) -> None:
    m1 = await bot.send_message(
        USER_ID, "<b>你好</b> &amp; hi", parse_mode="HTML", reply_markup=kb("a", "b")
    )
    assert m1.text == "你好 & hi" and m1.entities[0].type == "bold"
    assert m1.reply_markup == kb("a", "b")
    m2 = await bot.send_message(
        USER_ID, "reply", reply_parameters=ReplyParameters(message_id=m1.message_id)
    )
    assert m2.reply_to_message is not None and m2.reply_to_message.message_id == m1.message_id
    edited = await bot.edit_message_text("changed", USER_ID, m1.message_id, reply_markup=kb("c"))
    assert edited.text == "changed" and edited.edit_date is not None
    await bot.edit_message_reply_markup(USER_ID, m1.message_id, reply_markup=kb("d"))
    assert bot_api.sent(USER_ID)[0].callback_data() == ["d"]
    assert await bot.set_my_commands([BotCommand("start", "开始"), BotCommand("help_me", "帮助")])
    assert await bot.set_my_commands([BotCommand("start", "start")], language_code="en")
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help_me"]
    assert [c.command for c in await bot.get_my_commands(language_code="en")] == ["start"]
    assert await bot.send_chat_action(USER_ID, "typing")
    chat = await bot.get_chat(USER_ID)
    assert chat.id == USER_ID and chat.type == "private"
    member = await bot.get_chat_member(USER_ID, USER_ID)
    assert member.status == "member"
    copy_id = await bot.copy_message(USER_ID, USER_ID, m2.message_id)
    fwd = await bot.forward_message(USER_ID, USER_ID, m2.message_id)
    assert fwd.forward_origin is not None and fwd.text == "reply"
    assert copy_id.message_id == fwd.message_id - 1
    assert await bot.delete_message(USER_ID, m2.message_id)
    assert await bot.close() and await bot.log_out()
    assert bot_api.fake_bugs == []


async def test_media_by_file_id(bot_api: FakeBotAPI, bot: Any, alice: Any) -> None:
    alice.send_photo(caption="box")
    alice.send_video()
    alice.send_document()
    alice.send_sticker()
    alice.send_location()
    updates = await bot.get_updates()
    msgs = [u.message for u in updates]
    assert msgs[1].photo and msgs[1].caption == "box"
    assert msgs[2].video and msgs[3].document and msgs[4].sticker and msgs[5].location
    photo_id = msgs[1].photo[-1].file_id
    sent = await bot.send_photo(USER_ID, photo_id, caption="<b>again</b>", parse_mode="HTML")
    assert sent.photo[-1].file_id == photo_id and sent.caption == "again"
    await bot.send_video(USER_ID, msgs[2].video.file_id)
    await bot.send_document(USER_ID, msgs[3].document.file_id)
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
        await bot.send_photo(USER_ID, "AgADnotAFileId")
    with pytest.raises(BadRequest, match=r"(?i)can't use file of type Video as Photo"):
        await bot.send_photo(USER_ID, msgs[2].video.file_id)
    f = await bot.get_file(photo_id)
    assert await f.download_as_bytearray() == bytearray(b"fake file content")
    assert [m.media for m in bot_api.sent(USER_ID)] == ["photo", "video", "document"]


async def test_forum_topics_and_groups(bot_api: FakeBotAPI, bot: Any) -> None:
    staff = bot_api.user(2001, "Staff")
    group = bot_api.group("Support", forum=True, members=(staff,))
    topic = await bot.create_forum_topic(group.id, "Case 1")
    m = await bot.send_message(group.id, "new case", message_thread_id=topic.message_thread_id)
    assert m.message_thread_id == topic.message_thread_id and m.is_topic_message
    with pytest.raises(BadRequest, match=r"(?i)message thread not found"):
        await bot.send_message(group.id, "x", message_thread_id=999)
    plain = bot_api.group("Plain")
    with pytest.raises(BadRequest, match=r"(?i)not a forum"):
        await bot.create_forum_topic(plain.id, "x")
    uid = bot_api.send_text(staff, "/note hi", group, thread_id=topic.message_thread_id)
    (update,) = await bot.get_updates()
    assert update.update_id == uid and update.message.message_thread_id == topic.message_thread_id
    assert update.message.entities[0].type == "bot_command"
    staff.send_text(f"😀 hi @{bot_api.bot_username} see https://x.y/z /help", group)
    (update,) = await bot.get_updates(offset=uid + 1)
    found = {e.type: v for e, v in update.message.parse_entities().items()}
    assert found == {
        "mention": f"@{bot_api.bot_username}",
        "url": "https://x.y/z",
        "bot_command": "/help",
    }
    assert (await bot.get_chat_member(group.id, staff.id)).status == "member"
    assert (await bot.get_chat_member(group.id, bot.id)).status == "administrator"
    got = await bot_api.wait_for_messages(group.id, 1)
    assert got[0].thread_id == topic.message_thread_id


async def test_private_chat_rules_403(bot_api: FakeBotAPI, bot: Any) -> None:
    stranger = bot_api.user(3001, "Bob")
    with pytest.raises(Forbidden, match=r"(?i)can't initiate conversation"):
        await bot.send_message(stranger.id, "hi")
    stranger.send_text("hello")
    await bot.send_message(stranger.id, "hi")
    bot_api.block(stranger)
    with pytest.raises(Forbidden, match=r"(?i)blocked by the user"):
        await bot.send_message(stranger.id, "hi again")
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(-42, "x")
    assert [m.text for m in bot_api.sent(stranger.id)] == ["hi"]
    assert bot_api.violations == []  # runtime conditions, not protocol violations


async def test_edit_semantics(bot_api: FakeBotAPI, bot: Any, alice: Any) -> None:
    m = await bot.send_message(USER_ID, "t", reply_markup=kb("a"))
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("t", USER_ID, m.message_id, reply_markup=kb("a"))
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_reply_markup(USER_ID, m.message_id, reply_markup=kb("a"))
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", USER_ID, 999)
    with pytest.raises(BadRequest, match=r"(?i)message can't be edited"):
        await bot.edit_message_text("x", USER_ID, 1)  # alice's /start
    # editing the text without reply_markup removes the inline keyboard, like Telegram
    await bot.edit_message_text("t2", USER_ID, m.message_id)
    assert bot_api.sent(USER_ID)[0].reply_markup is None
    assert bot_api.sent(USER_ID)[0].text == "t2"
    assert len(bot_api.sent(USER_ID)[0].edits) == 1


# ---- violations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "answer", "violation"),
    [
        ({"text": "x", "colour": "red"}, 'unknown parameter "colour"', "unknown parameter"),
        ({}, 'parameter "text" is required', 'missing required parameter "text"'),
        ({"text": "x", "disable_notification": "maybe"}, "Boolean", "disable_notification"),
        ({"text": "x", "message_thread_id": "abc"}, "Integer", "message_thread_id"),
        ({"text": "x" * 4097}, "message is too long", "4097 characters"),
        ({"text": "   "}, "message text is empty", "text"),
        ({"text": "<b>x", "parse_mode": "HTML"}, "can't parse entities", "Can't find end tag"),
        ({"text": "a &nbsp; b", "parse_mode": "HTML"}, "can't parse entities", "&nbsp;"),
        ({"text": "1.5", "parse_mode": "MarkdownV2"}, "can't parse entities", "reserved"),
        (
            {"text": "x", "reply_markup": json.dumps({"inline_keyboard": [[{"text": "b"}]]})},
            "Text buttons are unallowed",
            "InlineKeyboardButton",
        ),
        (
            {"text": "x", "reply_markup": json.dumps({"inline_keyboard": [[{"data": "b"}]]})},
            "",
            "inline_keyboard[0][0]",
        ),
        (
            {"text": "x", "reply_markup": json.dumps({"inline_keyboard": "nope"})},
            "",
            "reply_markup",
        ),
        ({"text": "x", "reply_markup": "{not json"}, "can't parse reply_markup", "JSON"),
        (
            {"text": "x", "reply_markup": json.dumps(kb("y" * 65).to_dict())},
            "BUTTON_DATA_INVALID",
            "65 bytes",
        ),
        (  # 22 CJK characters = 66 UTF-8 bytes: the limit is in bytes
            {"text": "x", "reply_markup": json.dumps(kb("退" * 22).to_dict())},
            "BUTTON_DATA_INVALID",
            "66 bytes",
        ),
        (
            {"text": "x", "reply_markup": json.dumps(kb("").to_dict())},
            "BUTTON_TEXT_INVALID",
            "text must not be empty",
        ),
        (
            {
                "text": "x",
                "reply_markup": json.dumps({"inline_keyboard": [[{"text": "b", "url": "x"}]]}),
            },
            "Wrong HTTP URL",
            "url",
        ),
        (
            {"text": "x", "reply_markup": json.dumps(kb(*[str(i) for i in range(101)]).to_dict())},
            "reply markup is too long",
            "101 buttons",
        ),
        (
            {"text": "x", "reply_parameters": json.dumps({"chat_id": 1})},
            "message_id",
            "reply_parameters.message_id",
        ),
    ],
)
async def test_send_message_violations(
    bot_api: FakeBotAPI, alice: Any, params: dict[str, str], answer: str, violation: str
) -> None:
    status, body = await raw_call(bot_api, "sendMessage", data={"chat_id": str(USER_ID), **params})
    assert status == 400, body
    assert body["description"].startswith("Bad Request: ")
    assert answer in body["description"]
    assert bot_api.expect_violation(violation)
    assert bot_api.sent(USER_ID) == []  # nothing was delivered


async def test_limits_are_measured_after_entity_parsing(
    bot_api: FakeBotAPI, bot: Any, alice: Any
) -> None:
    await bot.send_message(USER_ID, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    await bot.send_message(USER_ID, "&lt;" * 4096, parse_mode="HTML")
    await bot.send_message(USER_ID, "😀" * 4096)  # code points, not UTF-16 units
    kb64 = InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data="y" * 64)]])
    await bot.send_message(USER_ID, "x", reply_markup=kb64)
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(USER_ID, "&lt;" * 4097, parse_mode="HTML")
    bot_api.expect_violation("4097 characters")


async def test_violations_through_ptb(bot_api: FakeBotAPI, bot: Any, alice: Any) -> None:
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(USER_ID, "x", reply_markup=kb("y" * 65))
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand("Start", "x")])
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand("a" * 33, "x")])
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_DESCRIPTION_INVALID"):
        await bot.set_my_commands([BotCommand("start", "d" * 257)])
    with pytest.raises(BadRequest, match=r"(?i)language code"):
        await bot.set_my_commands([BotCommand("start", "d")], language_code="zh-hans")
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(USER_ID, "<b><i>x</b></i>", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)unsupported parse_mode|can't parse"):
        await bot.send_message(USER_ID, "x", parse_mode="BBCode")
    assert len(bot_api.violations) == 7
    bot_api.violations.clear()


async def test_callback_queries_must_be_delivered_and_answered_once(
    bot_api: FakeBotAPI, bot: Any, alice: Any
) -> None:
    m = await bot.send_message(USER_ID, "pick", reply_markup=kb("yes", "no"))
    with pytest.raises(ValueError, match="no inline button"):
        alice.tap(m.message_id, "maybe")
    alice.tap(m.message_id, "yes")
    with pytest.raises(BadRequest, match=r"(?i)query ID is invalid"):
        await bot.answer_callback_query("12345")  # never existed
    bot_api.expect_violation("answerCallbackQuery")
    updates = await bot.get_updates()
    query = updates[-1].callback_query
    assert query.data == "yes" and query.message.message_id == m.message_id
    assert bot_api.unanswered_callbacks() == [query.id]
    with pytest.raises(BadRequest, match=r"(?i)text must be 0-200"):
        await bot.answer_callback_query(query.id, text="x" * 201)
    bot_api.expect_violation("201 characters")
    assert await bot.answer_callback_query(query.id, text="ok")
    assert bot_api.callback_answers[query.id]["text"] == "ok"
    with pytest.raises(BadRequest, match=r"(?i)query ID is invalid"):
        await bot.answer_callback_query(query.id)
    bot_api.expect_violation("answerCallbackQuery")
    assert bot_api.unanswered_callbacks() == []


async def test_undelivered_callback_query_cannot_be_answered(
    bot_api: FakeBotAPI, bot: Any, alice: Any
) -> None:
    m = await bot.send_message(USER_ID, "pick", reply_markup=kb("yes"))
    alice.tap(m, "yes")
    qid = next(iter(bot_api.callback_queries))
    with pytest.raises(BadRequest):
        await bot.answer_callback_query(qid)
    bot_api.expect_violation("query ID is invalid")


def test_teardown_check_reports_violations() -> None:
    server = FakeBotAPI()
    server.assert_no_violations()
    server.violations.append("sendMessage: boom")
    with pytest.raises(AssertionError, match="boom"):
        server.assert_no_violations()
    with pytest.raises(AssertionError, match="expected a violation"):
        server.expect_violation("nothing like this")


# ---- getUpdates ---------------------------------------------------------------------------


async def test_get_updates_long_poll_offset_and_limit(bot_api: FakeBotAPI, bot: Any) -> None:
    u = bot_api.user(USER_ID, "Alice")
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await bot_api.wait_for_call("getUpdates")
    assert not poll.done()
    uid = u.send_text("hello")
    (update,) = await poll
    assert update.update_id == uid and update.message.text == "hello"
    u.send_text("two")
    u.send_text("three")
    again = await bot.get_updates(limit=1)  # not confirmed yet: still there
    assert [x.update_id for x in again] == [uid]
    rest = await bot.get_updates(offset=uid + 1)
    assert [x.message.text for x in rest] == ["two", "three"]
    assert await bot.get_updates(offset=rest[-1].update_id + 1, timeout=0) == ()
    assert bot_api.pending_updates == []


async def test_get_updates_allowed_updates_and_conflicts(
    bot_api: FakeBotAPI, bot: Any, alice: Any
) -> None:
    m = await bot.send_message(USER_ID, "pick", reply_markup=kb("a"))
    alice.tap(m, "a")
    updates = await bot.get_updates(allowed_updates=["callback_query"])
    assert [u.callback_query is not None for u in updates] == [True]  # /start was dropped
    assert await bot.get_updates(allowed_updates=Update.ALL_TYPES, timeout=0) == updates
    await bot.get_updates(allowed_updates=["messages"], timeout=0)
    bot_api.expect_violation("unknown update types")
    n = len(bot_api.calls_to("getUpdates")) + 1
    first = asyncio.create_task(bot.get_updates(offset=updates[-1].update_id + 1, timeout=5))
    await bot_api.wait_for_call("getUpdates", n)
    # PTB serialises its own getUpdates calls (pool of 1), so the second poller is raw HTTP
    status, body = await raw_call(bot_api, "getUpdates", data={"timeout": "0"})
    assert (status, body["result"]) == (200, [])
    with pytest.raises(Conflict, match=r"(?i)terminated by other getUpdates"):
        await first


async def test_get_updates_conflicts_with_webhook(bot_api: FakeBotAPI, bot: Any) -> None:
    assert await bot.set_webhook("https://example.invalid/hook")
    with pytest.raises(Conflict, match=r"(?i)webhook is active"):
        await bot.get_updates()
    assert await bot.delete_webhook()
    assert await bot.get_updates() == ()


# ---- webhook ------------------------------------------------------------------------------


async def test_webhook_push_with_secret(bot_api: FakeBotAPI, bot: Any) -> None:
    received: list[tuple[dict[str, Any], str | None, str]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(
            (
                await request.json(),
                request.headers.get("X-Telegram-Bot-Api-Secret-Token"),
                request.content_type,
            )
        )
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        with pytest.raises(BadRequest, match=r"(?i)HTTPS"):
            await bot.set_webhook("http://example.com/hook")
        bot_api.expect_violation("HTTPS URL")
        url = f"http://127.0.0.1:{port}/hook"
        assert await bot.set_webhook(url, secret_token="s3cr3t_-X")
        assert (await bot.get_webhook_info()).url == url
        u = bot_api.user(USER_ID, "Alice")
        uid = u.send_text("/start")
        await bot_api.wait_until(lambda: len(received) == 1, what="webhook delivery")
        body, secret, ctype = received[0]
        assert body["update_id"] == uid and body["message"]["text"] == "/start"
        assert secret == "s3cr3t_-X" and ctype == "application/json"
        update = Update.de_json(body, bot)
        assert update.effective_user.id == USER_ID
        await bot_api.wait_until(lambda: bot_api.webhook_deliveries != [])
        assert bot_api.webhook_deliveries[0].status == 200
        assert (await bot.get_webhook_info()).pending_update_count == 0
        assert await bot.delete_webhook()
    finally:
        await runner.cleanup()


# ---- faults -------------------------------------------------------------------------------


async def test_fault_429_has_retry_after_and_no_effect(
    bot_api: FakeBotAPI, bot: Any, alice: Any
) -> None:
    bot_api.fail_next("SendMessage", "429", times=2, retry_after=1)
    for _ in range(2):
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(USER_ID, "x")
        assert info.value.retry_after == dt.timedelta(seconds=1)
    await bot.send_message(USER_ID, "third")
    assert [m.text for m in bot_api.sent(USER_ID)] == ["third"]
    bot_api.fail_next("sendMessage", "429", retry_after=0)
    status, body = await raw_call(bot_api, "sendMessage", data={"chat_id": USER_ID, "text": "z"})
    assert status == 429 and body["parameters"] == {"retry_after": 0}


@pytest.mark.parametrize("kind", ["500", "502"])
async def test_fault_server_errors_have_no_effect(
    bot_api: FakeBotAPI, bot: Any, alice: Any, kind: str
) -> None:
    bot_api.fail_next("sendMessage", kind)
    with pytest.raises(NetworkError):
        await bot.send_message(USER_ID, "x")
    assert bot_api.sent(USER_ID) == []
    assert bot_api.errors[-1][1] == int(kind)


@pytest.mark.parametrize(("kind", "delivered"), [("timeout", False), ("timeout_after", True)])
async def test_fault_timeout(bot_api: FakeBotAPI, alice: Any, kind: str, delivered: bool) -> None:
    bot_api.hang_seconds = 2
    bot = bot_api.bot(request=bot_api.fast_request(read_timeout=0.2))
    async with bot:
        bot_api.fail_next("sendMessage", kind)
        with pytest.raises(TimedOut):
            await bot.send_message(USER_ID, "x")
        await bot.send_message(USER_ID, "next")
    texts = [m.text for m in bot_api.sent(USER_ID)]
    assert texts == (["x", "next"] if delivered else ["next"])


@pytest.mark.parametrize(
    ("kind", "delivered"), [("drop", False), ("drop_before", False), ("drop_after", True)]
)
async def test_fault_drop(
    bot_api: FakeBotAPI, bot: Any, alice: Any, kind: str, delivered: bool
) -> None:
    bot_api.fail_next("sendMessage", kind)
    with pytest.raises(NetworkError, match=r"disconnected|RemoteProtocolError|ReadError"):
        await bot.send_message(USER_ID, "x")
    await bot.send_message(USER_ID, "next")
    texts = [m.text for m in bot_api.sent(USER_ID)]
    assert texts == (["x", "next"] if delivered else ["next"])


async def test_faulted_invalid_call_is_still_a_violation(
    bot_api: FakeBotAPI, bot: Any, alice: Any
) -> None:
    bot_api.fail_next("sendMessage", "500")
    with pytest.raises(NetworkError):
        await bot.send_message(USER_ID, "x" * 5000)
    bot_api.expect_violation("5000 characters")
    with pytest.raises(ValueError, match="unknown fault kind"):
        bot_api.fail_next("sendMessage", "404")


async def test_latency_applies_to_calls(bot_api: FakeBotAPI, bot: Any, alice: Any) -> None:
    bot_api.latency = 0.05
    send = asyncio.create_task(bot.send_message(USER_ID, "slow"))
    await bot_api.wait_for_call("sendMessage")
    assert bot_api.sent(USER_ID) == []  # recorded as called, not yet delivered
    await send
    assert [m.text for m in bot_api.sent(USER_ID)] == ["slow"]


# ---- end to end with a PTB Application -------------------------------------------------------


async def test_application_polling_end_to_end(bot_api: FakeBotAPI) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await context.bot.send_message(
            update.effective_chat.id, "<b>选择</b>", parse_mode="HTML", reply_markup=kb("go")
        )

    async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and query.message is not None
        await query.answer()
        await query.edit_message_text(f"chose {query.data}")

    app = bot_api.application_builder().build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(button))
    user = bot_api.user(USER_ID, "Alice")
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            user.send_text("/start")
            (menu,) = await bot_api.wait_for_messages(USER_ID, 1)
            assert menu.text == "选择" and menu.callback_data() == ["go"]
            user.tap(menu, "go")
            await bot_api.wait_until(lambda: menu.text == "chose go", what="edit")
            assert len(bot_api.callback_answers) == 1
            assert menu.reply_markup is None
        finally:
            await app.updater.stop()
            await app.stop()
    names = [name for name, _ in bot_api.calls]
    assert names[:3] == ["getMe", "deleteWebhook", "getUpdates"]
    assert bot_api.unanswered_callbacks() == []


async def test_opt_in_rate_limits_answer_429_without_effect(
    bot_api: FakeBotAPI, bot: Any, alice: Any
) -> None:
    await bot.send_message(USER_ID, "1")
    await bot.send_message(USER_ID, "2")
    await bot.send_message(USER_ID, "3")  # no limits unless enabled
    bot_api.enforce_rate_limits(chat=(3, 600.0))
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(USER_ID, "4")
    assert info.value.retry_after >= dt.timedelta(seconds=1)
    assert bot_api.rate_limit_hits == 1
    assert [m.text for m in bot_api.sent(USER_ID)] == ["1", "2", "3"]
    assert bot_api.violations == []


async def test_edit_caption(bot_api: FakeBotAPI, bot: Any, alice: Any) -> None:
    alice.send_photo()
    (_, photo_update) = await bot.get_updates()
    photo_id = photo_update.message.photo[-1].file_id
    m = await bot.send_photo(USER_ID, photo_id, caption="a", reply_markup=kb("x"))
    edited = await bot.edit_message_caption(
        USER_ID, m.message_id, caption="<i>b</i>", parse_mode="HTML", reply_markup=kb("x")
    )
    assert edited.caption == "b" and edited.caption_entities[0].type == "italic"
    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await bot.edit_message_caption(
            USER_ID, m.message_id, caption="<i>b</i>", parse_mode="HTML", reply_markup=kb("x")
        )
    text = await bot.send_message(USER_ID, "t")
    with pytest.raises(BadRequest, match=r"(?i)no caption"):
        await bot.edit_message_caption(USER_ID, text.message_id, caption="c")
    with pytest.raises(BadRequest, match=r"(?i)no text in the message"):
        await bot.edit_message_text("x", USER_ID, m.message_id)
    assert bot_api.sent(USER_ID)[0].text == "b"


async def test_webhook_failures_are_retried_and_reported(bot_api: FakeBotAPI, bot: Any) -> None:
    statuses = [500, 200]
    seen: list[int] = []

    async def hook(request: web.Request) -> web.Response:
        seen.append((await request.json())["update_id"])
        return web.Response(status=statuses.pop(0) if statuses else 200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        assert await bot.set_webhook(f"http://127.0.0.1:{runner.addresses[0][1]}/hook")
        uid = bot_api.user(USER_ID, "Alice").send_text("hi")
        await bot_api.wait_until(lambda: bot_api.webhook_deliveries != [], what="delivery")
        assert seen == [uid, uid]  # retried after the 500
        assert bot_api.webhook_deliveries[0].status == 200
        info = await bot.get_webhook_info()
        assert info.last_error_message == "Wrong response from the webhook: 500"
        assert info.pending_update_count == 0
    finally:
        await runner.cleanup()


async def test_group_privacy_mode_delivers_only_what_is_addressed_to_the_bot(
    bot_api: FakeBotAPI, bot: Any
) -> None:
    carol = bot_api.user(4001, "Carol")
    group = bot_api.group("Shoppers", privacy=True)
    assert carol.send_text("just chatting", group) == 0
    assert carol.send_text("/start@other_bot", group) == 0
    cmd = carol.send_text("/start", group)
    mention = carol.send_text(f"hey @{bot_api.bot_username}", group)
    m = await bot.send_message(group.id, "question?")
    reply = carol.send_text("answer", group, reply_to=m.message_id)
    updates = await bot.get_updates()
    assert [u.update_id for u in updates] == [cmd, mention, reply]
    assert updates[-1].message.reply_to_message.message_id == m.message_id
    assert bot_api.fake_bugs == []
