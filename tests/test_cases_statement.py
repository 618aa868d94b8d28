"""The complaint statement (申诉说明) for each K-scenario contains the facts it must.

Each test drives the real engine from the menu: the scenario, then "卖家拒绝" (the seller
refused), the order number, what happened (with characters that could break HTML), what the
seller said, the evidence buttons plus a photo sent into the chat, and the request.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from bot.engine.effects import CaseUpdate
from bot.engine.engine import Engine
from bot.engine.model import Event, Outcome
from tests.support import TZ

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)
ORDER_NO = "P7123456789012345678"
DESCRIPTION = '11月20日签收，<b>杯子</b>碎了 & 外箱"压痕"'
SELLER_SAID = "<i>不退</i>，自己摔的"


class Chat:
    """One shopper's conversation driven through the pure engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.conv = engine.new_conversation(7)
        self.last: Outcome | None = None

    def _run(self, event: Event) -> Outcome:
        self.last = self.engine.handle(self.conv, event)
        self.conv = self.last.conversation
        return self.last

    def send(self, text: str) -> Outcome:
        if text.startswith("/"):
            return self._run(Event("command", NOW, command=text[1:]))
        return self._run(Event("text", NOW, text=text))

    def photo(self) -> Outcome:
        return self._run(Event("media", NOW, media="photo", file_id="photo-1"))

    def tap(self, key: str) -> Outcome:
        assert self.last is not None
        label = self.engine.button_label("zh-Hans", key)
        for reply in reversed(self.last.replies):
            for row in reply.buttons:
                for button in row:
                    if button.label == label:
                        return self._run(Event("callback", NOW, data=button.data))
        raise AssertionError(f"no button {label!r} on screen in state {self.conv.state}")


def statement_for(engine: Engine, scenario: str, request: str) -> tuple[str, Chat]:
    chat = Chat(engine)
    chat.send("/start")
    chat.tap("btn.scenarios")
    chat.tap(f"btn.{scenario}")
    chat.photo()
    chat.send("卖家拒绝")
    assert chat.conv.state == "intervention.start", chat.conv.state
    chat.send(ORDER_NO)
    assert chat.conv.state == "intervention.product", chat.conv.state
    chat.tap("btn.skip")
    assert chat.conv.state == "intervention.describe", chat.conv.state
    chat.send(DESCRIPTION)
    if chat.conv.state == "intervention.seller":
        chat.tap("btn.ss_refused")
    assert chat.conv.state == "intervention.seller_words", chat.conv.state
    chat.send(SELLER_SAID)
    chat.tap("btn.ev_photos")
    chat.tap("btn.ev_chat")
    out = chat.tap("btn.ev_done")
    assert chat.conv.state == "intervention.request"
    chat.tap(f"btn.{request}")
    assert chat.conv.state == "intervention.review"
    out = chat.tap("btn.statement_ok")
    assert chat.conv.state == "intervention.statement"
    statement = next(r.text for r in out.replies if r.text)
    assert "申诉说明" in statement
    return statement, chat


# scenario, request button, words that must be in the statement (problem, request, legal basis)
CASES = [
    # Not yet received: the seven days have not begun, so art. 25 applies (facts §2).
    ("k1", "r_refund_only", ["不想要了", "仅退款", "第二十五条", "无理由退货", "尚未签收"], []),
    ("k2", "r_refund_only", ["包裹破损", "仅退款", "《电子商务法》第二十条", "第六百零四条"], []),
    ("k3", "r_return_refund", ["质量问题", "退货退款", "第二十四条"], ["第二十五条"]),
    # Signed on 11-20 (said in the story): the window is open until 11-27, so art. 25 applies.
    (
        "k4",
        "r_exchange",
        ["尺码/颜色不合适", "换货", "运费由我承担", "第二十五条", "11月27日"],
        ["来回"],
    ),
    # Wrong item: seller's duty by platform rule and the guide, not a law article (facts §3).
    ("k5", "r_return_refund", ["发错货", "退货退款", "卖家承担"], ["第二十", "第五十五条"]),
    ("k6", "r_compensation", ["假冒", "全额退款", "第五十五条", "三倍", "五百元", "鉴定"], []),
]


@pytest.mark.parametrize(("scenario", "ask", "must", "never"), CASES, ids=[c[0] for c in CASES])
def test_statement_has_the_facts(
    engine: Engine, scenario: str, ask: str, must: list[str], never: list[str]
) -> None:
    statement, chat = statement_for(engine, scenario, ask)
    for words in must:
        assert words in statement, f"{scenario}: {words!r} missing from\n{statement}"
    for words in never:
        assert words not in statement, f"{scenario}: {words!r} should not be in\n{statement}"
    # The order number, what happened and what the seller said, in order.
    assert ORDER_NO in statement
    assert statement.index(ORDER_NO) < statement.index("碎了") < statement.index("自己摔的")
    assert "卖家拒绝处理" in statement
    # The evidence list: the tapped kinds and the photo sent into the chat.
    assert "商品/包裹照片" in statement and "聊天记录" in statement
    assert "已发送照片1张" in statement
    # User text is escaped: nothing typed can open or close a tag.
    assert "&lt;b&gt;杯子&lt;/b&gt;碎了 &amp; 外箱" in statement
    assert "&lt;i&gt;不退&lt;/i&gt;" in statement
    assert "<b>杯子" not in statement and "<i>不退" not in statement
    # Fits in one Telegram message, and the request is plead to the platform.
    assert len(statement.encode("utf-16-le")) // 2 < 4096
    assert "平台介入" in statement
    assert chat.conv.slots["request"] == ask[2:]


def test_statement_is_followed_by_the_in_app_steps_and_next_rungs(engine: Engine) -> None:
    _, chat = statement_for(engine, "k2", "r_refund_only")
    assert chat.last is not None
    steps = chat.last.replies[-1].text or ""
    assert "申请平台介入" in steps and "粘贴" in steps
    after = chat.tap("btn.what_next")
    assert "提交之后" in (after.replies[-1].text or "")
    rungs = chat.tap("btn.outside")
    text = rungs.replies[-1].text or ""
    assert "12315" in text and "消费者协会" in text


def test_the_case_gets_the_statement_facts(engine: Engine) -> None:
    chat = Chat(engine)
    chat.send("/start")
    chat.send("卖家拒绝")
    opened = [e for e in chat.last.effects if e.kind == "open_case"] if chat.last else []
    assert opened, "the intervention script opens a case"
    chat.conv.case_id = "C-2611-0001"
    chat.send(ORDER_NO)
    chat.tap("btn.skip")
    chat.tap("btn.p_damaged")
    chat.send(DESCRIPTION)
    chat.send(SELLER_SAID)
    chat.tap("btn.ev_done")
    out = chat.tap("btn.r_refund_only")
    assert chat.conv.state == "intervention.review"
    (update,) = [e for e in out.effects if e.kind == "case_update"]
    assert isinstance(update, CaseUpdate)
    fields = update.fields
    assert fields["order_no"] == ORDER_NO and fields["request"] == "refund_only"
    assert fields["description"] == DESCRIPTION  # stored raw; escaped only when shown
    assert "C-2611-0001" in next(r.text for r in out.replies if r.text)
