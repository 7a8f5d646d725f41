"""The agent's durable store: one SQLite file in WAL mode (via sqlite-utils).

Everything the agent takes in is committed here before anything else happens to it,
and every step's result is committed before the next step starts. The store is not
thread-safe; the daemon calls it from one dedicated thread (``Daemon.db``).

Schema changes are numbered migrations applied in order at open (``PRAGMA user_version``).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from agent.errors import DataDirError

MIGRATIONS: list[str] = [
    # 1: documents, runs, step results, remote jobs, outbox, inbox, dead letters, settings
    """
    CREATE TABLE documents (
        id TEXT PRIMARY KEY,
        content_id TEXT NOT NULL,
        name TEXT NOT NULL,
        source TEXT NOT NULL,
        media_type TEXT,
        size INTEGER NOT NULL,
        status TEXT NOT NULL,
        label TEXT,
        confidence REAL,
        summary TEXT,
        error TEXT,
        claim_path TEXT UNIQUE,
        received_at REAL NOT NULL,
        completed_at REAL
    );
    CREATE INDEX documents_status ON documents(status);
    CREATE INDEX documents_content ON documents(content_id);
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        document_id TEXT NOT NULL REFERENCES documents(id),
        workflow TEXT NOT NULL,
        version TEXT NOT NULL,
        status TEXT NOT NULL,
        started_at REAL NOT NULL,
        finished_at REAL,
        error TEXT
    );
    CREATE INDEX runs_status ON runs(status);
    CREATE TABLE step_results (
        run_id TEXT NOT NULL REFERENCES runs(id),
        step TEXT NOT NULL,
        status TEXT NOT NULL,
        output TEXT NOT NULL,
        committed_at REAL NOT NULL,
        PRIMARY KEY (run_id, step)
    );
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs(id),
        step TEXT NOT NULL,
        type TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at REAL NOT NULL,
        finished_at REAL
    );
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        subject TEXT NOT NULL,
        kind TEXT NOT NULL,
        payload BLOB NOT NULL,
        created_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE inbox (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        received_at REAL NOT NULL
    );
    CREATE TABLE dead_letters (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        source TEXT NOT NULL,
        reason TEXT NOT NULL,
        payload BLOB,
        received_at REAL NOT NULL
    );
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2: the work queue's durable state (agent/work.py, docs/adr/0001-scheduler-durability.md)
    """
    CREATE TABLE scheduler_journal (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        chunk BLOB NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE scheduler_snapshot (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        snapshot BLOB NOT NULL,
        created_at REAL NOT NULL
    );
    """,
    # 3: a document's runs and a run's jobs were found by scanning the whole table, once
    # per document processed (bench/agent_pipeline.py)
    """
    CREATE INDEX runs_document ON runs(document_id, started_at);
    CREATE INDEX jobs_run ON jobs(run_id);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)

# A step that starts a remote job is "<name>.request"; the job's result is step "<name>".
_REQUEST_SUFFIX = ".request"


class DocStatus:
    PROCESSING = "processing"  # local steps running
    WAITING = "waiting"  # local steps committed; a remote step is outstanding
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class OutboxRow:
    seq: int
    id: str
    subject: str
    kind: str
    payload: bytes


class Store:
    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
        except (OSError, sqlite3.Error) as e:
            raise DataDirError(f"store {path}: cannot open: {e}") from None
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.row_factory = sqlite3.Row
        self.path = path
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self._migrate()

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def _migrate(self) -> None:
        current = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if current > SCHEMA_VERSION:
            raise DataDirError(
                f"store {self.path}: schema version {current} is newer than this agent's {SCHEMA_VERSION}"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self.tx() as c:
                for statement in MIGRATIONS[version - 1].split(";"):
                    if statement.strip():
                        c.execute(statement)
                c.execute(f"PRAGMA user_version = {version}")

    # --- documents and runs ---------------------------------------------------------
    def document(self, doc_id: str) -> sqlite3.Row:
        row = self.conn.execute("SELECT * FROM documents WHERE id = ?", (doc_id,)).fetchone()
        if row is None:
            raise KeyError(f"document {doc_id!r} not found")
        return row

    def document_detail(self, doc_id: str) -> dict[str, Any] | None:
        """A document with its runs, each run's step results and remote jobs."""
        doc = self.conn.execute("SELECT * FROM documents WHERE id = ?", (doc_id,)).fetchone()
        if doc is None:
            return None
        out = {k: doc[k] for k in doc.keys() if k != "claim_path"}  # noqa: SIM118 (a Row iterates values)
        runs = []
        for run in self.conn.execute(
            "SELECT * FROM runs WHERE document_id = ? ORDER BY started_at", (doc_id,)
        ):
            steps = [
                {
                    "step": r["step"],
                    "status": r["status"],
                    "output": json.loads(r["output"]),
                    "committed_at": r["committed_at"],
                }
                for r in self.conn.execute(
                    "SELECT * FROM step_results WHERE run_id = ? ORDER BY committed_at",
                    (run["id"],),
                )
            ]
            jobs = [
                dict(j)
                for j in self.conn.execute("SELECT * FROM jobs WHERE run_id = ?", (run["id"],))
            ]
            runs.append({**dict(run), "steps": steps, "jobs": jobs})
        out["runs"] = runs
        return out

    def runs(self, status: str | None, limit: int) -> list[dict[str, Any]]:
        sql = (
            "SELECT r.*, d.name AS document_name FROM runs r JOIN documents d ON d.id = r.document_id"
            + (" WHERE r.status = ?" if status else "")
            + " ORDER BY r.started_at DESC LIMIT ?"
        )
        args: tuple[Any, ...] = (status, limit) if status else (limit,)
        return [dict(r) for r in self.conn.execute(sql, args)]

    def find_by_claim(self, claim_path: str) -> sqlite3.Row | None:
        return self.conn.execute(
            "SELECT * FROM documents WHERE claim_path = ?", (claim_path,)
        ).fetchone()

    def add_document(
        self,
        *,
        doc_id: str,
        run_id: str,
        content_id: str,
        name: str,
        source: str,
        media_type: str | None,
        size: int,
        claim_path: str | None,
        workflow: str,
        version: str,
        received_at: float,
    ) -> None:
        with self.tx() as c:
            c.execute(
                "INSERT INTO documents (id, content_id, name, source, media_type, size, status,"
                " claim_path, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    doc_id,
                    content_id,
                    name,
                    source,
                    media_type,
                    size,
                    DocStatus.PROCESSING,
                    claim_path,
                    received_at,
                ),
            )
            c.execute(
                "INSERT INTO runs (id, document_id, workflow, version, status, started_at)"
                " VALUES (?, ?, ?, ?, 'running', ?)",
                (run_id, doc_id, workflow, version, received_at),
            )

    def content_id_of_job(self, job_id: str) -> str | None:
        row = self.conn.execute(
            "SELECT d.content_id FROM jobs j JOIN runs r ON r.id = j.run_id"
            " JOIN documents d ON d.id = r.document_id WHERE j.id = ?",
            (job_id,),
        ).fetchone()
        return None if row is None else str(row["content_id"])

    def run_for_document(self, doc_id: str) -> sqlite3.Row:
        row = self.conn.execute(
            "SELECT * FROM runs WHERE document_id = ? ORDER BY started_at DESC LIMIT 1", (doc_id,)
        ).fetchone()
        assert row is not None, f"document {doc_id} has no run"
        return row

    def step_results(self, run_id: str) -> dict[str, dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT step, output FROM step_results WHERE run_id = ? AND status = 'ok'", (run_id,)
        )
        return {r["step"]: json.loads(r["output"]) for r in rows}

    def commit_step(
        self,
        run_id: str,
        step: str,
        output: dict[str, Any],
        *,
        doc_update: dict[str, Any] | None = None,
        outbox: list[tuple[str, str, str, bytes]] = (),  # type: ignore[assignment]
        job: tuple[str, str] | None = None,
        finish: bool = False,
    ) -> None:
        """Commit one step's result, with its document update, outgoing messages and any
        remote job it starts, in a single transaction. ``finish`` also completes the run
        (succeeded) and its document (done) in the same transaction.

        A step that starts a job is named ``<name>.request``; the job's result is committed
        later as step ``<name>`` (see ``apply_job_result``). Raises ValueError otherwise."""
        if job is not None and not step.endswith(_REQUEST_SUFFIX):
            raise ValueError(f"step {step!r} starts a job, so its name must end in '.request'")
        now = time.time()
        with self.tx() as c:
            c.execute(
                "INSERT INTO step_results (run_id, step, status, output, committed_at)"
                " VALUES (?, ?, 'ok', ?, ?)",
                (run_id, step, json.dumps(output), now),
            )
            if doc_update:
                self._update_doc_of_run(c, run_id, doc_update)
            for msg_id, subject, kind, payload in outbox:
                c.execute(
                    "INSERT INTO outbox (id, subject, kind, payload, created_at) VALUES (?, ?, ?, ?, ?)",
                    (msg_id, subject, kind, payload, now),
                )
            if job is not None:
                job_id, job_type = job
                c.execute(
                    "INSERT INTO jobs (id, run_id, step, type, status, created_at)"
                    " VALUES (?, ?, ?, ?, 'pending', ?)",
                    (job_id, run_id, step, job_type, now),
                )
            if finish:
                c.execute(
                    "UPDATE runs SET status = 'succeeded', finished_at = ? WHERE id = ?",
                    (now, run_id),
                )
                self._update_doc_of_run(c, run_id, {"status": DocStatus.DONE, "completed_at": now})

    @staticmethod
    def _update_doc_of_run(c: sqlite3.Connection, run_id: str, fields: dict[str, Any]) -> None:
        cols = ", ".join(f"{k} = ?" for k in fields)
        c.execute(
            f"UPDATE documents SET {cols} WHERE id = (SELECT document_id FROM runs WHERE id = ?)",
            (*fields.values(), run_id),
        )

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        error: str | None = None,
        doc_update: dict[str, Any] | None = None,
    ) -> None:
        now = time.time()
        with self.tx() as c:
            c.execute(
                "UPDATE runs SET status = ?, finished_at = ?, error = ? WHERE id = ?",
                (status, now, error, run_id),
            )
            fields = {
                "status": DocStatus.DONE if status == "succeeded" else DocStatus.FAILED,
                "completed_at": now,
                **(doc_update or {}),
            }
            if error:
                fields["error"] = error
            self._update_doc_of_run(c, run_id, fields)

    def fail_document(self, doc_id: str, error: str) -> None:
        now = time.time()
        with self.tx() as c:
            c.execute(
                "UPDATE documents SET status = ?, error = ?, completed_at = ? WHERE id = ?",
                (DocStatus.FAILED, error, now, doc_id),
            )
            c.execute(
                "UPDATE runs SET status = 'failed', error = ?, finished_at = ? WHERE document_id = ?"
                " AND status = 'running'",
                (error, now, doc_id),
            )

    def run(self, run_id: str) -> sqlite3.Row | None:
        """A run with its document's status, claim path and name, or None."""
        return self.conn.execute(
            "SELECT r.*, d.status AS document_status, d.claim_path, d.name AS document_name"
            " FROM runs r JOIN documents d ON d.id = r.document_id WHERE r.id = ?",
            (run_id,),
        ).fetchone()

    def restart_document(
        self,
        doc_id: str,
        *,
        run_id: str,
        claim_path: str,
        content_id: str,
        size: int,
        workflow: str,
        version: str,
    ) -> None:
        """Start a new run of a failed document from its (re-claimed) file, in one
        transaction. Earlier runs keep their status and error as history; the document's
        own result fields are cleared because the new run writes them again."""
        now = time.time()
        with self.tx() as c:
            changed = c.execute(
                "UPDATE documents SET status = ?, claim_path = ?, content_id = ?, size = ?,"
                " error = NULL, label = NULL, confidence = NULL, summary = NULL,"
                " completed_at = NULL WHERE id = ? AND status = ?",
                (DocStatus.PROCESSING, claim_path, content_id, size, doc_id, DocStatus.FAILED),
            ).rowcount
            if changed != 1:
                raise ValueError(f"document {doc_id!r} is not failed")
            c.execute(
                "INSERT INTO runs (id, document_id, workflow, version, status, started_at)"
                " VALUES (?, ?, ?, ?, 'running', ?)",
                (run_id, doc_id, workflow, version, now),
            )

    def unfinished_documents(self) -> list[sqlite3.Row]:
        return list(
            self.conn.execute(
                "SELECT * FROM documents WHERE status = ? ORDER BY received_at",
                (DocStatus.PROCESSING,),
            )
        )

    def documents(self) -> list[sqlite3.Row]:
        return list(self.conn.execute("SELECT * FROM documents ORDER BY received_at"))

    def counts(self) -> dict[str, int]:
        rows = self.conn.execute("SELECT status, count(*) AS n FROM documents GROUP BY status")
        return {r["status"]: r["n"] for r in rows}

    # --- remote jobs and the inbox ---------------------------------------------------
    def apply_job_result(
        self,
        message_id: str,
        job_id: str,
        *,
        succeeded: bool,
        output: dict[str, Any],
        error: str | None,
        doc_update: dict[str, Any],
    ) -> str:
        """Apply a job result exactly once in effect. Returns 'applied', 'duplicate' or
        'unknown-job'."""
        now = time.time()
        with self.tx() as c:
            if c.execute("SELECT 1 FROM inbox WHERE id = ?", (message_id,)).fetchone():
                return "duplicate"
            c.execute(
                "INSERT INTO inbox (id, kind, received_at) VALUES (?, 'job.result', ?)",
                (message_id, now),
            )
            job = c.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if job is None:
                return "unknown-job"
            if job["status"] != "pending":
                return "duplicate"
            status = "succeeded" if succeeded else "failed"
            c.execute(
                "UPDATE jobs SET status = ?, finished_at = ? WHERE id = ?", (status, now, job_id)
            )
            c.execute(
                "INSERT INTO step_results (run_id, step, status, output, committed_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    job["run_id"],
                    job["step"].removesuffix(_REQUEST_SUFFIX),
                    "ok" if succeeded else "failed",
                    json.dumps(output),
                    now,
                ),
            )
            c.execute(
                "UPDATE runs SET status = ?, finished_at = ?, error = ? WHERE id = ?",
                (status, now, error, job["run_id"]),
            )
            fields = {
                "status": DocStatus.DONE if succeeded else DocStatus.FAILED,
                "completed_at": now,
                **doc_update,
            }
            if error:
                fields["error"] = error
            self._update_doc_of_run(c, job["run_id"], fields)
            return "applied"

    def dead_letter(self, source: str, reason: str, payload: bytes | None) -> None:
        with self.tx() as c:
            c.execute(
                "INSERT INTO dead_letters (source, reason, payload, received_at) VALUES (?, ?, ?, ?)",
                (source, reason, payload, time.time()),
            )

    # --- work queue state ------------------------------------------------------------------
    def load_scheduler(self) -> tuple[bytes | None, list[bytes]]:
        row = self.conn.execute("SELECT snapshot FROM scheduler_snapshot WHERE id = 1").fetchone()
        chunks = [
            bytes(r["chunk"])
            for r in self.conn.execute("SELECT chunk FROM scheduler_journal ORDER BY seq")
        ]
        return (bytes(row["snapshot"]) if row else None), chunks

    def append_journal(self, chunk: bytes) -> None:
        with self.tx() as c:
            c.execute(
                "INSERT INTO scheduler_journal (chunk, created_at) VALUES (?, ?)",
                (chunk, time.time()),
            )

    def save_snapshot(self, snapshot: bytes) -> None:
        """Store a snapshot and delete every journal row stored before it, atomically."""
        with self.tx() as c:
            c.execute(
                "INSERT INTO scheduler_snapshot (id, snapshot, created_at) VALUES (1, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET snapshot = excluded.snapshot, created_at = excluded.created_at",
                (snapshot, time.time()),
            )
            c.execute("DELETE FROM scheduler_journal")

    # --- outbox ----------------------------------------------------------------------
    def outbox_batch(self, limit: int) -> list[OutboxRow]:
        rows = self.conn.execute(
            "SELECT seq, id, subject, kind, payload FROM outbox ORDER BY seq LIMIT ?", (limit,)
        )
        return [
            OutboxRow(r["seq"], r["id"], r["subject"], r["kind"], bytes(r["payload"])) for r in rows
        ]

    def outbox_delete(self, seqs: list[int]) -> None:
        if not seqs:
            return
        with self.tx() as c:
            c.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])

    def outbox_attempted(self, seqs: list[int]) -> None:
        if not seqs:
            return
        with self.tx() as c:
            c.executemany(
                "UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?", [(s,) for s in seqs]
            )

    def outbox_stats(self) -> tuple[int, float | None]:
        row = self.conn.execute(
            "SELECT count(*) AS n, min(created_at) AS oldest FROM outbox"
        ).fetchone()
        return row["n"], row["oldest"]
