"""The agent against a real nats-server, with the test playing the coordinator: it
starts offline and catches up, applies each result once, and dead-letters garbage."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import nats
import pytest
from nats.js.api import ConsumerConfig

from agent.daemon import Daemon
from agent.natsd import NatsServer, free_port
from agent.profile import load_gateway_profile
from agent.protocol import Envelope, Kind, command_subject, job_subject
from agent.settings import AgentSettings, NatsSettings
from coordinator.demo import DEFAULT_DOCUMENTS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]
AGENT = "gw-test"


async def eventually(
    check: Callable[[], bool], within: float = 30.0, what: str = "condition"
) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def query(db: Path, sql: str, *args: object) -> list[sqlite3.Row]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute(sql, args))
    finally:
        conn.close()


class Running:
    def __init__(self, daemon: Daemon, task: asyncio.Task[None], data: Path) -> None:
        self.daemon, self.task, self.data = daemon, task, data
        self.db = data / "agent.db"

    def statuses(self) -> list[str]:
        return [r["status"] for r in query(self.db, "SELECT status FROM documents")]

    def outbox(self) -> int:
        return query(self.db, "SELECT count(*) AS n FROM outbox")[0]["n"]

    def drop(self, names: list[str]) -> None:
        for name in names:
            tmp = self.data / "inbox" / f".{name}.part"
            shutil.copyfile(DEFAULT_DOCUMENTS / name, tmp)
            tmp.rename(self.data / "inbox" / name)


@pytest.fixture
async def start_agent(
    tmp_path: Path, model_dir: Path, gateway_profile: Path
) -> AsyncIterator[Callable[[str], object]]:
    running: list[Running] = []

    async def start(nats_url: str) -> Running:
        settings = AgentSettings(
            agent_id=AGENT,
            data_dir=tmp_path / "agent",
            model_dir=model_dir,
            poll_interval=0.05,
            settle_seconds=0.0,
            nats=NatsSettings(url=nats_url, connect_timeout=1),
        )
        daemon = Daemon(settings, load_gateway_profile(gateway_profile))
        task = asyncio.create_task(daemon.run())
        await eventually(
            lambda: daemon.store is not None and (tmp_path / "agent" / "inbox").is_dir(),
            what="the agent to start",
        )
        r = Running(daemon, task, tmp_path / "agent")
        running.append(r)
        return r

    yield start  # type: ignore[misc]
    for r in running:
        r.daemon.stop_event.set()
        await asyncio.wait_for(r.task, timeout=20)


SAMPLES = ["invoice_kestrel_pumps.txt", "memo_holiday_closure.md", "incident_chemical_spill.html"]


async def test_offline_start_then_catch_up_and_exactly_once_results(
    tmp_path: Path, start_agent
) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    agent: Running = await start_agent(f"nats://127.0.0.1:{port}")  # nothing listens there yet
    agent.drop(SAMPLES)
    await eventually(lambda: agent.statuses() == ["waiting"] * 3, what="local steps while offline")
    assert agent.outbox() == 6  # one event and one job request per document, kept while offline
    assert not agent.daemon.link.online

    with NatsServer(tmp_path / "nats", port=port, log_file=tmp_path / "nats.log"):
        await eventually(
            lambda: agent.outbox() == 0, what="the outbox to drain after the link returns"
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
            await eventually(lambda: agent.statuses() == ["done"] * 3, what="results to be applied")
            summaries = {
                r["id"]: r["summary"] for r in query(agent.db, "SELECT id, summary FROM documents")
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
            await eventually(
                lambda: (
                    agent.daemon.commands.duplicates == 1
                    and agent.daemon.commands.dead_letters == 2
                ),
                what="the duplicate and the dead letters",
            )
            dead = query(agent.db, "SELECT reason FROM dead_letters ORDER BY seq")
            assert "not a msgpack message" in dead[0]["reason"]
            assert "someone-else" in dead[1]["reason"]
            assert agent.daemon.commands.applied == 3
            steps = query(
                agent.db, "SELECT count(*) AS n FROM step_results WHERE step = 'summarize'"
            )
            assert steps[0]["n"] == 3
        finally:
            await nc.close()


async def test_unsupported_and_failed_documents_go_to_failed_with_reason(
    tmp_path: Path,
    start_agent,  # type: ignore[no-untyped-def]
    nats_server: NatsServer,
) -> None:
    agent: Running = await start_agent(nats_server.url)
    inbox = agent.data / "inbox"
    (inbox / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0binary")
    (inbox / "broken.json").write_text('{"a": ')
    (inbox / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    limit = agent.daemon.profile.budgets.max_document_bytes
    (inbox / "huge.txt").write_bytes(b"word " * (limit // 5 + 1))
    (inbox / ".hidden.txt").write_text("never claimed")
    await eventually(lambda: sorted(agent.statuses()) == ["failed"] * 4, what="four failures")
    failed = agent.data / "failed"
    errors = {p.name.split("__", 1)[1]: p.read_text() for p in failed.glob("*.error")}
    assert "unsupported file type '.jpg'" in errors["photo.jpg.error"]
    assert "invalid JSON" in errors["broken.json.error"]
    assert "not valid UTF-8" in errors["latin1.txt.error"]
    assert f"max_document_bytes={limit}" in errors["huge.txt.error"]
    # The originals are kept next to their reasons; the hidden file was left alone.
    assert len([p for p in failed.iterdir() if not p.name.endswith(".error")]) == 4
    assert (inbox / ".hidden.txt").exists()
