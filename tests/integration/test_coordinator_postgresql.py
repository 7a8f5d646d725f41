"""`dwc coordinator serve --database-url postgresql+psycopg://...` against a private
PostgreSQL server: it migrates, becomes ready (database, NATS and Ray checks), applies
agent messages into PostgreSQL, runs the job on Ray and sends the result back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
import pytest
from sqlalchemy import func, select

from agent.natsd import NatsServer, free_port
from agent.protocol import Envelope, Kind, command_subject, event_subject, job_subject
from coordinator.launch import Child, coordinator_ready, dwc_command, http_json, wait_until
from coordinator.store import Database, DeadLetter, Document, Event, Job, migrations
from tests.postgres import PostgresServer

pytestmark = [pytest.mark.integration, pytest.mark.postgresql, pytest.mark.timeout(150)]
AGENT = "gw-pg"


def _document(**overrides: object) -> Envelope:
    body = {
        "document_id": "D1",
        "run_id": "R1",
        "content_id": "blake3:abc",
        "name": "Prüfbericht.txt",
        "size": 5_000_000_000,
        "label": "report",
        "confidence": 0.875,
        "workflow": "intake",
        "version": "1",
        "received_at": 1_732_525_678.123_456,
        **overrides,
    }
    return Envelope(kind=Kind.DOCUMENT_PROCESSED, agent=AGENT, body=body)


async def _exchange(nats_url: str) -> Envelope:
    """Send a document event, a bad one and a job request as an agent would; return the
    job result the coordinator sends back."""
    nc = await nats.connect(nats_url)
    try:
        results = await nc.subscribe(command_subject(AGENT))
        js = nc.jetstream(timeout=10)
        text = "Pumps move water through the plant. The plant has three pumps. Tanks hold it."
        job = Envelope(
            kind=Kind.JOB_REQUEST,
            agent=AGENT,
            body={
                "job_id": "J1",
                "run_id": "R1",
                "document_id": "D1",
                "type": "ai.summarize",
                "input": {"text": text, "max_sentences": 1},
            },
        )
        for subject, env in (
            (event_subject(AGENT, Kind.DOCUMENT_PROCESSED), _document()),
            (event_subject(AGENT, Kind.DOCUMENT_PROCESSED), _document(document_id="D" * 40)),
            (job_subject(AGENT), job),
        ):
            await js.publish(subject, env.encode(), headers={"Nats-Msg-Id": env.id})
        msg = await results.next_msg(timeout=60)
        return Envelope.decode(msg.data)
    finally:
        await nc.close()


def test_coordinator_on_postgresql(
    tmp_path: Path, nats_server: NatsServer, postgres_server: PostgresServer
) -> None:
    url = postgres_server.create_database("dwc_coordinator")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    coordinator = Child(
        "coordinator",
        dwc_command(
            "coordinator", "serve", "--port", str(port), "--data-dir", str(tmp_path / "coord"),
            "--database-url", url, "--nats-url", nats_server.url, "--ray-num-cpus", "1",
        ),
        tmp_path / "coordinator.log",
    )  # fmt: skip
    db = Database(url)
    try:
        wait_until(
            lambda: coordinator_ready(base),
            timeout=90,
            interval=0.25,
            what="the coordinator to be ready",
            child=coordinator,
        )
        status, ready = http_json(f"{base}/api/v3/health/ready")
        assert (status, ready) == (
            200,
            {"ready": True, "checks": {"database": "ok", "nats": "ok", "ray": "ok"}},
        )
        with db.engine.connect() as conn:
            assert migrations.current_revision(conn) == migrations.head_revision()

        result = asyncio.run(_exchange(nats_server.url))
        assert (result.kind, result.body["job_id"], result.body["status"]) == (
            Kind.JOB_RESULT,
            "J1",
            "succeeded",
        )
        summary = result.body["output"]["summary"]

        def settled() -> bool:
            with db.session() as s:
                job = s.get(Job, "J1")
                return job is not None and job.result_published_at is not None

        wait_until(settled, timeout=30, what="the job's result to be marked published")
        with db.session() as s:
            doc = s.get(Document, "D1")
            assert doc is not None
            assert (doc.name, doc.size, doc.summary) == ("Prüfbericht.txt", 5_000_000_000, summary)
            assert doc.received_at == 1_732_525_678.123_456
            assert s.scalar(select(func.count()).select_from(Event)) == 2
            (dead,) = s.scalars(select(DeadLetter)).all()
            assert "'document_id' is 40 characters long" in dead.reason
        status, page = http_json(f"{base}/api/v3/documents?agent={AGENT}")
        assert status == 200
        assert [d["id"] for d in page["items"]] == ["D1"]
    finally:
        db.close()
        coordinator.stop()
        postgres_server.drop_database("dwc_coordinator")
    assert "ingest.retry_later" not in coordinator.tail(200)
