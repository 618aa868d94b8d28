"""What the service needs from the pieces around it, as protocols: the engine (or a stub of
it in tests; the engine also serves as :class:`bot.cases.TextSource`) and the agent desk. The
service, the effect executors and the front ends type against these, so none of them needs to
import another just for its shape.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bot.engine.model import Conversation, Event, Outcome, Reply


class EngineLike(Protocol):
    """What the service needs from :class:`bot.engine.engine.Engine`."""

    #: The shoppers' time zone (config/policy.yaml, or the TIMEZONE setting).
    tz: ZoneInfo
    #: The language of a conversation without a hint (config/policy.yaml).
    default_locale: str

    def new_conversation(self, chat_id: int, locale: str = ...) -> Conversation:
        """Returns a conversation at the root state."""
        ...

    def handle(self, conversation: Conversation, event: Event) -> Outcome:
        """Runs one event through the flows."""
        ...

    def text(self, locale: str | None, key: str, /, **values: object) -> str:
        """Returns a rendered locale message (``None``: the default locale)."""
        ...

    def value_words(self, locale: str | None, slot: str, value: Any) -> str:
        """Shows a slot value in words (locale ``values:``), or as it is."""
        ...

    def statement(self, facts: dict[str, Any], today: date, *, case_id: str | None = None) -> str:
        """The complaint statement for these facts (Telegram HTML)."""
        ...

    def locales(self) -> tuple[str, ...]:
        """Returns the names of the loaded locales."""
        ...

    def commands(self, locale: str) -> list[tuple[str, str]]:
        """Returns (command, description) pairs for a command menu."""
        ...

    def tagged(self, tag: str) -> frozenset[str]:
        """Returns the ids of the states the flows tag with ``tag``."""
        ...


#: Builds the service-level replies for a ``handoff`` effect (the intervention issue replaces it).
HandoffHook = Callable[[Conversation], tuple[Reply, ...]]


class Desk(Protocol):
    """Human agents, as the service reaches them (``bot.agents.AgentDesk``), attached with
    :meth:`Service.attach_desk`: the service calls it; nothing replaces the service's methods."""

    def on_handoff(self, conv: Conversation) -> tuple[Reply, ...]:
        """The replies to a ``handoff`` effect (agent mode, or honestly no agent)."""
        ...

    async def after(self, chat_id: int, outcome: Outcome) -> tuple[Reply, ...]:
        """After an update's commit: the agent work its effects ask for; extra replies."""
        ...
