"""agent/store.py: the agent's SQLite store."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.errors import DataDirError
from agent.store import SCHEMA_VERSION, DocStatus, OutboxRow, Store

TABLES = {"documents", "runs", "step_results", "jobs", "outbox", "inbox", "dead_letters"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "data" / "agent.db")
    yield s
    s.close()


def _add(store: Store, n: int = 1, **kw: Any) -> tuple[str, str]:
    doc_id, run_id = f"D{n}", f"R{n}"
    fields: dict[str, Any] = {
        "doc_id": doc_id,
        "run_id": run_id,
        "content_id": f"C{n}",
        "name": f"doc{n}.txt",
        "source": "inbox",
        "media_type": "text/plain",
        "size": 10 * n,
        "claim_path": f"/claims/{n}",
        "workflow": "intake",
        "version": "1",
        "received_at": 1000.0 + n,
    }
    fields.update(kw)
    store.add_document(**fields)
    return doc_id, run_id


def _doc(store: Store, doc_id: str) -> sqlite3.Row:
    row = store.conn.execute("SELECT * FROM documents WHERE id = ?", (doc_id,)).fetchone()
    assert row is not None
    return row


def _count(store: Store, table: str) -> int:
    return store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def _start_job(store: Store, run_id: str, job_id: str = "J1") -> None:
    store.commit_step(
        run_id,
        "summarize.request",
        {"job_id": job_id},
        doc_update={"status": DocStatus.WAITING},
        job=(job_id, "ai.summarize"),
    )


# --- opening and migrations ------------------------------------------------------------
def test_open_creates_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "agent.db"
    store = Store(path)
    try:
        assert path.exists()
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert set(store.db.table_names()) >= TABLES
    finally:
        store.close()


def test_reopening_keeps_data_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    store = Store(path)
    _add(store)
    schema = store.conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    store.close()

    again = Store(path)
    try:
        assert again.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        after = again.conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
        assert [tuple(r) for r in after] == [tuple(r) for r in schema]
        assert [d["id"] for d in again.documents()] == ["D1"]
    finally:
        again.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    newer, ours = SCHEMA_VERSION + 1, SCHEMA_VERSION
    with pytest.raises(
        DataDirError, match=rf"schema version {newer} is newer than this agent.s {ours}"
    ):
        Store(path)


def test_unopenable_path_is_a_data_dir_error(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    path.mkdir()
    with pytest.raises(DataDirError, match=r"cannot open"):
        Store(path)


def test_parent_that_is_a_file_is_a_data_dir_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataDirError, match=r"cannot open"):
        Store(tmp_path / "file" / "agent.db")


# --- documents, runs and steps ----------------------------------------------------------
def test_add_document_creates_document_and_run(store: Store) -> None:
    doc_id, run_id = _add(store)
    doc = _doc(store, doc_id)
    assert doc["status"] == DocStatus.PROCESSING
    assert doc["name"] == "doc1.txt"
    assert doc["claim_path"] == "/claims/1"
    run = store.run_for_document(doc_id)
    assert run["id"] == run_id
    assert run["status"] == "running"
    assert run["workflow"] == "intake"
    assert store.find_by_claim("/claims/1")["id"] == doc_id
    assert store.find_by_claim("/claims/other") is None
    assert [d["id"] for d in store.unfinished_documents()] == [doc_id]
    assert store.counts() == {DocStatus.PROCESSING: 1}


def test_same_claim_path_twice_is_refused_and_not_half_written(store: Store) -> None:
    _add(store, 1)
    with pytest.raises(sqlite3.IntegrityError):
        _add(store, 2, claim_path="/claims/1")
    assert _count(store, "documents") == 1
    assert _count(store, "runs") == 1


def test_commit_step_and_step_results(store: Store) -> None:
    doc_id, run_id = _add(store)
    assert store.step_results(run_id) == {}
    store.commit_step(run_id, "extract", {"media_type": "text/plain", "chars": 5})
    store.commit_step(
        run_id,
        "classify",
        {"label": "invoice", "confidence": 0.9},
        doc_update={"label": "invoice", "confidence": 0.9},
    )
    assert store.step_results(run_id) == {
        "extract": {"media_type": "text/plain", "chars": 5},
        "classify": {"label": "invoice", "confidence": 0.9},
    }
    doc = _doc(store, doc_id)
    assert (doc["label"], doc["confidence"]) == ("invoice", 0.9)
    assert doc["status"] == DocStatus.PROCESSING


def test_step_results_are_per_run(store: Store) -> None:
    _, run1 = _add(store, 1)
    _, run2 = _add(store, 2)
    store.commit_step(run1, "extract", {"n": 1})
    assert store.step_results(run2) == {}


def test_commit_step_with_outbox_and_job(store: Store) -> None:
    doc_id, run_id = _add(store)
    store.commit_step(
        run_id,
        "summarize.request",
        {"job_id": "J1"},
        doc_update={"status": DocStatus.WAITING},
        outbox=[
            ("M1", "subj.a", "document.processed", b"a"),
            ("M2", "subj.b", "job.request", b"b"),
        ],
        job=("J1", "ai.summarize"),
    )
    assert _doc(store, doc_id)["status"] == DocStatus.WAITING
    assert store.unfinished_documents() == []
    job = store.conn.execute("SELECT * FROM jobs WHERE id = 'J1'").fetchone()
    assert (job["run_id"], job["step"], job["type"], job["status"]) == (
        run_id,
        "summarize.request",
        "ai.summarize",
        "pending",
    )
    assert [r.id for r in store.outbox_batch(10)] == ["M1", "M2"]


def test_failing_transaction_rolls_back_everything(store: Store) -> None:
    doc_id, run_id = _add(store)
    store.commit_step(run_id, "extract", {"chars": 1}, outbox=[("M1", "s", "k", b"x")])
    # The outbox id M1 is taken: the step result, document update and job must not stay.
    with pytest.raises(sqlite3.IntegrityError):
        store.commit_step(
            run_id,
            "summarize.request",
            {"job_id": "J1"},
            doc_update={"status": DocStatus.WAITING},
            outbox=[("M2", "s", "k", b"y"), ("M1", "s", "k", b"z")],
            job=("J1", "ai.summarize"),
        )
    assert store.step_results(run_id) == {"extract": {"chars": 1}}
    assert _doc(store, doc_id)["status"] == DocStatus.PROCESSING
    assert _count(store, "jobs") == 0
    assert [r.id for r in store.outbox_batch(10)] == ["M1"]
    assert not store.conn.in_transaction
    # the store is usable afterwards
    store.commit_step(run_id, "classify", {"label": "x"})
    assert set(store.step_results(run_id)) == {"extract", "classify"}


def test_exception_inside_tx_rolls_back(store: Store) -> None:
    _add(store)

    def update_then_fail() -> None:
        with store.tx() as c:
            c.execute("UPDATE documents SET status = 'done'")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        update_then_fail()
    assert _doc(store, "D1")["status"] == DocStatus.PROCESSING


def test_same_step_twice_is_refused(store: Store) -> None:
    _, run_id = _add(store)
    store.commit_step(run_id, "extract", {"chars": 1})
    with pytest.raises(sqlite3.IntegrityError):
        store.commit_step(run_id, "extract", {"chars": 2})
    assert store.step_results(run_id) == {"extract": {"chars": 1}}


def test_step_for_unknown_run_is_refused(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        store.commit_step("nope", "extract", {})
    assert _count(store, "step_results") == 0


# --- status transitions --------------------------------------------------------------
def test_finish_run_succeeded(store: Store) -> None:
    doc_id, run_id = _add(store)
    store.finish_run(run_id, status="succeeded", doc_update={"summary": "short"})
    doc = _doc(store, doc_id)
    assert doc["status"] == DocStatus.DONE
    assert doc["summary"] == "short"
    assert doc["completed_at"] is not None
    assert doc["error"] is None
    assert store.run_for_document(doc_id)["status"] == "succeeded"


def test_finish_run_failed_records_the_error(store: Store) -> None:
    doc_id, run_id = _add(store)
    store.finish_run(run_id, status="failed", error="model missing")
    doc = _doc(store, doc_id)
    assert (doc["status"], doc["error"]) == (DocStatus.FAILED, "model missing")
    run = store.run_for_document(doc_id)
    assert (run["status"], run["error"]) == ("failed", "model missing")


def test_fail_document(store: Store) -> None:
    doc_id, _ = _add(store)
    _add(store, 2)
    store.fail_document(doc_id, "not UTF-8")
    doc = _doc(store, doc_id)
    assert (doc["status"], doc["error"]) == (DocStatus.FAILED, "not UTF-8")
    assert store.run_for_document(doc_id)["status"] == "failed"
    assert store.run_for_document("D2")["status"] == "running"
    assert store.counts() == {DocStatus.FAILED: 1, DocStatus.PROCESSING: 1}
    assert [d["id"] for d in store.unfinished_documents()] == ["D2"]


def test_documents_are_ordered_by_arrival(store: Store) -> None:
    _add(store, 2, received_at=50.0)
    _add(store, 1, received_at=60.0)
    _add(store, 3, received_at=40.0)
    assert [d["id"] for d in store.documents()] == ["D3", "D2", "D1"]
    assert [d["id"] for d in store.unfinished_documents()] == ["D3", "D2", "D1"]


# --- remote jobs and the inbox -------------------------------------------------------------
def test_job_result_processing_waiting_done(store: Store) -> None:
    doc_id, run_id = _add(store)
    assert _doc(store, doc_id)["status"] == DocStatus.PROCESSING
    _start_job(store, run_id)
    assert _doc(store, doc_id)["status"] == DocStatus.WAITING

    outcome = store.apply_job_result(
        "MSG1",
        "J1",
        succeeded=True,
        output={"summary": "s"},
        error=None,
        doc_update={"summary": "s"},
    )
    assert outcome == "applied"
    doc = _doc(store, doc_id)
    assert (doc["status"], doc["summary"], doc["error"]) == (DocStatus.DONE, "s", None)
    # the result is its own step, beside the request step that started the job
    assert store.step_results(run_id) == {
        "summarize.request": {"job_id": "J1"},
        "summarize": {"summary": "s"},
    }
    job = store.conn.execute("SELECT * FROM jobs WHERE id = 'J1'").fetchone()
    assert job["status"] == "succeeded"
    assert job["finished_at"] is not None
    assert store.run_for_document(doc_id)["status"] == "succeeded"


def test_job_result_failed(store: Store) -> None:
    doc_id, run_id = _add(store)
    _start_job(store, run_id)
    outcome = store.apply_job_result(
        "MSG1", "J1", succeeded=False, output={}, error="provider down", doc_update={}
    )
    assert outcome == "applied"
    doc = _doc(store, doc_id)
    assert (doc["status"], doc["error"]) == (DocStatus.FAILED, "provider down")
    run = store.run_for_document(doc_id)
    assert (run["status"], run["error"]) == ("failed", "provider down")
    assert store.conn.execute("SELECT status FROM jobs").fetchone()[0] == "failed"
    failed_step = store.conn.execute(
        "SELECT status FROM step_results WHERE step = 'summarize'"
    ).fetchall()
    assert [r[0] for r in failed_step] == ["failed"]
    assert set(store.step_results(run_id)) == {"summarize.request"}  # only 'ok' steps


def test_a_job_must_start_from_a_request_step(store: Store) -> None:
    _, run_id = _add(store)
    with pytest.raises(ValueError, match=r"'summarize' starts a job"):
        store.commit_step(run_id, "summarize", {}, job=("J1", "ai.summarize"))
    assert _count(store, "step_results") == 0
    assert _count(store, "jobs") == 0


def test_job_result_same_message_twice_is_a_duplicate(store: Store) -> None:
    doc_id, run_id = _add(store)
    _start_job(store, run_id)
    kw: dict[str, Any] = {"succeeded": True, "output": {"summary": "s"}, "error": None}
    assert store.apply_job_result("MSG1", "J1", doc_update={"summary": "s"}, **kw) == "applied"
    assert store.apply_job_result("MSG1", "J1", doc_update={"summary": "t"}, **kw) == "duplicate"
    assert _doc(store, doc_id)["summary"] == "s"
    assert _count(store, "inbox") == 1


def test_job_result_another_message_for_a_finished_job_is_a_duplicate(store: Store) -> None:
    doc_id, run_id = _add(store)
    _start_job(store, run_id)
    assert (
        store.apply_job_result(
            "MSG1", "J1", succeeded=True, output={}, error=None, doc_update={"summary": "s"}
        )
        == "applied"
    )
    outcome = store.apply_job_result(
        "MSG2", "J1", succeeded=False, output={}, error="late", doc_update={"summary": "t"}
    )
    assert outcome == "duplicate"
    doc = _doc(store, doc_id)
    assert (doc["status"], doc["summary"], doc["error"]) == (DocStatus.DONE, "s", None)


def test_job_result_for_unknown_job(store: Store) -> None:
    outcome = store.apply_job_result(
        "MSG1", "nope", succeeded=True, output={}, error=None, doc_update={}
    )
    assert outcome == "unknown-job"
    # The message id is remembered, so a redelivery is a duplicate.
    assert (
        store.apply_job_result("MSG1", "nope", succeeded=True, output={}, error=None, doc_update={})
        == "duplicate"
    )


def test_dead_letter_rows(store: Store) -> None:
    store.dead_letter("nats:dwc.v1.cmd.gw", "not a msgpack message", b"\xc1")
    store.dead_letter("nats:dwc.v1.cmd.gw", "no body", None)
    rows = store.conn.execute("SELECT * FROM dead_letters ORDER BY seq").fetchall()
    assert [(r["source"], r["reason"]) for r in rows] == [
        ("nats:dwc.v1.cmd.gw", "not a msgpack message"),
        ("nats:dwc.v1.cmd.gw", "no body"),
    ]
    assert bytes(rows[0]["payload"]) == b"\xc1"
    assert rows[1]["payload"] is None
    assert rows[0]["received_at"] > 0


# --- outbox ---------------------------------------------------------------------------
def _fill_outbox(store: Store, n: int) -> None:
    _, run_id = _add(store)
    store.commit_step(
        run_id, "s", {}, outbox=[(f"M{i}", f"subj.{i}", "k", bytes([i])) for i in range(n)]
    )


def test_outbox_batch_in_order_and_limited(store: Store) -> None:
    _fill_outbox(store, 5)
    batch = store.outbox_batch(3)
    assert [r.id for r in batch] == ["M0", "M1", "M2"]
    assert batch[0] == OutboxRow(batch[0].seq, "M0", "subj.0", "k", b"\x00")
    assert [r.seq for r in batch] == sorted(r.seq for r in batch)
    assert isinstance(batch[0].payload, bytes)


def test_outbox_delete(store: Store) -> None:
    _fill_outbox(store, 4)
    batch = store.outbox_batch(10)
    store.outbox_delete([batch[0].seq, batch[2].seq])
    assert [r.id for r in store.outbox_batch(10)] == ["M1", "M3"]
    store.outbox_delete([])
    assert len(store.outbox_batch(10)) == 2


def test_outbox_attempts(store: Store) -> None:
    _fill_outbox(store, 2)
    seqs = [r.seq for r in store.outbox_batch(10)]
    store.outbox_attempted(seqs)
    store.outbox_attempted(seqs[:1])
    store.outbox_attempted([])
    attempts = store.conn.execute("SELECT id, attempts FROM outbox ORDER BY seq").fetchall()
    assert [tuple(r) for r in attempts] == [("M0", 2), ("M1", 1)]


def test_outbox_stats(store: Store) -> None:
    assert store.outbox_stats() == (0, None)
    _fill_outbox(store, 3)
    n, oldest = store.outbox_stats()
    assert n == 3
    assert oldest == store.conn.execute("SELECT min(created_at) FROM outbox").fetchone()[0]
    store.outbox_delete([r.seq for r in store.outbox_batch(10)])
    assert store.outbox_stats() == (0, None)


@pytest.mark.parametrize(
    ("sql", "index"),
    [
        (
            "SELECT * FROM runs WHERE document_id = ? ORDER BY started_at DESC LIMIT 1",
            "runs_document",
        ),
        ("SELECT * FROM runs WHERE document_id = ? ORDER BY started_at", "runs_document"),
        ("SELECT * FROM jobs WHERE run_id = ?", "jobs_run"),
    ],
)
def test_per_document_lookups_use_an_index(tmp_path: Path, sql: str, index: str) -> None:
    """Processing a document looks up its run; a scan would make each document slower
    than the one before it."""
    store = Store(tmp_path / "agent.db")
    try:
        plan = " / ".join(
            r["detail"] for r in store.conn.execute(f"EXPLAIN QUERY PLAN {sql}", ("x",))
        )
        assert f"USING INDEX {index}" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
    finally:
        store.close()


def test_a_version_2_store_gets_the_lookup_indexes_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    store = Store(path)
    _add(store)
    store.conn.execute("DROP INDEX runs_document")
    store.conn.execute("DROP INDEX jobs_run")
    store.conn.execute("PRAGMA user_version = 2")
    store.close()

    again = Store(path)
    try:
        indexes = {r["name"] for r in again.conn.execute("SELECT name FROM sqlite_master")}
        assert {"runs_document", "jobs_run"} <= indexes
        assert again.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert [d["id"] for d in again.documents()] == ["D1"]
    finally:
        again.close()
