"""The console chat: buttons by number, and the whole hand-off with the console as the agent."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

from bot.console import CONSOLE_CHAT_ID, run_console
from bot.service import Service
from bot.store.sqlite import open_store
from tests.support import Clock, at, project_engine


async def _chat(lines: list[str], data: Path) -> tuple[str, Service]:
    engine = project_engine()
    clock = Clock(at("2026-11-23", 10), step=timedelta(seconds=1))
    service = Service(engine, open_store(data), clock)
    out = io.StringIO()
    code = await run_console(
        service,
        engine,
        io.StringIO("".join(f"{x}\n" for x in lines)),
        out,
        clock,
        interactive=False,
    )
    assert code == 0
    return out.getvalue(), service


def _shopper_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("  ┃")]


async def test_a_number_taps_the_button_on_screen(tmp_path: Path) -> None:
    said, _ = await _chat(["4"], tmp_path)
    assert "[4] 已签收" in said
    assert said.rstrip().splitlines()[-1].startswith("  [")  # the signed screen's options


async def test_the_console_plays_the_agent_through_hand_off_reply_close_and_rating(
    tmp_path: Path,
) -> None:
    said, service = await _chat(
        [
            "我要找人工客服",
            "在吗？东西是坏的",
            "@你好，我是客服小王",
            "@claim",
            "@close",
            "5",
            "很快，谢谢",
        ],
        tmp_path,
    )
    # what the agents see is marked, and carries the shopper's words
    assert "  ┃ [人工客服 · C-2611-0001]" in said
    assert "  ┃ 在吗？东西是坏的" in said
    shopper = "\n".join(_shopper_lines(said))
    assert "转给人工客服" in shopper and "未提供" not in shopper
    assert "人工客服：\n你好，我是客服小王" in shopper
    assert "打个分" in shopper and "你打了 5 分" in shopper and "谢谢你的反馈" in shopper
    conv = service.store.load(CONSOLE_CHAT_ID)
    assert conv is not None and conv.mode == "bot" and conv.case_id
    case = service.store.get_case(conv.case_id)
    assert case is not None and case.status == "closed"
    assert case.fields["rating"] == 5 and case.fields["comment"] == "很快，谢谢"


async def test_an_agent_line_without_a_case_says_so(tmp_path: Path) -> None:
    said, _ = await _chat(["@hello"], tmp_path)
    assert "找不到这个案件" in said
