"""The deployment files say what docs/telegram.md says: one process by default; with the
``scale`` profile PostgreSQL, two webhook workers on it, and a proxy spreading deliveries."""

from __future__ import annotations

import yaml

from tests.support import ROOT

DEPLOY = ROOT / "deploy"


def test_compose_runs_one_process_by_default_and_two_workers_on_postgresql_to_scale() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert "profiles" not in services["bot"]  # `up` alone: the one-process bot
    scale = {name for name, s in services.items() if "scale" in s.get("profiles", [])}
    assert scale == {"postgres", "worker", "proxy"}
    worker = services["worker"]
    assert worker["command"] == ["python", "-m", "bot", "webhook"]
    assert worker["environment"]["DATABASE_URL"].startswith("postgresql://")
    assert worker["deploy"]["replicas"] == 2
    assert worker["depends_on"]["postgres"]["condition"] == "service_healthy"
    conf = (DEPLOY / "nginx-workers.conf").read_text(encoding="utf-8")
    port = worker["environment"]["WEBHOOK_PORT"]
    assert f"server worker:{port} resolve;" in conf and "proxy_next_upstream" in conf
