"""Alembic migrations of the coordinator's store, configured in code (no alembic.ini).

``versions/`` holds one file per revision, in order (``rev0001_...``, ``rev0002_...``);
the first creates the tables of ``coordinator/store/models.py``. ``upgrade`` brings a
database to head in one transaction on PostgreSQL, under an advisory lock so that
coordinators starting together migrate once. A database made before migrations existed
(tables from ``create_all``, no ``alembic_version``) is recognised and stamped at the
first revision, then upgraded.

A new revision, after changing the models::

    python -m coordinator.store.migrations "add the devices table"

writes ``versions/revNNNN_<slug>.py`` from a comparison of the models with a scratch
SQLite database at head; review it (and its downgrade) before committing.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, inspect, text

MIGRATIONS_DIR = Path(__file__).parent
BASELINE = "0001"
# The tables of BASELINE: a database holding all of them and no version table was made
# by ``create_all`` before migrations existed.
_BASELINE_TABLES = frozenset({"agents", "events", "documents", "jobs", "dead_letters"})
# pg_advisory_xact_lock key: "DWC" + 1, any constant unlikely to clash with the site's own.
_PG_LOCK_KEY = 0x44574301

__all__ = [
    "BASELINE",
    "alembic_config",
    "current_revision",
    "downgrade",
    "head_revision",
    "upgrade",
]


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for these migrations; ``env.py`` runs them on ``connection``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    cfg.set_main_option("file_template", "rev%%(rev)s_%%(slug)s")
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at; None for an empty (or unmigrated) database."""
    return MigrationContext.configure(connection).get_current_revision()


def _lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})


def _made_before_migrations(connection: Connection) -> bool:
    if current_revision(connection) is not None:
        return False
    return set(inspect(connection).get_table_names()) >= _BASELINE_TABLES


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Upgrade to ``revision`` and return the revision the database ended at.

    Raises alembic's ``CommandError`` (``util.exc``) if the database is at a revision these
    migrations do not know, and SQLAlchemy errors if it cannot be reached."""
    with engine.begin() as conn:
        _lock(conn)
        cfg = alembic_config(conn)
        if _made_before_migrations(conn):
            command.stamp(cfg, BASELINE)
        command.upgrade(cfg, revision)
        return current_revision(conn)


def downgrade(engine: Engine, revision: str) -> str | None:
    """Downgrade to ``revision`` (``"base"``: no tables) and return where it ended."""
    with engine.begin() as conn:
        _lock(conn)
        command.downgrade(alembic_config(conn), revision)
        return current_revision(conn)


def new_revision(message: str) -> Path:
    """Write the next revision from the difference between the models and head."""
    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    rev_id = f"{int(head or 0) + 1:04d}"
    with tempfile.TemporaryDirectory(prefix="dwc-migration-") as tmp:
        engine = create_engine(f"sqlite:///{tmp}/scratch.db")
        try:
            upgrade(engine)
            with engine.begin() as conn:
                result = command.revision(
                    alembic_config(conn), message=message, autogenerate=True, rev_id=rev_id
                )
        finally:
            engine.dispose()
    assert result is not None
    assert not isinstance(result, list)
    return Path(result.path)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].strip():
        print(
            'usage: python -m coordinator.store.migrations "what the revision does"',
            file=sys.stderr,
        )
        return 2
    print(new_revision(argv[0].strip()))
    return 0
