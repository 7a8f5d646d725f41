"""The coordinator's store on both backends: every test that takes ``database`` (or
``database_url``) runs once on SQLite and once on PostgreSQL."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from coordinator.store import Database
from tests.postgres import PostgresServer

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]
_names = itertools.count()


@pytest.fixture(scope="session")
def sqlite_head(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated to head once per session; each test gets a copy of it."""
    path = tmp_path_factory.mktemp("sqlite-head") / "coordinator.db"
    db = Database(f"sqlite:///{path}")
    db.migrate()
    db.close()  # the last connection to close checkpoints the WAL into the file
    return path


@pytest.fixture(scope="session")
def postgres_head(postgres_server: PostgresServer) -> str:
    """A database migrated to head once per session; each test gets a copy of it."""
    db = Database(postgres_server.create_database("dwc_head"))
    db.migrate()
    db.close()
    return "dwc_head"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'coordinator.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"dwc_test_{next(_names)}"
    yield server.create_database(name)
    server.drop_database(name)


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database at head."""
    if request.param == "sqlite":
        path = tmp_path / "coordinator.db"
        shutil.copyfile(request.getfixturevalue("sqlite_head"), path)
        db = Database(f"sqlite:///{path}")
        yield db
        db.close()
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    template = request.getfixturevalue("postgres_head")
    name = f"dwc_test_{next(_names)}"
    db = Database(server.create_database(name, template=template))
    yield db
    db.close()
    server.drop_database(name)
