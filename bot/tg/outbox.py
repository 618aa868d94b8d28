"""The Bot API calls of one turn, as rows of the outbox, and how a sender makes one.

:func:`plan_calls` turns an outcome into the calls :func:`bot.tg.send.deliver` and the tap
handler would make (the tap's answer first, then the messages and edits in order, then the
removal of the tapped keyboard), as ``(method, params)`` pairs of plain JSON, so they can be
stored in the same commit as the conversation (:func:`bot.store.pg_queue.add_sends`).
:func:`perform` makes one stored call and says what became of it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Literal

from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.engine.effects import Toast
from bot.engine.model import Outcome, Reply
from bot.engine.replies import tg_len
from bot.tg.send import TEXT_LIMIT, message_params, split_text, strips_keyboard
from bot.tg.transport import may_repeat

log = logging.getLogger(__name__)

Call = tuple[str, dict[str, Any]]
#: What became of a call: sent; failed for good; the chat blocked the bot; try again later.
Result = Literal["sent", "failed", "blocked", "retry"]

#: Attempts at a call that certainly did not reach Telegram before it is given up.
MAX_ATTEMPTS = 5


def plan_calls(
    chat_id: int,
    outcome: Outcome,
    *,
    query_id: str | None = None,
    tapped: int | None = None,
    tidy: bool = True,
) -> list[Call]:
    """The calls that deliver ``outcome`` to ``chat_id``, in order (without the removal of the
    tapped keyboard unless ``tidy``)."""
    calls: list[Call] = []
    if query_id is not None:
        toast = next((e.text for e in outcome.effects if isinstance(e, Toast)), None)
        answer: dict[str, Any] = {"callback_query_id": query_id}
        if toast:
            answer["text"] = str(toast)[:200]
        calls.append(("answerCallbackQuery", answer))
    calls.extend(message_calls(chat_id, outcome.replies, tapped))
    if tidy and tapped is not None and strips_keyboard(outcome.replies):
        calls.append(("editMessageReplyMarkup", {"chat_id": chat_id, "message_id": tapped}))
    return calls


def message_calls(chat_id: int, replies: Sequence[Reply], tapped: int | None = None) -> list[Call]:
    """The ``sendMessage``/``editMessageText`` calls of ``replies`` (long texts split), with the
    parameters :func:`bot.tg.send.send_text` would send."""
    calls: list[Call] = []
    for reply in replies:
        if not reply.text:
            continue  # a keyboard removal (planned after the replies) or nothing to send
        if reply.mode == "edit" and tapped is not None and tg_len(reply.text) <= TEXT_LIMIT:
            edit = message_params(chat_id, reply.text, reply.html, reply.buttons, message_id=tapped)
            calls.append(("editMessageText", edit))
            continue
        parts = split_text(reply.text)
        for index, part in enumerate(parts):
            rows = reply.buttons if index == len(parts) - 1 else ()
            calls.append(("sendMessage", message_params(chat_id, part, reply.html, rows)))
    return calls


async def perform(
    bot: Bot, method: str, params: dict[str, Any], attempts: int
) -> tuple[Result, float, str]:
    """Makes one call; returns what became of it, the seconds to wait before a retry, and a
    one-line reason (no message text).

    The request layer has already retried what is safe to retry and waited out 429s
    (:mod:`bot.tg.transport`). An edit Telegram refuses (too old, deleted) is sent as a new
    message instead, as :func:`bot.tg.send.deliver` does; "not modified" is success.
    """
    try:
        await bot.do_api_request(method, api_kwargs=params)
    except RetryAfter as exc:
        wait = exc.retry_after
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        return "retry", seconds, "429"
    except Forbidden:
        return "blocked", 0.0, "403"
    except BadRequest as exc:
        reason = (exc.message or "").lower()
        if method == "editMessageText":
            if "not modified" in reason:
                return "sent", 0.0, ""
            fallback = {k: v for k, v in params.items() if k != "message_id"}
            return await perform(bot, "sendMessage", fallback, attempts)
        if method in ("answerCallbackQuery", "editMessageReplyMarkup"):
            return "sent", 0.0, f"400 ignored: {exc.message}"[:120]  # stale query / no keyboard
        return "failed", 0.0, f"400: {exc.message}"[:120]
    except TimedOut:
        # It may have reached Telegram: a message is never repeated (docs/reliability.md).
        return "failed", 0.0, "timed out"
    except NetworkError as exc:
        if not may_repeat(method, exc.__cause__) or attempts + 1 >= MAX_ATTEMPTS:
            return "failed", 0.0, f"network: {exc.__class__.__name__}"
        return "retry", min(30.0, 0.5 * 2**attempts), f"network: {exc.__class__.__name__}"
    return "sent", 0.0, ""
