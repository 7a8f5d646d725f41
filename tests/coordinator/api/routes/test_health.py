"""coordinator/api/routes/health.py: readiness checks the database, on SQLite and on
PostgreSQL, and says which check fails. The Coordinator is built but not started (no
NATS, no Ray), so only the database can be ok."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agent.natsd import free_port
from coordinator.api import create_app
from coordinator.service import Coordinator
from coordinator.settings import CoordinatorSettings
from coordinator.store import Database


@contextmanager
def _client(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    settings = CoordinatorSettings(data_dir=tmp_path, database_url=database_url)
    app = create_app(settings)
    app.state.coordinator = Coordinator(settings)  # not started: no lifespan in this client
    try:
        yield TestClient(app)
    finally:
        app.state.coordinator.db.close()


@pytest.fixture
def client(tmp_path: Path, database: Database) -> Iterator[TestClient]:
    with _client(tmp_path, database.engine.url.render_as_string(hide_password=False)) as c:
        yield c


def test_ready_reports_the_database_ok(client: TestClient) -> None:
    resp = client.get("/api/v3/health/ready")
    assert resp.status_code == 503  # NATS and Ray are not started here
    assert resp.json() == {
        "ready": False,
        "checks": {"database": "ok", "nats": "connecting", "ray": "starting"},
    }


def test_ready_reports_an_unreachable_database(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://dwc@127.0.0.1:{free_port()}/dwc?connect_timeout=5"
    with _client(tmp_path, url) as client:
        resp = client.get("/api/v3/health/ready")
    assert resp.status_code == 503
    assert resp.json()["checks"]["database"] == "error: OperationalError"
