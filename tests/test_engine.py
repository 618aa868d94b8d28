"""The pure engine on a small fixture: navigation, slots, free text, buttons old and new."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.engine.engine import Engine
from bot.engine.model import Conversation, Event, Outcome

MINI = Path(__file__).parent / "fixtures" / "mini"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load(MINI)


class Chat:
    """A shopper talking to the engine, keeping the conversation between turns."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.conv = engine.new_conversation(7)
        self.last: Outcome | None = None
        self.screens: list[Outcome] = []

    def _run(self, event: Event) -> Outcome:
        out = self.engine.handle(self.conv, event)
        self.conv = out.conversation
        self.last = out
        if any(r.buttons for r in out.replies):
            self.screens.append(out)
        return out

    def send(self, text: str) -> Outcome:
        if text.startswith("/"):
            return self._run(Event(kind="command", now=NOW, command=text[1:]))
        return self._run(Event(kind="text", now=NOW, text=text))

    def tap(self, label: str, screen: Outcome | None = None) -> Outcome:
        out = screen or self.screens[-1]
        for reply in out.replies:
            for row in reply.buttons:
                for b in row:
                    if b.label == label:
                        return self._run(Event(kind="callback", now=NOW, data=b.data))
        raise AssertionError(f"no button {label!r}")

    def photo(self) -> Outcome:
        return self._run(Event(kind="media", now=NOW, media="photo", file_id="F1"))

    @property
    def text(self) -> str:
        assert self.last is not None
        return "\n".join(r.text for r in self.last.replies if r.text)

    @property
    def labels(self) -> list[str]:
        assert self.last is not None
        shown = [r for r in self.last.replies if r.buttons]
        return [b.label for row in shown[-1].buttons for b in row] if shown else []


def test_start_shows_the_menu_with_buttons__B1(engine: Engine) -> None:
    chat = Chat(engine)
    chat.send("/start")
    assert "订单到哪一步" in chat.text
    assert chat.labels == ["已签收", "包裹破损", "小贴士"]


def test_typed_synonym_lands_on_the_same_branch_as_the_button__T2(engine: Engine) -> None:
    by_button, by_text = Chat(engine), Chat(engine)
    by_button.send("/start")
    by_button.tap("包裹破损")
    by_text.send("/start")
    by_text.send("快递盒子都壓扁了！")  # traditional 壓 and full-width ！
    assert by_text.conv.state == by_button.conv.state == "menu.damaged"
    assert by_text.conv.slots["problem"] == "damaged"


def test_signing_date_gives_the_last_day_as_a_date__S4(engine: Engine) -> None:
    chat = Chat(engine)
    chat.send("/start")
    chat.tap("已签收")
    chat.send("11月20号签收的")
    assert chat.conv.state == "menu.open"
    assert "11月27日" in chat.text  # facts §2: signed 11-20, last day 11-27
    assert "还剩4天" in chat.text


def test_a_future_date_is_refused_with_a_specific_reask(engine: Engine) -> None:
    chat = Chat(engine)
    chat.send("/start")
    chat.tap("已签收")
    chat.send("2026-12-01")
    assert "不能是未来" in chat.text
    assert chat.conv.state == "menu.ask_date"


def test_three_misses_offer_skip_or_a_person_no_endless_loop(engine: Engine) -> None:
    chat = Chat(engine)
    chat.send("/start")
    chat.tap("包裹破损")
    chat.tap("继续")
    chat.send("abc")
    assert "订单号格式不对" in chat.text and "P1234567890123" in chat.text
    chat.send("def")
    chat.send("ghi")
    assert chat.labels == ["跳过", "找人工", "主菜单"]
    chat.tap("跳过")
    assert chat.conv.state == "menu.start"  # the slot's skip target


def test_order_number_found_inside_a_sentence(engine: Engine) -> None:
    chat = Chat(engine)
    chat.send("/start")
    chat.tap("包裹破损")
    chat.tap("继续")
    chat.send("订单号是 P1234567890123 谢谢")
    assert chat.conv.slots["order_no"] == "P1234567890123"
    assert chat.conv.state == "menu.describe"


def test_user_text_is_escaped_when_echoed(engine: Engine) -> None:
    chat = Chat(engine)
    chat.send("/start")
    chat.tap("包裹破损")
    chat.tap("继续")
    chat.send("P1234567890123")
    chat.send("<b>坏了</b> & 破了")
    assert "&lt;b&gt;坏了&lt;/b&gt; &amp; 破了" in chat.text
    assert "<b>" not in chat.text


def test_global_intent_works_at_any_step__P1(engine: Engine) -> None:
    chat = Chat(engine)
    chat.send("/start")
    chat.tap("已签收")
    chat.send("卖家不同意退款怎么办")
    assert chat.conv.state == "help.human"
    assert chat.conv.slots["seller_status"] == "refused"
    assert any(e.kind == "handoff" for e in chat.last.effects)  # type: ignore[union-attr]


def test_unmatched_text_gets_a_friendly_answer_with_the_options__B2(engine: Engine) -> None:
    chat = Chat(engine)
    chat.send("/start")
    chat.send("今天天气不错")
    assert "没看懂" in chat.text
    assert chat.labels == ["已签收", "包裹破损", "小贴士"]
    assert chat.conv.state == "menu.start"


def test_back_goes_one_step_at_a_time_as_far_as_the_start__B1(engine: Engine) -> None:
    chat = Chat(engine)
    chat.send("/start")
    chat.tap("包裹破损")
    chat.tap("继续")
    chat.send("/back")
    assert chat.conv.state == "menu.damaged"
    chat.send("/back")
    assert chat.conv.state == "menu.start"
    chat.send("/back")
    assert "已经在开头了" in chat.text
    assert chat.conv.state == "menu.start"


def test_back_stack_stays_bounded(engine: Engine) -> None:
    chat = Chat(engine)
    chat.send("/start")
    for _ in range(100):
        chat.tap("小贴士")
        chat.tap("主菜单")
    assert len(chat.conv.back) <= 30


def test_cancel_and_restart_work_from_anywhere__B1(engine: Engine) -> None:
    chat = Chat(engine)
    chat.send("/start")
    chat.tap("已签收")
    chat.send("/cancel")
    assert "已取消" in chat.text and chat.conv.state == "menu.start"
    assert "status" not in chat.conv.slots
    chat.tap("包裹破损")
    chat.send("/restart")
    assert chat.conv.state == "menu.start" and chat.conv.back == []


def test_unknown_command_is_answered(engine: Engine) -> None:
    chat = Chat(engine)
    chat.send("/start")
    chat.send("/frobnicate")
    assert "/frobnicate" in chat.text
    assert chat.labels  # options kept on screen


def test_double_tap_does_not_double_advance__B4(engine: Engine) -> None:
    chat = Chat(engine)
    chat.send("/start")
    menu = chat.screens[-1]
    chat.tap("小贴士", menu)
    state = chat.conv.state
    out = chat.tap("小贴士", menu)
    assert chat.conv.state == state
    assert not [r for r in out.replies if r.text]
    assert [e.kind for e in out.effects] == ["toast"]


def test_old_button_works_when_the_choice_is_still_offered__B4(engine: Engine) -> None:
    chat = Chat(engine)
    chat.send("/start")
    tips = chat.tap("小贴士")
    chat.tap("主菜单", tips)
    chat.tap("已签收")
    # The 主菜单 button of the tips screen: the date question offers 主菜单 too.
    chat.tap("主菜单", tips)
    assert chat.conv.state == "menu.start"


def test_old_button_from_another_screen_says_outdated_and_shows_current__B4(
    engine: Engine,
) -> None:
    chat = Chat(engine)
    chat.send("/start")
    menu = chat.screens[-1]
    chat.tap("已签收", menu)
    chat.send("/start")
    chat.tap("包裹破损")
    chat.tap("已签收", menu)  # the first menu, now stale: its state is not the current one
    assert "过期" in chat.text
    assert chat.conv.state == "menu.damaged"
    assert chat.labels == ["继续"]


@pytest.mark.parametrize("data", ["", "x", "1|nope.state|0", "1|menu.start|99", "a|b|c|d" * 20])
def test_garbage_callback_data_never_crashes__B4(engine: Engine, data: str) -> None:
    chat = Chat(engine)
    chat.send("/start")
    out = chat._run(Event(kind="callback", now=NOW, data=data))
    assert out.replies and chat.conv.state == "menu.start"


def test_media_is_acknowledged_and_counted(engine: Engine) -> None:
    chat = Chat(engine)
    chat.send("/start")
    chat.photo()
    chat.photo()
    assert "已收到第 2 张照片" in chat.text
    assert [e.kind for e in chat.last.effects] == ["evidence"]  # type: ignore[union-attr]
    out = chat._run(Event(kind="media", now=NOW, media="sticker", file_id="S"))
    assert "看不了" in out.replies[0].text  # type: ignore[operator]


def test_over_long_text_is_trimmed_with_a_note(engine: Engine) -> None:
    chat = Chat(engine)
    chat.send("/start")
    chat.tap("包裹破损")
    chat.tap("继续")
    chat.send("P1234567890123")
    chat.send("长" * 4096)
    assert "只保留前500字" in chat.text
    assert len(chat.conv.slots["description"]) == 500


def test_conversation_survives_serialisation_at_the_exact_step__B3(engine: Engine) -> None:
    chat = Chat(engine)
    chat.send("/start")
    chat.tap("包裹破损")
    record = json.loads(json.dumps(chat.conv.to_dict()))
    chat.conv = Conversation.from_dict(record)
    chat.tap("继续")
    assert chat.conv.state == "menu.ask_order"


def test_engine_is_pure_the_input_conversation_is_not_changed(engine: Engine) -> None:
    conv = engine.new_conversation(9)
    before = conv.to_dict()
    engine.handle(conv, Event(kind="text", now=NOW, text="包裹破损"))
    assert conv.to_dict() == before


def test_agent_mode_relays_text_and_pauses_the_flow__P4(engine: Engine) -> None:
    chat = Chat(engine)
    chat.send("/start")
    chat.conv.mode = "agent"
    out = chat.send("东西坏了怎么办")
    assert out.replies == ()
    assert [e.kind for e in out.effects] == ["to_agent"]
    assert chat.conv.state == "menu.start"
    chat.send("/start")
    assert chat.conv.mode == "bot"
    assert any(e.kind == "agent_left" for e in chat.last.effects)  # type: ignore[union-attr]


def test_a_state_removed_from_the_flows_restarts_politely(engine: Engine) -> None:
    conv = engine.new_conversation(3)
    conv.state = "gone.away"
    out = engine.handle(conv, Event(kind="text", now=NOW, text="hi"))
    assert out.conversation.state == "menu.start"
    assert "重新开始" in out.replies[0].text  # type: ignore[operator]


def test_callback_data_fits_telegram_limit(engine: Engine) -> None:
    conv = engine.new_conversation(3)
    conv.step = 9_999_999_999
    for sid in engine.bundle.states:
        conv.state = sid
        out = engine.handle(conv, Event(kind="command", now=NOW, command="help"))
        for reply in out.replies:
            for row in reply.buttons:
                for b in row:
                    assert len(b.data.encode()) <= 64
