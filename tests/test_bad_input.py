"""Bad input from shoppers: markup is escaped wherever it is echoed, long text is trimmed with a
note, a wrong order number is refused with the expected format, odd callback data is harmless.

``Shopper`` (a shopper driving the real flows through ``Service`` + a store) is reused by
``tests/test_privacy.py`` and ``tests/test_concurrency.py``.
"""

from __future__ import annotations

import html
import html.parser
from datetime import datetime, timedelta
from typing import Any

from bot.cases import card_text, shopper_text
from bot.engine.freetext import TEXT_LIMIT
from bot.engine.model import Button, Event, Outcome
from bot.service import Service
from bot.store.base import Store
from bot.store.memory import MemoryStore
from tests.e2e.harness import engine
from tests.support import TZ, Clock

START = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)


def clock() -> Clock:
    """A test clock that moves one second per reading."""
    return Clock(START, step=timedelta(seconds=1))


class Shopper:
    """One shopper talking to the service; remembers what is on screen."""

    def __init__(self, service: Service, chat_id: int) -> None:
        self.service = service
        self.chat_id = chat_id
        self.buttons: list[Button] = []
        self.said: list[Outcome] = []

    async def _do(self, factory: Any) -> Outcome:
        out = await self.service.handle(self.chat_id, factory)
        self.said.append(out)
        shown = [b for r in out.replies for row in r.buttons for b in row]
        if shown:
            self.buttons = shown
        return out

    async def send(self, text: str) -> Outcome:
        if text.startswith("/"):
            name, _, rest = text[1:].partition(" ")
            return await self._do(lambda now: Event("command", now, command=name, text=rest))
        return await self._do(lambda now: Event("text", now, text=text))

    async def tap(self, label: str) -> Outcome:
        found = [b for b in self.buttons if label in b.label]
        assert found, f"no button {label!r} in {[b.label for b in self.buttons]}"
        data = found[0].data
        return await self._do(lambda now: Event("callback", now, data=data))

    async def tap_data(self, data: str) -> Outcome:
        return await self._do(lambda now: Event("callback", now, data=data))

    async def media(self, kind: str = "photo", file_id: str = "AgACAgIAAxkBAAIB") -> Outcome:
        return await self._do(lambda now: Event("media", now, media=kind, file_id=file_id))  # type: ignore[arg-type]

    def state(self) -> str:
        return self.said[-1].conversation.state

    @staticmethod
    def text(out: Outcome) -> str:
        return "\n".join(r.text or "" for r in out.replies)


def service(store: Store | None = None) -> Service:
    return Service(engine(), store or MemoryStore(), clock())


#: /start → 正在派送 → 包裹破损 → 对，就是这样 → "卖家不同意" → intervention.start (order number).
TO_INTERVENTION = [
    ("send", "/start"),
    ("tap", "正在派送"),
    ("tap", "包裹破损"),
    ("tap", "对，就是这样"),
    ("send", "卖家不同意退款"),
]


async def to_statement(
    shopper: Shopper, description: str, seller_said: str, order_no: str = "P7123456789012345678"
) -> Outcome:
    """Plays the intervention script to the finished statement; returns the statement outcome."""
    for kind, arg in TO_INTERVENTION:
        await (shopper.send(arg) if kind == "send" else shopper.tap(arg))
    assert shopper.state() == "intervention.start", shopper.state()
    await shopper.send(order_no)
    assert shopper.state() == "intervention.product", shopper.state()
    await shopper.tap("跳过")
    assert shopper.state() == "intervention.describe", shopper.state()
    await shopper.send(description)
    await shopper.send(seller_said)
    assert shopper.state() == "intervention.evidence", shopper.state()
    await shopper.media("photo")
    await shopper.tap("好了")
    await shopper.tap("仅退款")
    assert shopper.state() == "intervention.review", shopper.state()
    out = await shopper.tap("确认，生成最终版")
    assert shopper.state() == "intervention.statement", shopper.state()
    return out


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.tags.append(tag)


def tags_in(text: str) -> list[str]:
    parser = _Tags()
    parser.feed(text)
    parser.close()
    return parser.tags


EVIL = (
    '<b>x</b><a href="https://evil.example">点我</a><script>alert(1)</script> & *粗体* _斜_ `代码`'
)


async def test_markup_typed_by_the_shopper_is_escaped_in_the_statement() -> None:
    shopper = Shopper(service(), 5001)
    out = await to_statement(
        shopper, "外箱压扁 " + EVIL, "卖家说 <i>不退</i> &amp; [链接](http://x)"
    )
    text = Shopper.text(out)
    assert html.escape(EVIL, quote=False) in text
    assert "&lt;i&gt;不退&lt;/i&gt; &amp;amp;" in text
    assert "evil.example" not in [v for t in tags_in(text) for v in t]
    assert "a" not in tags_in(text) and "script" not in tags_in(text)
    assert "*粗体* _斜_ `代码`" in text  # Markdown stays literal (replies are HTML)
    assert all(r.html for r in out.replies if r.text)


async def test_markup_is_escaped_in_the_case_card_and_case_view() -> None:
    store = MemoryStore()
    shopper = Shopper(service(store), 5002)
    await to_statement(shopper, EVIL, EVIL)
    case = store.cases_of(5002)[0]
    src = engine()
    for text in (card_text(src, case, 1), shopper_text(src, store, 5002)):
        assert "<script>" not in text and "<a " not in text, text
        assert "&lt;script&gt;" in text


async def test_braces_typed_by_the_shopper_are_not_placeholders() -> None:
    shopper = Shopper(service(), 5003)
    out = await to_statement(shopper, "{order_no} {hedge} {0} {__class__}", "{}{{}}")
    text = Shopper.text(out)
    assert "{order_no} {hedge} {0} {__class__}" in text
    assert "{}{{}}" in text


async def test_over_long_text_is_trimmed_with_a_note() -> None:
    store = MemoryStore()
    shopper = Shopper(service(store), 5004)
    for kind, arg in TO_INTERVENTION:
        await (shopper.send(arg) if kind == "send" else shopper.tap(arg))
    await shopper.send("P7123456789012345678")
    await shopper.tap("跳过")  # the product
    out = await shopper.send("破" * 4096)
    text = Shopper.text(out)
    assert str(TEXT_LIMIT) in text  # sys.too_long names the limit
    assert shopper.state() == "intervention.seller_words"
    assert out.conversation.slots["description"] == "破" * TEXT_LIMIT
    # The note is said exactly once and every message fits in Telegram.
    assert sum(str(TEXT_LIMIT) in (r.text or "") for r in out.replies) == 1
    assert all(len(r.text or "") <= 4096 for r in out.replies)


async def test_a_wrong_order_number_is_refused_with_the_expected_format() -> None:
    shopper = Shopper(service(), 5005)
    for kind, arg in TO_INTERVENTION:
        await (shopper.send(arg) if kind == "send" else shopper.tap(arg))
    example = str(engine().bundle.policy["order_number_example"])
    for wrong in ("12345", "订单号是啥", "P71234<b>56789", "1" * 31, "😀" * 20):
        out = await shopper.send(wrong)
        assert shopper.state() == "intervention.start", wrong
        assert example in Shopper.text(out), Shopper.text(out)
        await shopper.send("/back")
        await shopper.send("卖家不同意退款")
    out = await shopper.send("订单号：P7123456789012345678")
    assert shopper.state() == "intervention.product"
    assert out.conversation.slots["order_no"] == "P7123456789012345678"


async def test_control_and_zero_width_characters_do_not_reach_stored_text() -> None:
    shopper = Shopper(service(), 5006)
    await to_statement(shopper, "外箱\u200b压扁\x00\x1b[31m\u202e", "卖家\ufeff不退")
    slots = shopper.said[-1].conversation.slots
    assert "\x00" not in slots["description"] and "\x1b" not in slots["description"]
    assert "压扁" in slots["description"]


def test_callback_index_with_a_non_ascii_digit_is_outdated_not_a_crash() -> None:
    """Regression: ``"²".isdigit()`` is true but ``int("²")`` raised ValueError in
    ``Engine._on_callback`` (found by tests/test_properties.py; fixed in ff406b9)."""
    eng = engine()
    conv = eng.new_conversation(5007)
    for data in ("0|menu.start|²", "0|menu.start|١", "0|menu.start|٣"):
        out = eng.handle(conv, Event("callback", START, data=data))
        assert any(e.kind == "toast" for e in out.effects)  # told the menu is outdated
        assert out.conversation.state == conv.state


def test_reminder_callback_with_a_non_ascii_digit_is_harmless() -> None:
    """BUG (bot/reminders.py, on_reminder_callback): ``rm:²`` passes ``arg.isdigit()`` and then
    ``int(arg)`` raises ValueError.

    Fix: ``if not (arg.isascii() and arg.isdigit()):`` before ``int(arg)``.
    """
    from bot.reminders import on_reminder_callback

    store = MemoryStore()
    eng = engine()
    replies = on_reminder_callback(
        store, lambda key, **v: eng.text("zh-Hans", key, **v), 5008, "rm:²", "Asia/Shanghai"
    )
    assert replies is not None and replies[0].text
