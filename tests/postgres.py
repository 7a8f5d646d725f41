"""A private PostgreSQL server for the tests: Debian's ``postgresql`` binaries
(``/usr/lib/postgresql/<version>/bin``), ``initdb`` into a temp dir, ``postgres`` on a
free loopback port with no Unix socket, stopped and deleted afterwards.

PostgreSQL refuses to run as root; when the tests run as root the server runs as the
``postgres`` user the Debian package creates, in a temp dir handed to that user.
Durability is off (fsync, full-page writes): the data is thrown away anyway.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import psycopg

from agent.natsd import die_with_parent, free_port

PG_ROOT = Path("/usr/lib/postgresql")
SUPERUSER = "dwc"
INSTALL_HINT = "Debian package `postgresql`: `make test` installs it when run as root"


class PostgresUnavailable(Exception):
    """No PostgreSQL server can be run here; the message says why."""


def find_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` with initdb and postgres."""
    candidates = sorted(
        (
            p
            for p in PG_ROOT.glob("*/bin")
            if (p / "initdb").is_file() and (p / "postgres").is_file()
        ),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not candidates:
        raise PostgresUnavailable(f"PostgreSQL is not installed ({PG_ROOT}/*/bin) ({INSTALL_HINT})")
    return candidates[-1]


class PostgresServer:
    """Use as a context manager; ``url(dbname)`` gives a SQLAlchemy URL for psycopg."""

    def __init__(self, *, ready_timeout: float = 30.0) -> None:
        self.bindir = find_bindir()
        self.ready_timeout = ready_timeout
        self.host = "127.0.0.1"
        self.port = 0
        self.user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self.user = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable(
                    "tests run as root and there is no `postgres` user to run the server as "
                    f"({INSTALL_HINT})"
                ) from None
        self.dir = Path(tempfile.mkdtemp(prefix="dwc-pg-"))
        self.data = self.dir / "data"
        self.log_path = self.dir / "postgres.log"
        self.proc: subprocess.Popen[bytes] | None = None

    # --- processes ---------------------------------------------------------------------
    def _popen(self, argv: list[str], **kw: object) -> subprocess.Popen[bytes]:
        ids: dict[str, object] = {}
        if self.user is not None:
            ids = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        return subprocess.Popen(  # type: ignore[call-overload,no-any-return]
            argv,
            stdin=subprocess.DEVNULL,
            cwd=self.dir,
            env={"PATH": os.environ.get("PATH", ""), "LANG": "C", "LC_ALL": "C"},
            preexec_fn=die_with_parent,
            **ids,
            **kw,
        )

    def _initdb(self) -> None:
        if self.user is not None:
            os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        proc = self._popen(
            [
                str(self.bindir / "initdb"),
                "--pgdata", str(self.data),
                "--username", SUPERUSER,
                "--auth", "trust",
                "--encoding", "UTF8",
                "--locale", "C",
                "--no-sync",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        out, _ = proc.communicate(timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(
                f"initdb failed ({proc.returncode}):\n{out.decode(errors='replace')}"
            )

    def _postgres(self) -> subprocess.Popen[bytes]:
        with self.log_path.open("wb") as log:
            if self.user is not None:
                os.chown(self.log_path, self.user.pw_uid, self.user.pw_gid)
            return self._popen(
                [
                    str(self.bindir / "postgres"),
                    "-D", str(self.data),
                    "-p", str(self.port),
                    "-c", f"listen_addresses={self.host}",
                    "-c", "unix_socket_directories=",
                    "-c", "fsync=off",
                    "-c", "synchronous_commit=off",
                    "-c", "full_page_writes=off",
                    "-c", "max_connections=50",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def _accepts(self) -> bool:
        try:
            with psycopg.connect(self.conninfo("postgres"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def start(self) -> None:
        self._initdb()
        for _attempt in range(3):  # a free port may be taken before postgres binds it
            self.port = free_port(self.host)
            self.proc = self._postgres()
            deadline = time.monotonic() + self.ready_timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                if self._accepts():
                    return
                time.sleep(0.05)
            if self.proc.poll() is None:
                raise TimeoutError(
                    f"postgres did not accept connections within {self.ready_timeout:.0f}s:\n"
                    f"{self.log_tail()}"
                )
            if "could not bind" not in self.log_tail():
                break
        raise RuntimeError(f"postgres exited with code {self.proc.returncode}:\n{self.log_tail()}")

    def stop(self) -> None:
        """Fast shutdown (SIGINT), SIGKILL after 10 s; then the temp dir goes."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # --- databases ---------------------------------------------------------------------
    def conninfo(self, dbname: str) -> str:
        return f"host={self.host} port={self.port} user={SUPERUSER} dbname={dbname}"

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@{self.host}:{self.port}/{dbname}"

    def create_database(self, name: str, *, template: str = "template1") -> str:
        """A new database, a copy of ``template`` (default: empty); returns its URL."""
        with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def __enter__(self) -> PostgresServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
