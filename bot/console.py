"""The console chat: the same engine and service in a terminal.

Buttons are shown as numbered options; typing a number taps the button, anything else is sent
as text, and ``/commands`` work as on Telegram. It reads from a pipe too (one input per line,
exits at end of input), so a conversation can be scripted::

    printf '/start\\n1\\n快递盒子压扁了\\n' | python -m bot console

A line starting with ``@`` is the human agent's, after a hand-off (``@claim``, ``@close``,
``@<text>``; see :mod:`bot.console_desk`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TextIO

from bot.console_desk import agent_says, console_desk
from bot.engine.effects import Toast
from bot.engine.engine import Engine
from bot.engine.model import Button, Event, Reply
from bot.service import Service

_TAG = re.compile(r"</?(?:b|strong|i|em|u|ins|s|strike|del|code|pre|blockquote|a)(?:\s[^>]*)?>")
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&amp;", "&"))
CONSOLE_CHAT_ID = 1
log = logging.getLogger(__name__)


def plain(text: str) -> str:
    """Turns Telegram HTML into terminal text."""
    text = _TAG.sub("", text)
    for entity, char in _ENTITIES:
        text = text.replace(entity, char)
    return text


def parse_input(line: str, now: datetime, buttons: list[Button]) -> Event | None:
    """Turns one typed line into an event: a number taps a button, /x is a command."""
    line = line.strip()
    if not line:
        return None
    if line.isascii() and line.isdigit() and 1 <= int(line) <= len(buttons):
        return Event(kind="callback", now=now, data=buttons[int(line) - 1].data)
    if line.startswith("/") and len(line) > 1:
        name, _, rest = line[1:].partition(" ")
        return Event(kind="command", now=now, command=name.split("@")[0], text=rest)
    if line.startswith("!") and line[1:] in ("photo", "video", "document", "sticker", "location"):
        media = line[1:]
        return Event(
            kind="media",
            now=now,
            media=media,  # type: ignore[arg-type]
            file_id=f"console-{media}-{now.timestamp():.0f}",
        )
    return Event(kind="text", now=now, text=line)


def render(replies: tuple[Reply, ...], toasts: list[str], out: TextIO) -> list[Button]:
    """Prints replies; returns the buttons now on screen (numbered from 1)."""
    buttons: list[Button] = []
    for toast in toasts:
        out.write(f"  ({plain(toast)})\n")
    for reply in replies:
        if reply.text is None:
            continue
        out.write("\n" + plain(reply.text) + "\n")
        if reply.buttons:
            buttons = [b for row in reply.buttons for b in row]
            for i, b in enumerate(buttons, 1):
                out.write(f"  [{i}] {b.label}\n")
    return buttons


async def run_console(
    service: Service,
    engine: Engine,
    inp: TextIO,
    out: TextIO,
    clock: Callable[[], datetime],
    *,
    interactive: bool,
) -> int:
    """Chats until end of input; returns the exit code.

    Lines starting with ``@`` are the human agent's (:mod:`bot.console_desk`): the console
    plays the operator group too, so the hand-off works here as on Telegram.
    """
    buttons: list[Button] = []

    def show(replies: Sequence[Reply]) -> None:
        nonlocal buttons
        buttons = render(tuple(replies), [], out) or buttons

    desk = console_desk(service, out, show, plain)
    outcome = await service.handle(
        CONSOLE_CHAT_ID, Event(kind="command", now=clock(), command="start")
    )
    buttons = render(outcome.replies, [], out) or buttons
    while True:
        if interactive:
            out.write("> ")
            out.flush()
        line = inp.readline()
        if not line:
            return 0
        if not interactive:
            out.write(f"\n> {line.rstrip()}\n")
        if await agent_says(desk, CONSOLE_CHAT_ID, line.strip()):
            out.flush()
            continue
        event = parse_input(line, clock(), buttons)
        if event is None:
            continue
        try:
            outcome = await service.handle(CONSOLE_CHAT_ID, event)
        except Exception:
            log.exception("update failed in the console")
            outcome = service.apology(CONSOLE_CHAT_ID)
        toasts = [e.text for e in outcome.effects if isinstance(e, Toast)]
        shown = render(outcome.replies, toasts, out)
        if shown:
            buttons = shown
        out.flush()


def main(service: Service, engine: Engine, clock: Callable[[], datetime]) -> int:
    """Runs the console chat on stdin/stdout."""
    interactive = sys.stdin.isatty()
    try:
        return asyncio.run(
            run_console(service, engine, sys.stdin, sys.stdout, clock, interactive=interactive)
        )
    except KeyboardInterrupt:
        sys.stdout.write("\n")
        return 0
