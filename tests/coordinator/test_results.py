"""coordinator/results.py: the result outbox rows, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest

from agent.protocol import Envelope, Kind, command_subject
from coordinator.results import ResultPublisher
from coordinator.store import Database, Job


def _job(job_id: str, status: str, finished_at: float | None, **kw: object) -> Job:
    return Job(
        id=job_id, agent_id=kw.pop("agent_id", "gw-1"), run_id="R1", type="ai.summarize",
        status=status, input={}, attempts=1, created_at=1.0, finished_at=finished_at, **kw,
    )  # fmt: skip


@pytest.fixture
def publisher(database: Database) -> ResultPublisher:
    return ResultPublisher(database, link=None, batch=2)  # type: ignore[arg-type]


def test_finished_unpublished_jobs_in_finishing_order(
    database: Database, publisher: ResultPublisher
) -> None:
    with database.session() as s:
        s.add(_job("J1", "succeeded", 30.0, output={"summary": "S"}, result_msg_id="M1"))
        s.add(_job("J2", "failed", 10.0, error="boom", result_msg_id="M2", agent_id="gw-2"))
        s.add(_job("J3", "succeeded", 20.0, result_published_at=25.0))
        s.add(_job("J4", "running", None))
        s.add(_job("J5", "queued", None))
        s.add(_job("J6", "succeeded", 40.0, output={}))
    pending = publisher._pending()
    assert [(p[0], p[1], p[2]) for p in pending] == [
        ("J2", command_subject("gw-2"), "M2"),
        ("J1", command_subject("gw-1"), "M1"),
    ]  # batch=2: J6 waits for the next round
    env = Envelope.decode(pending[0][3])
    assert (env.kind, env.agent, env.id) == (Kind.JOB_RESULT, "gw-2", "M2")
    assert env.body == {"job_id": "J2", "run_id": "R1", "status": "failed", "output": {},
                        "error": "boom"}  # fmt: skip
    publisher._mark(["J2", "J1"])
    (j6,) = publisher._pending()
    assert j6[0] == "J6"
    assert publisher._pending()[0][2] == j6[2]  # the same message id on every retry
    publisher._mark(["J6"])
    assert publisher._pending() == []
    with database.session() as s:
        assert s.get(Job, "J6").result_msg_id == j6[2]
        assert all(s.get(Job, j).result_published_at for j in ("J1", "J2", "J6"))
