"""``dwc coordinator serve``: the API under uvicorn with the coordinator's services."""

from __future__ import annotations

import errno
import socket

import uvicorn

from agent import logs
from coordinator.api.app import create_app
from coordinator.errors import ConfigError, PortInUseError
from coordinator.settings import CoordinatorSettings
from coordinator.store import Database


def check_port(host: str, port: int) -> None:
    """Fail early, in one line, if the API port cannot be bound."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise ConfigError(f"host {host!r}: cannot resolve: {e.strerror}") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise PortInUseError(f"port {port} on {host} is already in use") from None
            raise ConfigError(f"cannot bind {host}:{port}: {e.strerror}") from None


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
