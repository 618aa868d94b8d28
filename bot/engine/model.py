"""Plain data that crosses the engine boundary: conversations, events, replies and effects.

Nothing here knows about Telegram, the console or storage. Every front end turns its input
into an :class:`Event`, calls :meth:`bot.engine.engine.Engine.handle` and turns the returned
:class:`Reply` objects and :class:`Effect` objects into its own actions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from bot.engine.effects import Effect

#: Slot values are JSON-serialisable scalars or small lists/dicts of them.
SlotValue = Any

EventKind = Literal["text", "command", "callback", "media", "reminder", "agent"]
MediaKind = Literal["photo", "video", "document", "sticker", "location", "voice", "other"]


@dataclass(slots=True)
class Conversation:
    """One shopper's dialogue: a small record, loaded and saved once per update."""

    chat_id: int
    state: str
    slots: dict[str, SlotValue] = field(default_factory=dict)
    back: list[str] = field(default_factory=list)
    #: Incremented on every handled event; stamped into button callback data.
    step: int = 0
    #: Consecutive failed answers to the current slot prompt.
    misses: int = 0
    #: The conversation's language ("": the default locale of config/policy.yaml).
    locale: str = ""
    #: Store version for optimistic concurrency; the store bumps it on save.
    version: int = 0
    #: Callback data applied last (to swallow double taps).
    last_cb: str = ""
    #: Open case id, if the shopper is in the platform-intervention script.
    case_id: str | None = None
    #: "bot" while the flow runs; "agent" while a human agent has the chat.
    mode: str = "bot"
    #: Unix time of the last handled event (for idle nudges and retention).
    updated_at: float = 0.0
    #: The shopper chose the language (/lang): the bot no longer follows the script they type.
    locale_pinned: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-serialisable dict (the storage form)."""
        return {
            "chat_id": self.chat_id,
            "state": self.state,
            "slots": self.slots,
            "back": self.back,
            "step": self.step,
            "misses": self.misses,
            "locale": self.locale,
            "version": self.version,
            "last_cb": self.last_cb,
            "case_id": self.case_id,
            "mode": self.mode,
            "updated_at": self.updated_at,
            "locale_pinned": self.locale_pinned,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Conversation:
        """Builds a conversation from :meth:`to_dict` output (unknown keys are ignored)."""
        return cls(
            chat_id=int(data["chat_id"]),
            state=str(data["state"]),
            slots=dict(data.get("slots") or {}),
            back=list(data.get("back") or []),
            step=int(data.get("step", 0)),
            misses=int(data.get("misses", 0)),
            locale=str(data.get("locale", "")),
            version=int(data.get("version", 0)),
            last_cb=str(data.get("last_cb", "")),
            case_id=data.get("case_id"),
            mode=str(data.get("mode", "bot")),
            updated_at=float(data.get("updated_at", 0.0)),
            locale_pinned=bool(data.get("locale_pinned", False)),
        )


@dataclass(frozen=True, slots=True)
class Event:
    """Something the shopper (or the service, for reminders) did.

    - ``text``: ``text`` is what was typed.
    - ``command``: ``command`` is the name without the slash (``"start"``), ``text`` the rest.
    - ``callback``: ``data`` is the button's callback data.
    - ``media``: ``media`` is the kind, ``file_id`` the platform's file id.
    - ``reminder``: ``data`` is the reminder kind: the state tagged ``reminder_<kind>`` is the
      follow-up question it moves to (``payload["state"]``, in reminders stored before tags,
      names it instead); ``payload["set"]`` optional slot values. Leaves agent mode.
    - ``agent``: a human agent's message, ``text`` its body.
    """

    kind: EventKind
    now: datetime
    text: str = ""
    command: str = ""
    data: str = ""
    media: MediaKind | None = None
    file_id: str = ""
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Button:
    """An inline button: the label shown and the callback data sent back when tapped."""

    label: str
    data: str


@dataclass(frozen=True, slots=True)
class Reply:
    """A message for the shopper.

    ``mode="send"`` sends a new message. ``mode="edit"`` changes the message that carried the
    tapped button: with ``text`` it replaces the text, with ``text=None`` it only removes the
    buttons (so an old menu cannot be tapped twice). ``html`` says the text is Telegram HTML
    (user-typed values inside it are already escaped). ``alone`` keeps the reply a message of
    its own (a statement to copy, an evidence acknowledgement) when a turn's replies are joined
    into one message (:mod:`bot.engine.replies`).
    """

    text: str | None
    buttons: tuple[tuple[Button, ...], ...] = ()
    mode: Literal["send", "edit"] = "send"
    html: bool = True
    alone: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    """What :meth:`Engine.handle` returns."""

    conversation: Conversation
    replies: tuple[Reply, ...]
    effects: tuple[Effect, ...] = ()
    #: State before the event (for the per-update log line and the event log).
    state_before: str = ""
