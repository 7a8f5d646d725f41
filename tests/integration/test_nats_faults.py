"""The NATS server dies (SIGKILL) and comes back while the agent is publishing: the
outbox keeps everything, nothing is lost and nothing is doubled on the stream."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

import nats
import pytest

from agent.daemon import Daemon
from agent.natsd import NatsServer
from agent.profile import load_gateway_profile
from agent.settings import AgentSettings, NatsSettings
from coordinator.demo import DEFAULT_DOCUMENTS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _count(db: Path, sql: str) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


async def _eventually(check, within: float, what: str) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_nats_killed_and_restarted_mid_batch(
    tmp_path: Path, model_dir: Path, gateway_profile: Path
) -> None:
    server = NatsServer(tmp_path / "nats", log_file=tmp_path / "nats.log").start()
    data = tmp_path / "agent"
    settings = AgentSettings(
        agent_id="gw-faults",
        data_dir=data,
        model_dir=model_dir,
        poll_interval=0.02,
        settle_seconds=0.0,
        nats=NatsSettings(url=server.url, connect_timeout=1),
    )
    daemon = Daemon(settings, load_gateway_profile(gateway_profile))
    task = asyncio.create_task(daemon.run())
    try:
        await _eventually(
            lambda: hasattr(daemon, "link") and daemon.link.online and (data / "inbox").is_dir(),
            30,
            "the agent",
        )
        samples = sorted(p for p in DEFAULT_DOCUMENTS.iterdir() if p.name != "labels.json")
        names = [f"{i}-{p.name}" for i in range(3) for p in samples]
        for i in range(3):
            for p in samples:
                tmp = data / "inbox" / f".{i}-{p.name}.part"
                shutil.copyfile(p, tmp)
                tmp.rename(data / "inbox" / f"{i}-{p.name}")
        db = data / "agent.db"
        await _eventually(
            lambda: _count(db, "SELECT count(*) FROM documents") >= 10, 30, "progress"
        )
        server.kill()
        await _eventually(lambda: not daemon.link.online, 10, "the agent to notice")
        # Work goes on offline: documents are processed and their messages wait.
        await _eventually(
            lambda: (
                _count(db, "SELECT count(*) FROM documents WHERE status = 'waiting'") == len(names)
            ),
            60,
            "local processing while offline",
        )
        assert _count(db, "SELECT count(*) FROM outbox") > 0
        server.restart()
        await _eventually(
            lambda: _count(db, "SELECT count(*) FROM outbox") == 0, 60, "the outbox to drain"
        )
        nc = await nats.connect(server.url)
        try:
            js = nc.jetstream()
            events = (await js.stream_info("DWC_EVENTS")).state.messages
            jobs = (await js.stream_info("DWC_JOBS")).state.messages
        finally:
            await nc.close()
        assert (events, jobs) == (len(names), len(names))
    finally:
        daemon.stop_event.set()
        await asyncio.wait_for(task, timeout=20)
        server.close()
