"""What a named action (``do:`` in the flows) may read and change."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any

from bot.engine.effects import Effect

__all__ = ["ActionContext"]


@dataclass(slots=True)
class ActionContext:
    """What an action may read and change."""

    slots: dict[str, Any]
    today: date
    policy: dict[str, Any]
    case_id: str | None
    words: Callable[[str, Any], str]
    effects: list[Effect] = field(default_factory=list)
    #: The time of the event being handled (aware), for hour-based plans.
    now: datetime | None = None
    #: The shoppers' time zone (config/policy.yaml or the TIMEZONE setting).
    tz: tzinfo | None = None
