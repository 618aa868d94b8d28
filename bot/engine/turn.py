"""One update in progress: what the engine and the free-text handling share while it runs."""

from __future__ import annotations

from datetime import date

from bot.engine.model import Conversation, Effect, Event, Reply
from bot.engine.spec import Locale

__all__ = ["Turn"]


class Turn:
    """Mutable scratch space for one update (the engine's and the free-text handling's)."""

    __slots__ = ("conv", "effects", "event", "loc", "replies", "today")

    def __init__(self, conv: Conversation, event: Event, loc: Locale, today: date) -> None:
        self.conv = conv
        self.event = event
        self.loc = loc
        self.today = today
        self.replies: list[Reply] = []
        self.effects: list[Effect] = []
