"""The aiohttp transport under PTB (bot/tg/http.py) against the strict fake: JSON calls,
uploads, and failures as PTB's errors with the cause that tells the retry policy whether the
call may have reached Telegram."""

from __future__ import annotations

import socket
from pathlib import Path

import aiohttp
import pytest
from telegram.error import NetworkError

from bot.store.memory import MemoryStore
from bot.tg.app import build_application
from bot.tg.http import AiohttpRequest
from bot.tg.transport import may_repeat
from tests.e2e.harness import FAST, engine, settings_for
from tests.fakes.bot_api import BOT_USERNAME, FakeBotAPI


async def test_calls_and_uploads_go_through(bot_api: FakeBotAPI, tmp_path: Path) -> None:
    user = bot_api.user(4242, "Wu")
    user.send_text("/start")  # the shopper has talked to the bot
    app = build_application(settings_for(bot_api, tmp_path), engine(), MemoryStore(), limits=FAST)
    async with app:
        me = await app.bot.get_me()
        assert me.username == BOT_USERNAME
        sent = await app.bot.send_message(user.id, "你好 <b>测试</b>", parse_mode="HTML")
        assert sent.text == "你好 测试"
        photo = await app.bot.send_photo(user.id, photo=b"\x89PNG fake bytes", caption="凭证")
        assert photo.photo
    assert [m.text for m in bot_api.sent(user.id)][:1] == ["你好 测试"]
    assert bot_api.sent(user.id)[-1].media == "photo"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_refused_connection_is_a_network_error_that_was_never_sent() -> None:
    request = AiohttpRequest(connect_timeout=2.0)
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as caught:
            await request.do_request(
                f"http://127.0.0.1:{_closed_port()}/bot1:x/sendMessage", "POST"
            )
    finally:
        await request.shutdown()
    assert isinstance(caught.value.__cause__, aiohttp.ClientConnectorError)
    assert may_repeat("sendMessage", caught.value.__cause__)


async def test_it_must_be_initialized_first() -> None:
    with pytest.raises(RuntimeError, match="not initialized"):
        await AiohttpRequest().do_request("http://127.0.0.1:1/x", "POST")


@pytest.mark.parametrize(
    ("cause", "repeat_send"),
    [
        (aiohttp.ConnectionTimeoutError("no free connection"), True),
        (aiohttp.ServerDisconnectedError(), True),  # a kept-alive connection the server closed
        (aiohttp.SocketTimeoutError("slow answer"), False),  # it may have arrived
    ],
)
def test_aiohttp_failures_are_repeated_only_when_never_sent(
    cause: BaseException, repeat_send: bool
) -> None:
    assert may_repeat("sendMessage", cause) is repeat_send
    assert may_repeat("editMessageText", cause)  # an edit repeated changes nothing
