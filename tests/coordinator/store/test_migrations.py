"""coordinator/store/migrations: the migrations build what the models describe, on
SQLite and on PostgreSQL, and go down and up again."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text

from agent.natsd import free_port
from coordinator.errors import StoreError, UnknownRevisionError
from coordinator.store import Agent, Base, Database, migrations

TABLES = {"agents", "events", "documents", "jobs", "dead_letters"}


def _diff(db: Database) -> list[Any]:
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, Base.metadata))


def _tables(db: Database) -> set[str]:
    return set(inspect(db.engine).get_table_names()) - {"alembic_version"}


def _revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return migrations.current_revision(conn)


@pytest.fixture
def empty(database_url: str) -> Any:
    db = Database(database_url)
    yield db
    db.close()


def test_models_and_migrations_agree(empty: Database) -> None:
    assert empty.migrate() == migrations.head_revision()
    assert _tables(empty) == TABLES
    assert _diff(empty) == []


def test_upgrade_downgrade_upgrade(empty: Database) -> None:
    head = migrations.head_revision()
    assert migrations.upgrade(empty.engine) == head
    assert migrations.downgrade(empty.engine, "base") is None
    assert _tables(empty) == set()
    assert migrations.upgrade(empty.engine) == head
    assert _tables(empty) == TABLES
    assert _diff(empty) == []


def test_migrate_twice_keeps_the_data(empty: Database) -> None:
    empty.migrate()
    with empty.session() as s:
        s.add(Agent(id="gw-1", first_seen=1.0, last_seen=2.0, last_status={"queued": 1}))
    assert empty.migrate() == migrations.head_revision()
    with empty.session() as s:
        agent = s.scalars(select(Agent)).one()
        assert (agent.id, agent.last_status) == ("gw-1", {"queued": 1})


def test_a_database_made_before_migrations_is_stamped(empty: Database) -> None:
    Base.metadata.create_all(empty.engine)
    with empty.session() as s:
        s.add(Agent(id="gw-1", first_seen=1.0, last_seen=2.0, last_status=None))
    assert _revision(empty) is None
    assert empty.migrate() == migrations.head_revision()
    with empty.session() as s:
        assert [a.id for a in s.scalars(select(Agent))] == ["gw-1"]


def test_a_revision_from_a_newer_version_is_refused(empty: Database) -> None:
    empty.migrate()
    with empty.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(UnknownRevisionError, match="9999") as info:
        empty.migrate()
    assert "\n" not in str(info.value)
    assert _revision(empty) == "9999"  # left as it was


@pytest.mark.postgresql
def test_coordinators_starting_together_migrate_once(postgres_server: Any) -> None:
    """Two migrations at once on PostgreSQL: the advisory lock makes the second wait and
    then find the database at head (without it, both create the tables)."""
    url = postgres_server.create_database("dwc_concurrent")
    dbs = [Database(url) for _ in range(4)]
    results: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(dbs))

    def run(db: Database) -> None:
        barrier.wait()
        try:
            results.append(db.migrate())
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(db,)) for db in dbs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for db in dbs:
        db.close()
    postgres_server.drop_database("dwc_concurrent")
    assert errors == []
    assert results == [migrations.head_revision()] * len(dbs)


# --- bad URLs and unreachable databases (no server needed) -------------------------------
@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("not a url", "is not an SQLAlchemy URL"),
        ("nosuchdb://host/db", "unknown database or driver 'nosuchdb'"),
        ("postgresql+nosuchdriver://host/db", "unknown database or driver"),
    ],
)
def test_bad_url(url: str, needle: str) -> None:
    with pytest.raises(StoreError, match=needle) as info:
        Database(url)
    assert "\n" not in str(info.value)


def test_sqlite_folder_that_cannot_be_made(tmp_path: Any) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot create its folder"):
        Database(f"sqlite:///{tmp_path / 'file' / 'sub' / 'coordinator.db'}")


def test_unreachable_postgresql_names_the_url_without_password() -> None:
    port = free_port()
    db = Database(f"postgresql+psycopg://dwc:s3cret@127.0.0.1:{port}/dwc?connect_timeout=5")
    with pytest.raises(StoreError) as info:
        db.migrate()
    message = str(info.value)
    assert "\n" not in message
    assert f"127.0.0.1:{port}" in message
    assert "s3cret" not in message
    db.close()
