"""SIGKILL the agent process again and again while it works through a batch; after a
last restart every document is processed exactly once in effect: one document row and
one run per file, each committed step once, each event once on the stream, nothing
left in processing/ and nothing lost."""

from __future__ import annotations

import asyncio
import random
import shutil
import sqlite3
import time
from pathlib import Path

import nats
import pytest

from agent.natsd import NatsServer
from coordinator.demo import DEFAULT_DOCUMENTS
from coordinator.launch import Child, dwc_command, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

KILLS = 4


def _count(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def test_sigkill_while_working_loses_and_repeats_nothing(
    tmp_path: Path, nats_server: NatsServer, gateway_profile: Path, model_dir: Path
) -> None:
    data = tmp_path / "agent"
    inbox = data / "inbox"
    inbox.mkdir(parents=True)
    samples = sorted(p for p in DEFAULT_DOCUMENTS.iterdir() if p.name != "labels.json")
    names = [f"{copy}-{p.name}" for copy in range(3) for p in samples]
    for copy in range(3):
        for p in samples:
            shutil.copyfile(p, inbox / f".{copy}-{p.name}.part")
    for p in inbox.iterdir():
        p.rename(inbox / p.name.removeprefix(".").removesuffix(".part"))
    db = data / "agent.db"
    argv = dwc_command(
        "agent",
        "run",
        "--profile",
        str(gateway_profile),
        "--data-dir",
        str(data),
        "--agent-id",
        "crashy",
        "--nats-url",
        nats_server.url,
        "--model-dir",
        str(model_dir),
    )
    rng = random.Random(20261125)
    waiting = "SELECT count(*) FROM documents WHERE status = 'waiting'"
    in_flight_at_kill = []
    for i in range(KILLS):
        agent = Child(f"agent-{i}", argv, tmp_path / "agent.log")
        before = _count(db, waiting)
        # Kill once it has made some progress, at a random moment after that.
        wait_until(
            lambda b=before: _count(db, waiting) > b,
            timeout=60,
            interval=0.01,
            what="progress",
            child=agent,
        )
        time.sleep(rng.uniform(0.0, 0.15))
        agent.kill()
        in_flight_at_kill.append(
            _count(db, "SELECT count(*) FROM documents WHERE status = 'processing'")
        )
    assert _count(db, waiting) < len(names), (
        "the batch finished before the last kill; use more documents"
    )
    # At least one kill hit a document between its steps (leased, partly committed).
    assert any(in_flight_at_kill), in_flight_at_kill

    agent = Child("agent-final", argv, tmp_path / "agent.log")
    try:
        wait_until(
            lambda: _count(db, waiting) == len(names),
            timeout=120,
            interval=0.1,
            what="every document",
            child=agent,
        )
        wait_until(
            lambda: _count(db, "SELECT count(*) FROM outbox") == 0,
            timeout=30,
            what="the outbox to drain",
            child=agent,
        )
    finally:
        assert agent.stop() in (0, -15)

    conn = sqlite3.connect(db)
    assert sorted(r[0] for r in conn.execute("SELECT name FROM documents")) == sorted(names)
    assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == len(names)
    steps = conn.execute("SELECT step, count(*) FROM step_results GROUP BY step").fetchall()
    assert dict(steps) == {
        "extract": len(names),
        "classify": len(names),
        "summarize.request": len(names),
    }
    assert conn.execute("SELECT count(*) FROM jobs").fetchone()[0] == len(names)
    assert conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 0
    conn.close()
    assert list((data / "processing").iterdir()) == []
    assert list(inbox.iterdir()) == []
    assert sorted(p.name.split("__", 1)[1] for p in (data / "done").iterdir()) == sorted(names)

    # On the wire: each document's event and job request exactly once (republished rows
    # carry the same Nats-Msg-Id, so JetStream keeps one).
    async def stream_counts() -> tuple[int, int]:
        nc = await nats.connect(nats_server.url)
        try:
            js = nc.jetstream()
            events = (await js.stream_info("DWC_EVENTS")).state.messages
            jobs = (await js.stream_info("DWC_JOBS")).state.messages
            return events, jobs
        finally:
            await nc.close()

    assert asyncio.run(stream_counts()) == (len(names), len(names))
