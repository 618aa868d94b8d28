"""End to end: the real PTB Application over HTTP against the strict fake Bot API.

Every test here fails at teardown if the fake recorded a spec violation (``bot_api`` fixture).
Coverage: B1 (commands), B3 (restart at the exact step), B4 (stale buttons, double taps), S2/K2
(a refusal dialogue by buttons and by text), P1 (evidence kept with the case).
"""

from __future__ import annotations

from pathlib import Path

from bot.engine.model import Button, Reply
from bot.store.sqlite import open_store
from bot.tg.send import deliver
from tests.e2e.harness import button, running_bot, with_buttons
from tests.fakes.bot_api import BotMessage, FakeBotAPI, FakeUser

Step = tuple[str, str, list[str]]

#: /start → 正在派送 → 包裹破损 → 对，就是这样 → 拒收后怎么退款 (damaged at delivery, S2/K2).
REFUSAL: list[Step] = [
    ("send", "/start", ["你好", "订单现在到哪一步了"]),
    ("tap", "正在派送", ["遇到了什么问题"]),
    ("tap", "包裹破损", ["正在派送", "包裹破损", "对吗"]),
    ("tap", "对，就是这样", ["当面拒收", "快递单号"]),
    ("tap", "拒收后怎么退款", ["仅退款", "未收到货"]),
]


class Player:
    """Plays transcript steps as one shopper and collects what the bot said."""

    def __init__(self, bot_api: FakeBotAPI, user: FakeUser) -> None:
        self.api = bot_api
        self.user = user
        self.seen = 0  # messages of this chat already looked at

    def new(self) -> list[BotMessage]:
        return self.api.sent(self.user.id)[self.seen :]

    async def expect(self, needles: list[str], timeout: float = 10.0) -> list[BotMessage]:
        """Waits until the new messages contain every needle; returns them."""

        def done() -> bool:
            text = "\n".join(m.text or "" for m in self.new())
            return all(n in text for n in needles)

        try:
            await self.api.wait_until(done, timeout, f"bot to say {needles!r}")
        except AssertionError:
            got = [m.text for m in self.new()]
            raise AssertionError(
                f"expected {needles!r}; bot said {got!r}; errors {self.api.errors!r}"
            ) from None
        await self.api.wait_until(lambda: not self.api.unanswered_callbacks(), 5, "answers")
        messages = self.new()
        self.seen += len(messages)
        return messages

    def last_menu(self) -> BotMessage:
        return with_buttons(self.api.sent(self.user.id))

    async def step(self, kind: str, arg: str, needles: list[str]) -> list[BotMessage]:
        if kind == "send":
            self.user.send_text(arg)
        elif kind == "tap":
            menu = self.last_menu()
            self.user.tap(menu, button(menu, arg))
        else:
            raise ValueError(kind)
        return await self.expect(needles)

    async def play(self, steps: list[Step]) -> None:
        for step in steps:
            await self.step(*step)


async def test_refusal_dialogue_by_buttons(bot_api: FakeBotAPI, tmp_path: Path) -> None:
    """S2/K2 by buttons: every tap answered, the tapped keyboard removed, HTML replies."""
    user = bot_api.user(1001, "Alice")
    async with running_bot(bot_api, tmp_path):
        player = Player(bot_api, user)
        await player.play(REFUSAL)
    sent = bot_api.sent(user.id)
    assert all(m.parse_mode == "HTML" for m in sent)
    assert not bot_api.unanswered_callbacks()
    assert len(bot_api.calls_to("answerCallbackQuery")) == 4
    tapped = [m for m in sent if m.edits]
    assert len(tapped) == 4 and all(not m.buttons() for m in tapped)
    store = open_store(tmp_path)
    try:
        conv = store.load(user.id)
        assert conv is not None and conv.state == "refuse.after"
        assert [e.state_after for e in store.log_of(user.id)][-1] == "refuse.after"
    finally:
        store.close()


async def test_refusal_dialogue_by_text(bot_api: FakeBotAPI, tmp_path: Path) -> None:
    """S2/K2 typed: free text lands on the same path as the buttons."""
    user = bot_api.user(1002, "Bo")
    async with running_bot(bot_api, tmp_path):
        await Player(bot_api, user).play(
            [
                ("send", "/start", ["订单现在到哪一步了"]),
                ("send", "快递盒子都压扁了", ["订单现在到哪一步了"]),
                ("send", "快递员在门口等着呢", ["正在派送", "包裹破损", "对吗"]),
                ("send", "对的", ["当面拒收", "包裹破损"]),
            ]
        )


async def test_commands_registered_in_chinese(bot_api: FakeBotAPI, tmp_path: Path) -> None:
    """B1: the command menu is set at start-up with Chinese descriptions."""
    async with running_bot(bot_api, tmp_path):
        commands = {c["command"]: c["description"] for c in bot_api.commands()}
    assert {"start", "help", "back", "restart", "cancel"} <= set(commands)
    assert commands["start"] == "主菜单"


async def test_unknown_command_and_help_are_answered(bot_api: FakeBotAPI, tmp_path: Path) -> None:
    """B1/B2: an unknown command gets an answer; /help keeps the options."""
    user = bot_api.user(1003, "Cai")
    async with running_bot(bot_api, tmp_path):
        player = Player(bot_api, user)
        await player.step("send", "/start", ["订单现在到哪一步了"])
        user.send_text("/frobnicate")
        said = await player.expect(["frobnicate"])
        assert said


async def test_evidence_is_acknowledged_and_kept_with_the_case(
    bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    """P1: photos/videos/documents are counted and stored with the case; stickers get an answer."""
    user = bot_api.user(1004, "Dai")
    async with running_bot(bot_api, tmp_path):
        player = Player(bot_api, user)
        await player.play(
            [
                ("send", "/start", ["订单现在到哪一步了"]),
                ("tap", "卖家不同意", ["申请小红书平台介入", "订单号"]),
            ]
        )
        user.send_photo()
        await player.expect(["收到第 1 张照片"])
        user.send_photo()
        await player.expect(["收到第 2 张照片"])
        user.send_document()
        await player.expect(["收到第 1 个文件"])
        user.send_sticker()
        await player.expect(["处理不了"])
        user.send_location()
        await player.expect(["处理不了"])
    store = open_store(tmp_path)
    try:
        conv = store.load(user.id)
        assert conv is not None and conv.case_id is not None
        evidence = store.evidence_of(conv.case_id)
        assert [e.media for e in evidence] == ["photo", "photo", "document"]
        assert all(e.file_id.startswith(("PHFake", "DOFake")) for e in evidence)
    finally:
        store.close()


async def test_handoff_says_no_agent_yet(bot_api: FakeBotAPI, tmp_path: Path) -> None:
    """P4 hook: asking for a human says nobody is connected yet (until agents exist)."""
    user = bot_api.user(1005, "Er")
    async with running_bot(bot_api, tmp_path):
        await Player(bot_api, user).play(
            [
                ("send", "/start", ["订单现在到哪一步了"]),
                ("tap", "找人工客服", ["暂时没有人工客服", "帮助与客服"]),
            ]
        )


async def test_restart_mid_conversation_continues_at_the_exact_step(
    bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    """B3: stop the bot after two steps; a new process on the same data dir continues."""
    user = bot_api.user(1006, "Fang")
    player = Player(bot_api, user)
    async with running_bot(bot_api, tmp_path):
        await player.play(REFUSAL[:3])
    # The new bot knows nothing but the SQLite file; the old keyboard is still on screen.
    async with running_bot(bot_api, tmp_path):
        await player.play(REFUSAL[3:])
    store = open_store(tmp_path)
    try:
        conv = store.load(user.id)
        assert conv is not None and conv.state == "refuse.after"
    finally:
        store.close()


async def test_stale_button_says_outdated_and_shows_the_current_menu(
    bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    """B4: a button from an old message that no longer applies says so and shows the menu."""
    user = bot_api.user(1007, "Gao")
    async with running_bot(bot_api, tmp_path):
        player = Player(bot_api, user)
        first = await player.step("send", "/start", ["订单现在到哪一步了"])
        old_menu = with_buttons(first)  # never tapped: its keyboard stays on screen
        await player.play(REFUSAL[:4])  # a second /start, then on to k2.start
        current = player.last_menu()
        assert current.message_id != old_menu.message_id
        user.tap(old_menu, button(old_menu, "正在派送"))
        said = await player.expect(["过期", "当面拒收"])
        assert with_buttons(said).callback_data()  # the current step's buttons come again
        (answer,) = [
            a for a in bot_api.callback_answers.values() if "过期" in str(a.get("text", ""))
        ]
        assert answer
    assert not bot_api.unanswered_callbacks()


async def test_double_tap_advances_once(bot_api: FakeBotAPI, tmp_path: Path) -> None:
    """B4: two taps on the same button before the bot answers move one step only."""
    user = bot_api.user(1008, "Hu")
    async with running_bot(bot_api, tmp_path):
        player = Player(bot_api, user)
        menu = with_buttons(await player.step("send", "/start", ["订单现在到哪一步了"]))
        data = button(menu, "正在派送")
        user.tap(menu, data)
        user.tap(menu, data)
        await player.expect(["遇到了什么问题"])
        await bot_api.wait_until(lambda: len(bot_api.callback_answers) == 2, 5, "two answers")
        # Let the second tap finish, then look: one "what went wrong?" question only.
        user.send_text("/help")
        said = await player.expect(["/start"])
        assert said
    texts = [m.text or "" for m in bot_api.sent(user.id)]
    assert sum("遇到了什么问题" in t for t in texts) == 1
    assert any("处理过了" in str(a.get("text", "")) for a in bot_api.callback_answers.values())


async def faulty_run(bot_api: FakeBotAPI, tmp_path: Path, user_id: int) -> list[str]:
    user = bot_api.user(user_id, "Jin")
    async with running_bot(bot_api, tmp_path):
        await Player(bot_api, user).play(REFUSAL)
    return [m.raw_text or "" for m in bot_api.sent(user.id)]


async def test_faults_on_send_still_deliver_every_reply_once_in_order(
    bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    """429 (retry_after honoured), 500, 502 and a dropped connection on sendMessage."""
    clean = await faulty_run(bot_api, tmp_path / "clean", 2001)
    bot_api.fail_next("sendMessage", "429", retry_after=1)
    bot_api.fail_next("sendMessage", "500")
    bot_api.fail_next("sendMessage", "drop")
    bot_api.fail_next("sendMessage", "502")
    bot_api.fail_next("editMessageReplyMarkup", "500")
    bot_api.fail_next("answerCallbackQuery", "drop")
    faulty = await faulty_run(bot_api, tmp_path / "faulty", 2002)
    assert faulty == clean
    faults = sorted({status for method, status, _ in bot_api.errors if method != "getUpdates"})
    assert faults == [0, 429, 500, 502]  # every fault was really served (0 = dropped)


async def test_updates_of_one_chat_are_answered_in_order(
    bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    """Several quick messages of one chat: each answer comes after the previous one."""
    user = bot_api.user(1009, "Kang")
    bot_api.latency = 0.01
    async with running_bot(bot_api, tmp_path):
        player = Player(bot_api, user)
        user.send_text("/start")
        user.send_text("/help")
        user.send_text("/cancel")
        user.send_text("/frobnicate")
        await player.expect(["订单现在到哪一步了", "frobnicate"])
    texts = [m.text or "" for m in bot_api.sent(user.id)]
    first_menu = next(i for i, t in enumerate(texts) if "订单现在到哪一步了" in t)
    unknown = next(i for i, t in enumerate(texts) if "frobnicate" in t)
    assert first_menu < unknown
    assert "frobnicate" in texts[-1] or "frobnicate" in texts[-2]


async def test_group_chat_only_answers_when_addressed(bot_api: FakeBotAPI, tmp_path: Path) -> None:
    """In a group the bot stays silent unless addressed, then points to the private chat."""
    alice = bot_api.user(1010, "Li")
    group = bot_api.group("买家群", members=(alice,))
    async with running_bot(bot_api, tmp_path):
        alice.send_text("大家好，我的快递压扁了", chat=group)
        alice.send_text("/start@some_other_bot", chat=group)
        alice.send_text(f"@{bot_api.bot_username} 卖家不同意退货", chat=group)
        (said,) = await bot_api.wait_for_messages(group.id, 1)
        assert "私聊" in (said.text or "")
        assert said.reply_to is not None
        alice.send_text(f"/start@{bot_api.bot_username}", chat=group)
        (again,) = await bot_api.wait_for_messages(group.id, 1)
        assert "私聊" in (again.text or "")
        alice.send_text("谢谢", chat=group, reply_to=said.message_id)  # a reply to the bot
        (third,) = await bot_api.wait_for_messages(group.id, 1)
        assert "私聊" in (third.text or "")
        alice.send_text("/start")  # the private chat still works
        (hello, *_) = await bot_api.wait_for_messages(alice.id, 1)
        assert "订单现在到哪一步了" in (hello.text or "")
    assert len(bot_api.sent(group.id)) == 3
    store = open_store(tmp_path)
    try:
        assert store.load(group.id) is None
    finally:
        store.close()


async def test_long_text_is_split_with_buttons_on_the_last_part(bot_api: FakeBotAPI) -> None:
    """Advice longer than 4096 characters goes out in parts, cut between paragraphs."""
    user = bot_api.user(1011, "Ma")
    user.send_text("/start")  # the shopper has talked to the bot, so it may write
    paragraphs = [f"<b>第{i}条</b>" + "注意保留证据。" * 120 for i in range(8)]
    reply = Reply("\n\n".join(paragraphs), ((Button("菜单", "1|menu.start|0"),),))
    async with bot_api.bot() as bot:
        sent = await deliver(bot, user.id, [reply])
    messages = bot_api.sent(user.id)
    assert sent == len(messages) >= 2
    assert [bool(m.buttons()) for m in messages] == [False] * (sent - 1) + [True]
    assert "\n\n".join(m.raw_text or "" for m in messages) == reply.text


async def test_production_rate_limits_under_flood_control(
    bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    """Real limits (1 message/s per chat after a burst, 30/s overall) against a server that
    answers 429 like Telegram: three shoppers finish, every reply once and in order."""
    import asyncio

    from bot.tg.transport import Limits

    clean = await faulty_run(bot_api, tmp_path / "clean", 2101)
    bot_api.enforce_rate_limits(chat=(3, 1.0), total=(30, 1.0))
    users = [bot_api.user(2200 + i, f"S{i}") for i in range(3)]
    async with running_bot(bot_api, tmp_path / "limited", limits=Limits(backoff=0.01)):
        await asyncio.gather(*(Player(bot_api, u).play(REFUSAL) for u in users))
    for user in users:
        assert [m.raw_text or "" for m in bot_api.sent(user.id)] == clean
    assert bot_api.rate_limit_hits == 0  # the per-chat bucket kept the bot under the limits
