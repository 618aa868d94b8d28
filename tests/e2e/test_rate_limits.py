"""SEND_RATE_LIMIT and CHAT_RATE_LIMIT reach the bot; a 429 is waited out whatever they say."""

from __future__ import annotations

from pathlib import Path

from bot.store.sqlite import open_store
from bot.tg.app import build_application
from bot.tg.transport import RateLimiter
from tests.e2e.harness import engine, settings_for, started
from tests.fakes.bot_api import FakeBotAPI


def _limiter(bot_api: FakeBotAPI, tmp_path: Path, **env: str) -> RateLimiter:
    settings = settings_for(bot_api, tmp_path, **env)
    app = build_application(settings, engine(), open_store(tmp_path))
    limiter = app.bot.rate_limiter
    assert isinstance(limiter, RateLimiter)
    return limiter


def test_the_settings_become_the_limiter(bot_api: FakeBotAPI, tmp_path: Path) -> None:
    default = _limiter(bot_api, tmp_path / "a")
    assert default._base_limiter is not None and default._base_limiter.max_rate == 30
    assert default._limits.chat_per_second == 1.0
    raised = _limiter(bot_api, tmp_path / "b", SEND_RATE_LIMIT="1000", CHAT_RATE_LIMIT="0.5")
    assert raised._base_limiter is not None and raised._base_limiter.max_rate == 1000
    assert raised._limits.chat_per_second == 0.5
    slow = _limiter(bot_api, tmp_path / "c", SEND_RATE_LIMIT="0.5")
    # Below one a second: one message every two seconds, not a limiter that can never give one.
    assert slow._base_limiter is not None
    assert (slow._base_limiter.max_rate, slow._base_limiter.time_period) == (1, 2)
    lifted = _limiter(bot_api, tmp_path / "d", SEND_RATE_LIMIT="0", CHAT_RATE_LIMIT="0")
    assert lifted._base_limiter is None and lifted._limits.chat_per_second == 0


async def test_without_caps_a_429_is_still_waited_out(bot_api: FakeBotAPI, tmp_path: Path) -> None:
    user = bot_api.user(8101, "Lin")
    settings = settings_for(bot_api, tmp_path, SEND_RATE_LIMIT="0", CHAT_RATE_LIMIT="0")
    app = build_application(settings, engine(), open_store(tmp_path))
    async with started(app):
        bot_api.fail_next("sendMessage", "429", retry_after=1)
        user.send_text("/start")
        await bot_api.wait_until(lambda: bool(bot_api.sent(user.id)), 20, "the welcome")
    sent = bot_api.sent(user.id)
    assert len(sent) == 1 and sent[0].buttons(), [m.text for m in sent]
    assert any(e[0].lower() == "sendmessage" and "429" in str(e) for e in bot_api.errors)
