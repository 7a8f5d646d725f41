"""coordinator/dispatch/ray.py: the job rows the dispatcher writes, on SQLite and on
PostgreSQL (Ray itself is exercised by the integration tests)."""

from __future__ import annotations

from typing import Any

import pytest

from agent.protocol import Envelope, Kind, job_subject
from coordinator.dispatch.ray import Dispatcher
from coordinator.ingest import Ingest
from coordinator.store import Database, Document, Job

AGENT = "gw-1"


def _request(ingest: Ingest, job_id: str, **body: Any) -> None:
    b = {
        "job_id": job_id,
        "run_id": "R1",
        "document_id": "D1",
        "type": "ai.summarize",
        "input": {"text": "Text.", "max_sentences": 2},
        **body,
    }
    data = Envelope(kind=Kind.JOB_REQUEST, agent=AGENT, body=b).encode()
    assert ingest.apply(job_subject(AGENT), data) == ("applied", job_id)


@pytest.fixture
def ingest(database: Database) -> Ingest:
    return Ingest(database, link=None, on_job=lambda _: None)  # type: ignore[arg-type]


@pytest.fixture
def dispatcher(database: Database) -> Dispatcher:
    return Dispatcher(database, concurrency=1, on_finished=lambda: None)


def test_a_job_goes_from_queued_to_succeeded(
    database: Database, ingest: Ingest, dispatcher: Dispatcher
) -> None:
    _request(ingest, "J1")
    assert dispatcher._start("J1") == ("ai.summarize", {"text": "Text.", "max_sentences": 2})
    with database.session() as s:
        job = s.get(Job, "J1")
        assert (job.status, job.attempts, job.finished_at) == ("running", 1, None)
        assert job.started_at is not None
        assert job.started_at > job.created_at - 1
    output = {"summary": "Text.", "sentences": 1, "provider": "local", "score": 0.125}
    dispatcher._finish("J1", output, None)
    with database.session() as s:
        job = s.get(Job, "J1")
        assert (job.status, job.output, job.error) == ("succeeded", output, None)
        assert job.finished_at >= job.started_at
        assert job.result_msg_id is not None
        assert len(job.result_msg_id) == 26
        assert job.result_published_at is None
    assert dispatcher._start("J1") is None  # finished jobs are not run again


def test_a_failed_job_keeps_its_reason(
    database: Database, ingest: Ingest, dispatcher: Dispatcher
) -> None:
    _request(ingest, "J1")
    dispatcher._start("J1")
    dispatcher._finish("J1", None, "ValueError: no text\nsecond line")
    with database.session() as s:
        job = s.get(Job, "J1")
        assert (job.status, job.output, job.error) == (
            "failed",
            None,
            "ValueError: no text\nsecond line",
        )


def test_the_summary_reaches_a_known_document(
    database: Database, ingest: Ingest, dispatcher: Dispatcher
) -> None:
    with database.session() as s:
        from coordinator.store import Agent

        s.add(Agent(id=AGENT, first_seen=1.0, last_seen=1.0, last_status=None))
        s.flush()
        s.add(
            Document(
                id="D1", agent_id=AGENT, run_id="R1", content_id="c", name="n", size=1,
                workflow="w", version="1", received_at=1.0, created_at=1.0, updated_at=1.0,
            )
        )  # fmt: skip
    _request(ingest, "J1")
    dispatcher._start("J1")
    dispatcher._finish("J1", {"summary": "Short."}, None)
    with database.session() as s:
        doc = s.get(Document, "D1")
        assert doc.summary == "Short."
        assert doc.updated_at > 1.0


def test_unfinished_jobs_are_found_again_in_order(
    database: Database, ingest: Ingest, dispatcher: Dispatcher
) -> None:
    for job_id in ("J1", "J2", "J3", "J4"):
        _request(ingest, job_id)
    with database.session() as s:  # creation order, not id order
        for created, job_id in enumerate(("J3", "J1", "J4", "J2")):
            s.get(Job, job_id).created_at = 1000.0 + created
    dispatcher._start("J1")  # running: picked up again after a restart
    dispatcher._start("J4")
    dispatcher._finish("J4", {}, None)
    assert dispatcher._unfinished() == ["J3", "J1", "J2"]
    with database.session() as s:
        assert s.get(Job, "J1").attempts == 1
    dispatcher._start("J1")
    with database.session() as s:
        assert s.get(Job, "J1").attempts == 2
