"""``python -m bot run`` as a real process: kill -9 mid-conversation, restart, continue (B3).

Also: SIGTERM stops it cleanly (exit 0), its log has one line per update and never the token,
``python -m bot health`` answers 0 against a live server and 1 against a dead one, and a
malformed setting stops start-up with one line naming it.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from tests.e2e.harness import button, with_buttons
from tests.fakes.bot_api import FakeBotAPI
from tests.support import bot_env


async def start_bot(bot_api: FakeBotAPI, tmp_path: Path, log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as stderr:  # the child keeps its own copy of the descriptor
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=tmp_path,  # no developer .env is picked up
            env=bot_env(bot_api, tmp_path / "data"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )


async def run_cli(bot_api: FakeBotAPI, tmp_path: Path, *args: str, **extra: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=tmp_path,
        env=bot_env(bot_api, tmp_path / "data", **extra),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_kill_9_and_restart_continue_at_the_exact_step(
    bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    user = bot_api.user(3001, "Qian")
    log = tmp_path / "bot.log"
    proc = await start_bot(bot_api, tmp_path, log)
    try:
        user.send_text("/start")
        said = await bot_api.wait_for_messages(user.id, 1, timeout=60)
        assert "订单现在到哪一步了" in (said[0].text or "")
        menu = with_buttons(bot_api.sent(user.id))
        user.tap(menu, button(menu, "正在派送"))
        await bot_api.wait_until(
            lambda: any("遇到了什么问题" in (m.text or "") for m in bot_api.sent(user.id)),
            30,
            "the problem question",
        )
        await bot_api.wait_until(lambda: not bot_api.unanswered_callbacks(), 10, "answers")
    finally:
        proc.kill()  # SIGKILL: no shutdown code runs
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL

    proc = await start_bot(bot_api, tmp_path, log)
    try:
        menu = with_buttons(bot_api.sent(user.id))
        user.tap(menu, button(menu, "包裹破损"))
        await bot_api.wait_until(
            lambda: any("对吗" in (m.text or "") for m in bot_api.sent(user.id)),
            60,
            "the confirmation after the restart",
        )
        menu = with_buttons(bot_api.sent(user.id))
        user.tap(menu, button(menu, "对，就是这样"))
        await bot_api.wait_until(
            lambda: any("当面拒收" in (m.text or "") for m in bot_api.sent(user.id)),
            30,
            "k2.start",
        )
        await bot_api.wait_until(lambda: not bot_api.unanswered_callbacks(), 10, "answers")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 30)
    assert code == 0
    texts = [m.text or "" for m in bot_api.sent(user.id)]
    assert sum("遇到了什么问题" in t for t in texts) == 1  # nothing was handled twice
    assert sum("对吗" in t for t in texts) == 1
    text = log.read_text(encoding="utf-8")
    assert bot_api.token not in text
    assert bot_api.token.split(":")[1] not in text
    assert "正在派送" not in text  # no message texts in the log
    assert text.count("update chat=") >= 4
    assert "store closed" in text  # SIGTERM closed the store


async def test_health_check(bot_api: FakeBotAPI, tmp_path: Path) -> None:
    code, out = await run_cli(bot_api, tmp_path, "health")
    assert code == 0, out
    assert out.strip().startswith("ok:") and bot_api.bot_username in out
    assert len(out.strip().splitlines()) == 1
    dead = "http://127.0.0.1:9"  # discard port: nothing listens
    code, out = await run_cli(bot_api, tmp_path, "health", TELEGRAM_API_URL=dead)
    assert code == 1 and out.startswith("unhealthy:")
    assert bot_api.token not in out


async def test_malformed_setting_stops_start_up_in_one_line(
    bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    code, out = await run_cli(bot_api, tmp_path, "run", TELEGRAM_API_URL="ftp://nope")
    assert code != 0
    assert "TELEGRAM_API_URL" in out and len(out.strip().splitlines()) == 1
    assert bot_api.token not in out


async def test_rejected_token_is_one_line_without_the_token(
    bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    wrong = "987654321:AAWrongTokenForTests_abcdefghijklmn"
    code, out = await run_cli(bot_api, tmp_path, "run", TELEGRAM_BOT_TOKEN=wrong)
    bot_api.violations.clear()  # the fake records the wrong token as a violation, on purpose
    assert code == 1, out
    assert wrong not in out and wrong.split(":")[1] not in out
    assert "TELEGRAM_BOT_TOKEN" in out


async def test_webhook_process_answers_and_stops_on_sigterm(
    bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    """``python -m bot webhook``: registers the webhook with a secret, answers, exits 0."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    user = bot_api.user(3101, "Yang")
    log = tmp_path / "webhook.log"
    env = bot_env(
        bot_api,
        tmp_path / "data",
        WEBHOOK_URL=f"http://127.0.0.1:{port}/hook",
        WEBHOOK_LISTEN="127.0.0.1",
        WEBHOOK_PORT=str(port),
    )
    with log.open("ab") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "webhook",
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        (hook,) = await bot_api.wait_for_call("setWebhook", timeout=60)
        assert len(hook["secret_token"]) >= 32  # none configured: a random one per start
        user.send_text("/start")
        (hello, *_) = await bot_api.wait_for_messages(user.id, 1, timeout=30)
        assert "订单现在到哪一步了" in (hello.text or "")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 30)
    assert code == 0, log.read_text(encoding="utf-8")
    assert hook["secret_token"] not in log.read_text(encoding="utf-8")
