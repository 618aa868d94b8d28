"""The agent desk in the console: the operator group is the same terminal.

With the console there is no Telegram group, so the case card, the shopper's relayed messages
and the card's changes are printed, marked as what the agents see. The person at the keyboard
plays the agent too: ``@<text>`` answers the shopper as the human agent, ``@claim`` takes the
case, ``@close`` closes it (the shopper is then asked for a rating, flows/rating.yaml). So the
hand-off works in all three front ends alike (Telegram, the console, the transcripts' service).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any, TextIO

from bot.agents import AgentDesk, Rows
from bot.engine.model import Reply
from bot.store.base import Case

#: The console's agent (a user id no Telegram user has).
CONSOLE_AGENT = 0
#: The console's "operator group".
CONSOLE_GROUP = 0
#: What the agent types: ``@claim``, ``@close``, or ``@`` and a message for the shopper.
AGENT_PREFIX = "@"

Show = Callable[[Sequence[Reply]], None]


class ConsoleOperators:
    """:class:`bot.agents.Operators` printed to the terminal (the agents' side, marked)."""

    def __init__(
        self, out: TextIO, show: Show, plain: Callable[[str], str], say: Callable[..., str]
    ) -> None:
        self._out, self._show, self._plain, self._say = out, show, plain, say
        self._ids = 0

    def print(self, text: str) -> int:
        """Prints ``text`` as the agents' side (marked); returns its message id."""
        self._ids += 1
        lines = self._plain(text).splitlines() or [""]
        self._out.write("\n" + "\n".join(f"  ┃ {line}" for line in lines) + "\n")
        return self._ids

    async def open_thread(
        self, case: Case, title: str, card: str, buttons: Rows
    ) -> tuple[int | None, int]:
        """Prints the card the agents receive."""
        return None, self.print(f"{self._thread(title)}\n{card}\n{self._actions(buttons)}")

    async def post(self, case: Case, text: str) -> int:
        """Prints a note in the case's thread."""
        return self.print(f"{self._thread(case.case_id)} {text}")

    async def post_file(self, case: Case, media: str, file_id: str, caption: str | None) -> int:
        """Prints a file posted in the thread (its id; the console has no files)."""
        return self.print(f"{self._thread(case.case_id)} {media} {file_id} {caption or ''}")

    async def edit_card(self, case: Case, text: str, buttons: Rows) -> None:
        """Prints the card as it now reads."""
        self.print(f"{self._thread(case.case_id)}\n{text}\n{self._actions(buttons)}")

    def _thread(self, name: str) -> str:
        return self._say("agent.console_thread", text=name)

    def _actions(self, buttons: Rows) -> str:
        """What the card's buttons are in the console: lines the agent types."""
        return self._say("agent.console_hint") if any(buttons) else ""

    async def is_member(self, user_id: int) -> bool:
        """The console's agent is the only member."""
        return user_id == CONSOLE_AGENT

    async def copy(self, chat: int, message_id: int, caption: str) -> None:
        """The console has no agent media to copy; says so to the shopper."""
        self._show((Reply(caption),))

    async def deliver(self, chat: int, replies: Sequence[Reply]) -> int:
        """Shows the replies to the shopper."""
        self._show(replies)
        return sum(1 for r in replies if r.text)


def console_desk(service: Any, out: TextIO, show: Show, plain: Callable[[str], str]) -> AgentDesk:
    """An agent desk whose operator group is the console, attached to ``service``."""
    settings = SimpleNamespace(operator_chat_id=CONSOLE_GROUP, operator_ids={CONSOLE_AGENT})
    engine = service.engine

    def say(key: str, **values: object) -> str:
        return str(engine.text(engine.default_locale, key, **values))

    operators = ConsoleOperators(out, show, plain, say)
    desk = AgentDesk(service, settings, operators, clock=lambda: service.clock().timestamp())
    service.attach_desk(desk)
    return desk


async def agent_says(desk: AgentDesk, chat_id: int, line: str) -> bool:
    """Runs an ``@…`` line as the console's agent; tells whether the line was one."""
    if not line.startswith(AGENT_PREFIX):
        return False
    said = line[len(AGENT_PREFIX) :].strip()
    conv = desk.store.load(chat_id)
    case = desk.store.get_case(conv.case_id) if conv is not None and conv.case_id else None
    operators = desk.operators
    assert isinstance(operators, ConsoleOperators)
    if case is None:
        operators.print(desk.say("agent.unknown_case"))
        return True
    if said == "claim":
        claimed, holder = desk.claim(case.case_id, CONSOLE_AGENT, desk.say("agent.console_name"))
        if holder is None:
            await desk.refresh_card(claimed or case)
    elif said == "close":
        closed, already = desk.close(case.case_id, CONSOLE_AGENT, desk.say("agent.console_name"))
        if not already:
            await desk.refresh_card(closed or case)
            outcome = await desk.leave_agent_mode(closed or case)
            await operators.deliver(chat_id, outcome.replies)
    elif said:
        await desk.from_agent(case.case_id, 0, said, None)
    return True
