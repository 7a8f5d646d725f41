"""``dwc coordinator serve``: the API under uvicorn with the coordinator's services."""

from __future__ import annotations

import uvicorn

from agent import logs
from agent.net import bind_problem
from coordinator.api.app import create_app
from coordinator.errors import ConfigError, PortInUseError
from coordinator.settings import CoordinatorSettings
from coordinator.store import Database


def check_port(host: str, port: int) -> None:
    """Fail early, in one line, if the API port cannot be bound."""
    problem = bind_problem(host, port)
    if problem is not None:
        reason, in_use = problem
        raise (PortInUseError if in_use else ConfigError)(reason)


def serve(settings: CoordinatorSettings) -> None:
    check_port(settings.host, settings.port)
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"data dir {settings.data_dir}: cannot create: {e.strerror}") from None
    logs.setup(settings.log_level, settings.log_format)
    # Migrate before uvicorn starts, so a bad URL or an unreachable database is one line
    # and exit code 2; the app's own migrate at start then finds the schema at head.
    db = Database(settings.db_url)
    try:
        db.migrate()
    finally:
        db.close()
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()
