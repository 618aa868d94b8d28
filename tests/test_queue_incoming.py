"""The queue workers read a shopper's update as the PTB handlers do, and plan the same calls.

:func:`bot.tg.incoming.incoming_of` turns a raw update into the engine event the handlers in
:mod:`bot.tg.handlers` would make; :func:`bot.tg.outbox.plan_calls` turns the outcome into the
calls :func:`bot.tg.send.deliver` and the tap handler make, tap answer first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from telegram import Update

from bot.engine.effects import Toast
from bot.engine.model import Button, Conversation, Outcome, Reply
from bot.tg.incoming import incoming_of
from bot.tg.outbox import plan_calls
from bot.tg.queue import chat_of, derived_secret

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
USER = {"id": 42, "is_bot": False, "first_name": "A", "language_code": "zh-hant"}
PRIVATE = {"id": 42, "type": "private", "first_name": "A"}
LOCALES = ("zh-Hans", "zh-Hant", "en")


def message(**extra: Any) -> dict[str, Any]:
    return {"message_id": 7, "date": 1, "chat": PRIVATE, "from": USER, **extra}


def read(update: dict[str, Any]) -> Any:
    return incoming_of(
        Update.de_json(update, None),
        username="xhs_bot",
        locales=LOCALES,
        default_locale="zh-Hans",
    )


def test_text_becomes_a_text_event_in_the_users_language() -> None:
    got = read({"update_id": 1, "message": message(text="包裹破损了")})
    assert got.chat_id == 42 and got.locale_hint == "zh-Hant"
    event = got.event(NOW)
    assert (event.kind, event.text) == ("text", "包裹破损了")


def test_commands_are_commands_and_another_bots_are_ignored() -> None:
    entity = [{"type": "bot_command", "offset": 0, "length": 6}]
    got = read({"update_id": 1, "message": message(text="/start ref", entities=entity)})
    event = got.event(NOW)
    assert (event.kind, event.command, event.text) == ("command", "start", "ref")
    other = [{"type": "bot_command", "offset": 0, "length": 12}]
    assert read({"update_id": 2, "message": message(text="/start@other", entities=other)}) is None
    # A slash without the entity is typed text, as filters.COMMAND sees it.
    assert read({"update_id": 3, "message": message(text="/ 不是命令")}).event(NOW).kind == "text"


def test_a_tap_carries_its_query_and_the_tapped_message() -> None:
    query = {
        "id": "q1",
        "from": USER,
        "chat_instance": "c",
        "data": "go|k2",
        "message": message(text="menu"),
    }
    got = read({"update_id": 1, "callback_query": query})
    assert (got.query_id, got.tapped) == ("q1", 7)
    assert got.event(NOW).data == "go|k2"


def test_a_photo_is_evidence_with_its_largest_file() -> None:
    sizes = [
        {"file_id": "small", "file_unique_id": "s", "width": 1, "height": 1},
        {"file_id": "big", "file_unique_id": "b", "width": 9, "height": 9},
    ]
    event = read({"update_id": 1, "message": message(photo=sizes)}).event(NOW)
    assert (event.kind, event.media, event.file_id) == ("media", "photo", "big")


def test_groups_and_other_updates_go_to_the_handlers() -> None:
    group = {"id": -5, "type": "supergroup", "title": "ops"}
    assert read({"update_id": 1, "message": {**message(text="hi"), "chat": group}}) is None
    assert read({"update_id": 2, "edited_message": message(text="hi", edit_date=2)}) is None


def test_chat_of_finds_the_chat_of_every_kind() -> None:
    assert chat_of({"update_id": 1, "message": message(text="x")}) == 42
    query = {"id": "q", "from": USER, "chat_instance": "c", "message": message(text="m")}
    assert chat_of({"update_id": 1, "callback_query": query}) == 42
    assert chat_of({"update_id": 1, "inline_query": {"id": "i", "from": USER}}) == 42
    assert chat_of({"update_id": 1}) == 0


def test_the_webhook_secret_is_shared_by_workers_and_is_not_the_token() -> None:
    token = "123:abc"
    assert derived_secret(token) == derived_secret(token)
    assert token not in derived_secret(token) and len(derived_secret(token)) <= 256


def outcome(*replies: Reply, toast: str | None = None) -> Outcome:
    effects = (Toast(toast),) if toast else ()
    return Outcome(Conversation(chat_id=42, state="menu"), replies, effects)


def test_a_tap_is_answered_first_then_edited_then_sent() -> None:
    rows = ((Button("好", "ok"),),)
    calls = plan_calls(
        42,
        outcome(Reply("改了", mode="edit", buttons=rows), Reply("下一步"), toast="已记录"),
        query_id="q1",
        tapped=7,
    )
    assert [m for m, _ in calls] == ["answerCallbackQuery", "editMessageText", "sendMessage"]
    assert calls[0][1] == {"callback_query_id": "q1", "text": "已记录"}
    assert calls[1][1]["message_id"] == 7
    assert calls[1][1]["reply_markup"] == {
        "inline_keyboard": [[{"text": "好", "callback_data": "ok"}]]
    }


def test_a_stripped_keyboard_is_removed_after_the_replies_and_long_texts_split() -> None:
    long = "\n\n".join("段" * 3000 for _ in range(2))
    calls = plan_calls(42, outcome(Reply(None, mode="edit"), Reply(long)), query_id="q", tapped=7)
    assert [m for m, _ in calls] == [
        "answerCallbackQuery",
        "sendMessage",
        "sendMessage",
        "editMessageReplyMarkup",
    ]
    assert calls[-1][1] == {"chat_id": 42, "message_id": 7}
