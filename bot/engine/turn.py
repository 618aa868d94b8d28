"""One update in progress: what the engine and the free-text handling share while it runs."""

from __future__ import annotations

from datetime import date

from bot.engine.effects import Effect
from bot.engine.model import Conversation, Event, Reply
from bot.engine.spec import Locale

__all__ = ["HUMAN_BUTTON", "MENU_BUTTON", "SKIP_BUTTON", "SUGGEST_BASE", "Turn"]

#: Button indexes in callback data (``step|state|index``) that are not a state's own buttons:
#: the "three misses" way out (skip, a person, the menu) and the first "你是想问…" suggestion.
SKIP_BUTTON, HUMAN_BUTTON, MENU_BUTTON = 100, 101, 102
SUGGEST_BASE = 200


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
