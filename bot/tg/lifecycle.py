"""The running application's start-up and shut-down work, in one ordered list per phase.

PTB's ``Application`` has one ``post_init``, one ``post_stop`` and one ``post_shutdown``
callback. Several parts of the bot need them (the command menu, the reminder scheduler, the
integration-hook worker, closing the store), so the application gets these three methods of a
:class:`Lifecycle` once, at build time, and each part adds its work with :meth:`on_start`,
:meth:`on_stop` or :meth:`on_shutdown`; nobody overwrites another's callback.

Start-up work runs in the order it was added; stop and shut-down work in the reverse order, so
what started last stops first (the scheduler stops before the store closes).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol

from telegram.ext import Application

#: ``bot_data`` key of the application's :class:`Lifecycle`.
LIFECYCLE_KEY = "lifecycle"

App = Application[Any, Any, Any, Any, Any, Any]
Step = Callable[[App], Awaitable[None]]


class Worker(Protocol):
    """A background loop of the bot's own (the reminder scheduler, the hook worker)."""

    def start(self) -> object:
        """Starts the loop in the running event loop (what it returns is not used)."""
        ...

    async def stop(self) -> None:
        """Stops the loop and waits for the work in progress."""
        ...


class Lifecycle:
    """Ordered start-up, stop and shut-down steps of one application."""

    def __init__(self) -> None:
        self._start: list[Step] = []
        self._stop: list[Step] = []
        self._shutdown: list[Step] = []

    def on_start(self, step: Step) -> None:
        """Runs ``step`` at start-up (after the bot is initialised, before updates flow)."""
        self._start.append(step)

    def on_stop(self, step: Step) -> None:
        """Runs ``step`` when the application stops (before it shuts down)."""
        self._stop.append(step)

    def on_shutdown(self, step: Step) -> None:
        """Runs ``step`` after the last update was handled."""
        self._shutdown.append(step)

    def runs(self, worker: Worker, *, until: Literal["stop", "shutdown"] = "stop") -> None:
        """Starts ``worker`` with the application and stops it at ``until``."""

        async def start(app: App) -> None:
            worker.start()

        async def stop(app: App) -> None:
            await worker.stop()

        self.on_start(start)
        (self.on_stop if until == "stop" else self.on_shutdown)(stop)

    async def start(self, app: App) -> None:
        """PTB's ``post_init``."""
        for step in self._start:
            await step(app)

    async def stop(self, app: App) -> None:
        """PTB's ``post_stop``."""
        for step in reversed(self._stop):
            await step(app)

    async def shutdown(self, app: App) -> None:
        """PTB's ``post_shutdown``."""
        for step in reversed(self._shutdown):
            await step(app)


def lifecycle(app: App) -> Lifecycle:
    """The lifecycle :func:`bot.tg.app.build_application` gave ``app``."""
    found = app.bot_data.get(LIFECYCLE_KEY)
    if not isinstance(found, Lifecycle):
        raise RuntimeError("the application was not built by bot.tg.app.build_application")
    return found
