"""Start-up and shut-down work: every part adds its own step; nobody overwrites another's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.store.sqlite import open_store
from bot.tg import handlers
from bot.tg.app import build_application, install_reminders
from bot.tg.lifecycle import Lifecycle, lifecycle
from tests.e2e.harness import engine, settings_for, started
from tests.fakes.bot_api import FakeBotAPI


async def test_steps_start_in_order_and_stop_in_reverse() -> None:
    done: list[str] = []
    steps = Lifecycle()

    def step(name: str) -> Any:
        async def run(app: Any) -> None:
            done.append(name)

        return run

    for name in ("menu", "scheduler"):
        steps.on_start(step(f"start {name}"))
        steps.on_shutdown(step(f"close {name}"))
    await steps.start(None)  # type: ignore[arg-type]
    await steps.shutdown(None)  # type: ignore[arg-type]
    assert done == ["start menu", "start scheduler", "close scheduler", "close menu"]


async def test_the_scheduler_runs_with_the_app_and_stops_before_the_store_closes(
    bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    store = open_store(tmp_path)
    app = build_application(settings_for(bot_api, tmp_path), engine(), store)
    service = app.bot_data[handlers.DEPS_KEY].service
    scheduler = install_reminders(app, service, settings_for(bot_api, tmp_path))
    assert app.post_init == lifecycle(app).start
    async with started(app):
        assert scheduler.running
        assert bot_api.calls_to("setMyCommands"), "the command menu is still registered"
    assert not scheduler.running
