"""The Bot API connection pool is split into small shards sized from ``CONCURRENCY``."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.store.memory import MemoryStore
from bot.tg.app import build_application
from bot.tg.transport import Limits, RetryingRequest, ShardedRequest
from tests.e2e.harness import engine, settings_for
from tests.fakes.bot_api import FakeBotAPI


@pytest.mark.parametrize(
    ("concurrency", "limits", "shards", "per_shard"),
    [
        ("24", Limits(), 7, 8),  # two connections per slot plus eight: 56
        ("4", Limits(), 4, 8),  # never fewer than 32 connections
        ("24", Limits(pool_size=10, pool_shards=1), 1, 10),  # an operator's explicit choice
    ],
)
def test_pool_shards_follow_concurrency(
    bot_api: FakeBotAPI,
    tmp_path: Path,
    concurrency: str,
    limits: Limits,
    shards: int,
    per_shard: int,
) -> None:
    settings = settings_for(bot_api, tmp_path, CONCURRENCY=concurrency)
    app = build_application(settings, engine(), MemoryStore(), limits=limits)
    request = app.bot.request
    assert isinstance(request, ShardedRequest)
    pools = request.shards
    assert len(pools) == shards
    assert all(isinstance(p, RetryingRequest) and p.pool_size == per_shard for p in pools)
