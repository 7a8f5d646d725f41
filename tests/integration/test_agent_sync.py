"""The agent against a real nats-server, with the test playing the coordinator: it
starts offline and catches up, applies each result once, and dead-letters garbage."""

from __future__ import annotations

from pathlib import Path

import nats
import pytest
from nats.js.api import ConsumerConfig

from agent.natsd import NatsServer, free_port
from agent.protocol import Envelope, Kind, command_subject, event_subject, job_subject
from coordinator.demo import DEFAULT_DOCUMENTS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]
AGENT = "gw-test"  # as started by the start_agent fixture


SAMPLES = ["invoice_kestrel_pumps.txt", "memo_holiday_closure.md", "incident_chemical_spill.html"]


async def test_offline_start_then_catch_up_and_exactly_once_results(
    tmp_path: Path, start_agent
) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    agent = await start_agent(f"nats://127.0.0.1:{port}")  # nothing listens there yet
    agent.drop(SAMPLES)
    await agent.eventually(
        lambda: agent.statuses() == ["waiting"] * 3, what="local steps while offline"
    )
    assert agent.outbox() == 6  # one event and one job request per document, kept while offline
    assert not agent.daemon.link.online

    with NatsServer(tmp_path / "nats", port=port, log_file=tmp_path / "nats.log"):
        await agent.eventually(
            lambda: agent.outbox() == 0,
            within=60,  # a reconnect attempt is at most MAX_RETRY_SECONDS away
            what="the outbox to drain after the link returns",
        )
        nc = await nats.connect(f"nats://127.0.0.1:{port}")
        try:
            js = nc.jetstream()
            sub = await js.pull_subscribe(
                job_subject(AGENT), durable="test-jobs", stream="DWC_JOBS", config=ConsumerConfig()
            )
            msgs = await sub.fetch(10, timeout=5)
            requests = [Envelope.decode(m.data) for m in msgs]
            assert sorted(r.body["type"] for r in requests) == ["ai.summarize"] * 3
            results = []
            for req in requests:
                res = Envelope(
                    kind=Kind.JOB_RESULT,
                    agent=AGENT,
                    body={
                        "job_id": req.body["job_id"],
                        "run_id": req.body["run_id"],
                        "status": "succeeded",
                        "output": {
                            "summary": f"summary of {req.body['document_id']}",
                            "provider": "test",
                        },
                        "error": None,
                    },
                )
                results.append(res)
                await js.publish(
                    command_subject(AGENT), res.encode(), headers={"Nats-Msg-Id": res.id}
                )
            await agent.eventually(
                lambda: agent.statuses() == ["done"] * 3, what="results to be applied"
            )
            summaries = {
                r["id"]: r["summary"] for r in agent.query("SELECT id, summary FROM documents")
            }
            assert all(s == f"summary of {doc}" for doc, s in summaries.items())

            # The same result again under a new Nats-Msg-Id passes JetStream's de-duplication;
            # the agent's inbox table still makes it a no-op.
            await js.publish(
                command_subject(AGENT), results[0].encode(), headers={"Nats-Msg-Id": "again-1"}
            )
            # Garbage and a message for another agent become dead letters, not crashes.
            await js.publish(command_subject(AGENT), b"\x00not msgpack")
            wrong = Envelope(
                kind=Kind.JOB_RESULT,
                agent="someone-else",
                body={"job_id": "x", "status": "succeeded"},
            )
            await js.publish(command_subject(AGENT), wrong.encode())
            await agent.eventually(
                lambda: (
                    agent.daemon.commands.duplicates == 1
                    and agent.daemon.commands.dead_letters == 2
                ),
                what="the duplicate and the dead letters",
            )
            dead = agent.query("SELECT reason FROM dead_letters ORDER BY seq")
            assert "not a msgpack message" in dead[0]["reason"]
            assert "someone-else" in dead[1]["reason"]
            assert agent.daemon.commands.applied == 3
            steps = agent.query("SELECT count(*) AS n FROM step_results WHERE step = 'summarize'")
            assert steps[0]["n"] == 3
        finally:
            await nc.close()


async def test_unsupported_and_failed_documents_go_to_failed_with_reason(
    tmp_path: Path,
    start_agent,  # type: ignore[no-untyped-def]
    nats_server: NatsServer,
) -> None:
    agent = await start_agent(nats_server.url)
    inbox = agent.data / "inbox"
    (inbox / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0binary")
    (inbox / "broken.json").write_text('{"a": ')
    (inbox / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    limit = agent.daemon.profile.budgets.max_document_bytes
    (inbox / "huge.txt").write_bytes(b"word " * (limit // 5 + 1))
    (inbox / ".hidden.txt").write_text("never claimed")
    await agent.eventually(lambda: sorted(agent.statuses()) == ["failed"] * 4, what="four failures")
    failed = agent.data / "failed"
    errors = {p.name.split("__", 1)[1]: p.read_text() for p in failed.glob("*.error")}
    assert "unsupported file type '.jpg'" in errors["photo.jpg.error"]
    assert "invalid JSON" in errors["broken.json.error"]
    assert "not valid UTF-8" in errors["latin1.txt.error"]
    assert f"max_document_bytes={limit}" in errors["huge.txt.error"]
    # The originals are kept next to their reasons; the hidden file was left alone.
    assert len([p for p in failed.iterdir() if not p.name.endswith(".error")]) == 4
    assert (inbox / ".hidden.txt").exists()


async def test_duplicate_content_reuses_label_and_summary_from_the_cache(
    tmp_path: Path,
    start_agent,  # type: ignore[no-untyped-def]
    nats_server: NatsServer,
) -> None:
    agent = await start_agent(nats_server.url)
    agent.drop(["invoice_kestrel_pumps.txt"])
    await agent.eventually(lambda: agent.statuses() == ["waiting"], what="the first copy")
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(job_subject(AGENT), durable="t-jobs", stream="DWC_JOBS")
        (msg,) = await sub.fetch(1, timeout=5)
        req = Envelope.decode(msg.data)
        res = Envelope(
            kind=Kind.JOB_RESULT,
            agent=AGENT,
            body={
                "job_id": req.body["job_id"],
                "run_id": req.body["run_id"],
                "status": "succeeded",
                "output": {"summary": "Kestrel pumps invoice.", "provider": "test"},
                "error": None,
            },
        )
        await js.publish(command_subject(AGENT), res.encode(), headers={"Nats-Msg-Id": res.id})
        await agent.eventually(lambda: agent.statuses() == ["done"], what="the first result")

        # The same bytes under another name: classified from the cache, summary reused,
        # run completed locally; the event carries the summary and no job is requested.
        copy = agent.data / "inbox" / "copy-of-invoice.txt"
        copy.write_bytes((DEFAULT_DOCUMENTS / "invoice_kestrel_pumps.txt").read_bytes())
        await agent.eventually(lambda: agent.statuses() == ["done", "done"], what="the copy")
        (row,) = agent.query("SELECT * FROM documents WHERE name = 'copy-of-invoice.txt'")
        assert row["summary"] == "Kestrel pumps invoice."
        assert agent.query("SELECT count(*) AS n FROM jobs")[0]["n"] == 1
        await agent.eventually(lambda: agent.outbox() == 0, what="the event to be published")
        assert (await js.stream_info("DWC_JOBS")).state.messages == 1
        events = await js.pull_subscribe(
            event_subject(AGENT, "document.processed"), durable="t-ev", stream="DWC_EVENTS"
        )
        bodies = [Envelope.decode(m.data).body for m in await events.fetch(2, timeout=5)]
        assert [b.get("summary") for b in bodies] == [None, "Kestrel pumps invoice."]
        stats = agent.daemon.cache.stats()
        assert stats.hits >= 2  # the label and the summary
    finally:
        await nc.close()
