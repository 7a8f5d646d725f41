"""Engine and sessions. Sessions are synchronous; async code calls the store through
``asyncio.to_thread`` and API routes are plain ``def``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic.util.exc import CommandError
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from coordinator.errors import StoreError, UnknownRevisionError
from coordinator.store import migrations


class Database:
    """One database by SQLAlchemy URL: an SQLite file (its folder is created) or
    PostgreSQL (``postgresql+psycopg://user:password@host/db``).

    Raises StoreError, naming the URL without its password, if the URL cannot be parsed
    or names a driver that is not installed. Connecting happens later, on first use."""

    def __init__(self, url: str) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise StoreError(f"database URL {url!r} is not an SQLAlchemy URL") from None
        self.url = parsed.render_as_string(hide_password=True)
        try:
            if parsed.get_backend_name() == "sqlite":
                if parsed.database and parsed.database != ":memory:":
                    Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
                self.engine: Engine = create_engine(
                    parsed, connect_args={"check_same_thread": False, "timeout": 30}
                )
                event.listen(self.engine, "connect", _sqlite_pragmas)
            else:
                self.engine = create_engine(parsed, pool_pre_ping=True)
        except NoSuchModuleError:
            raise StoreError(
                f"database URL {self.url}: unknown database or driver {parsed.drivername!r}"
            ) from None
        except ImportError as e:
            raise StoreError(
                f"database URL {self.url}: driver not installed ({e.name}); for PostgreSQL "
                "use postgresql+psycopg:// with the coordinator extra installed"
            ) from None
        except OSError as e:
            raise StoreError(
                f"database {self.url}: cannot create its folder: {e.strerror}"
            ) from None
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def migrate(self) -> str:
        """Upgrade the schema to this version's head and return that revision.

        Safe to call on every start: a database at head is left alone. Raises
        UnknownRevisionError if a newer DWC has migrated the database, StoreError if it
        cannot be reached or a migration fails."""
        try:
            revision = migrations.upgrade(self.engine)
        except CommandError as e:
            raise UnknownRevisionError(
                f"database {self.url}: {_first_line(e)} (migrated by a newer DWC?)"
            ) from None
        except SQLAlchemyError as e:
            raise StoreError(f"database {self.url}: {_reason(e)}") from None
        assert revision is not None
        return revision

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self.sessions() as s, s.begin():
            yield s

    def ping(self) -> bool:
        with self.engine.connect() as c:
            c.execute(text("SELECT 1"))
        return True

    def close(self) -> None:
        self.engine.dispose()


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def _reason(e: SQLAlchemyError) -> str:
    """One line from a driver error, without SQLAlchemy's SQL and background-link lines."""
    orig = getattr(e, "orig", None)
    return _first_line(orig if orig is not None else e)


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
