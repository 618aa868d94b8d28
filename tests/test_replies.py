"""One message per turn: what a turn says reaches the phone as few messages as it fits in."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.engine.model import Button, Event, Reply
from bot.engine.replies import MESSAGE_LIMIT, SEPARATOR, one_message_per_turn, tg_len
from bot.service import Service
from bot.store.memory import MemoryStore
from tests.dialogue_runner import more_messages_than_needed
from tests.support import project_engine

ROOT = Path(__file__).resolve().parent.parent
MENU = ((Button("菜单", "1|menu.start|0"),),)


def test_plain_replies_become_one_message_with_the_keyboard_last() -> None:
    out = one_message_per_turn([Reply("记下了"), Reply("你的订单到哪一步了？", MENU)])
    assert out == (Reply("记下了\n\n你的订单到哪一步了？", MENU),)


def test_buttons_stay_under_their_own_text() -> None:
    replies = (Reply("选一个", MENU), Reply("或者直接打字告诉我"))
    assert one_message_per_turn(replies) == replies


def test_a_statement_or_an_acknowledgement_stays_alone() -> None:
    replies = (Reply("申诉说明：……", alone=True), Reply("怎么提交：……", MENU))
    assert one_message_per_turn(replies) == replies
    assert one_message_per_turn((Reply("先说一句"), *replies))[0] == Reply("先说一句")


def test_edits_and_mixed_markup_are_not_joined() -> None:
    edit = (Reply("已选择：拒收", mode="edit"), Reply("下一步"))
    assert one_message_per_turn(edit) == edit
    mixed = (Reply("<b>粗体</b>"), Reply("a < b", html=False))
    assert one_message_per_turn(mixed) == mixed


def test_the_limit_is_telegrams_counted_in_utf16() -> None:
    # An emoji is two UTF-16 units: 2046 of them, the paragraph break and two characters are
    # exactly 4096; a third character would be one too many.
    big = "😀" * 2046
    assert tg_len(big) == 4092
    assert len(one_message_per_turn([Reply(big), Reply("好的")])) == 1
    assert len(one_message_per_turn([Reply(big), Reply("好的呀")])) == 2


@given(st.lists(st.tuples(st.text(min_size=1, max_size=1500), st.booleans()), max_size=8))
def test_joining_keeps_every_word_in_order_within_the_limit(
    items: list[tuple[str, bool]],
) -> None:
    replies = [Reply(text, MENU if buttons else ()) for text, buttons in items]
    out = one_message_per_turn(replies)
    # Joining only puts a paragraph break between neighbours: nothing is lost or reordered.
    assert SEPARATOR.join(r.text or "" for r in out) == SEPARATOR.join(t for t, _ in items)
    given_texts = {t for t, _ in items}
    assert all(tg_len(r.text or "") <= MESSAGE_LIMIT or r.text in given_texts for r in out)
    assert sum(1 for r in out if r.buttons) == sum(1 for _, b in items if b)
    assert more_messages_than_needed(out, media_turn=False) is None


def test_the_transcript_check_catches_a_turn_that_could_be_one_message() -> None:
    two = (Reply("记下了"), Reply("你的订单到哪一步了？", MENU))
    assert more_messages_than_needed(two, media_turn=False)
    assert more_messages_than_needed(one_message_per_turn(two), media_turn=False) is None
    # "alone" needs a reason the shopper can see
    assert more_messages_than_needed((Reply("随便一句", alone=True),), media_turn=False)


RANTS = ["东西坏了，签收3天了，卖家不给退", "卖家不同意，我要申请平台介入"]


@pytest.mark.parametrize("text", RANTS)
async def test_the_service_sends_a_turn_as_one_message(text: str) -> None:
    """The engine says several things; the shopper gets them as one message."""
    engine = project_engine()
    now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    if text.startswith("/"):
        event = Event(kind="command", now=now, command=text[1:])
    else:
        event = Event(kind="text", now=now, text=text)
    raw = engine.handle(engine.new_conversation(1), event)
    service = Service(engine, MemoryStore(), lambda: now)
    sent = (await service.handle(1, event)).replies
    said = [r.text for r in raw.replies if r.text]
    assert len(said) >= 2, said  # the engine says more than one thing here
    assert "\n\n".join(said) == "\n\n".join(r.text for r in sent if r.text)
    assert len([r for r in sent if r.text]) == 1, [r.text for r in sent]
