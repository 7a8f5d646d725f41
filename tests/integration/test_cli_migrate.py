"""`dwc coordinator migrate` brings a database to head and says where it is, on SQLite
and on PostgreSQL."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy import inspect

from coordinator.launch import dwc_command
from coordinator.store import Database, migrations
from tests.postgres import PostgresServer

pytestmark = pytest.mark.integration


def _migrate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        dwc_command("coordinator", "migrate", *args),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_migrate_the_default_sqlite_file(tmp_path: Path) -> None:
    data = tmp_path / "coord"
    proc = _migrate("--data-dir", str(data))
    assert proc.returncode == 0, proc.stderr
    path = data / "coordinator.db"
    assert proc.stdout == f"sqlite:///{path}: at revision {migrations.head_revision()} (head)\n"
    db = Database(f"sqlite:///{path}")
    assert "documents" in inspect(db.engine).get_table_names()
    db.close()


@pytest.mark.postgresql
def test_migrate_postgresql(postgres_server: PostgresServer) -> None:
    url = postgres_server.create_database("dwc_cli_migrate")
    try:
        proc = _migrate("--database-url", url)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == f"{url}: at revision {migrations.head_revision()} (head)"
        db = Database(url)
        assert "jobs" in inspect(db.engine).get_table_names()
        db.close()
    finally:
        postgres_server.drop_database("dwc_cli_migrate")
