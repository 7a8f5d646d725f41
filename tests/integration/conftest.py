"""Fixtures of the integration tests: an agent daemon started in-process against a real
nats-server, with helpers to drop documents and read its store."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from agent.daemon import Daemon
from agent.profile import GatewayProfile, load_gateway_profile
from agent.settings import AgentSettings, NatsSettings
from coordinator.demo import DEFAULT_DOCUMENTS

AGENT = "gw-test"


async def eventually(
    check: Callable[[], bool], within: float = 30.0, what: str = "condition"
) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def query(db: Path, sql: str, *args: object) -> list[sqlite3.Row]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute(sql, args))
    finally:
        conn.close()


class Running:
    """An agent daemon running in this test's event loop."""

    def __init__(self, daemon: Daemon, task: asyncio.Task[None], data: Path) -> None:
        self.daemon, self.task, self.data = daemon, task, data
        self.db = data / "agent.db"

    eventually = staticmethod(eventually)

    def query(self, sql: str, *args: object) -> list[sqlite3.Row]:
        return query(self.db, sql, *args)

    def statuses(self) -> list[str]:
        return [r["status"] for r in self.query("SELECT status FROM documents")]

    def outbox(self) -> int:
        return int(self.query("SELECT count(*) AS n FROM outbox")[0]["n"])

    def drop(self, names: list[str]) -> None:
        for name in names:
            tmp = self.data / "inbox" / f".{name}.part"
            shutil.copyfile(DEFAULT_DOCUMENTS / name, tmp)
            tmp.rename(self.data / "inbox" / name)

    @property
    def api_url(self) -> str:
        import json

        return str(json.loads((self.data / "api.json").read_text())["url"])


StartAgent = Callable[..., Awaitable[Running]]


@pytest.fixture
async def start_agent(
    tmp_path: Path, model_dir: Path, gateway_profile: Path
) -> AsyncIterator[StartAgent]:
    """``await start_agent(nats_url, profile=..., **settings)``; stopped at teardown."""
    running: list[Running] = []

    async def start(
        nats_url: str, *, profile: GatewayProfile | None = None, **overrides: Any
    ) -> Running:
        settings = AgentSettings(
            **{
                "agent_id": AGENT,
                "data_dir": tmp_path / "agent",
                "model_dir": model_dir,
                "poll_interval": 0.05,
                "settle_seconds": 0.0,
                "nats": NatsSettings(url=nats_url, connect_timeout=1),
                **overrides,
            }
        )
        daemon = Daemon(settings, profile or load_gateway_profile(gateway_profile))
        task = asyncio.create_task(daemon.run())
        data = settings.data_dir
        await eventually(
            lambda: (
                task.done()
                or (
                    daemon.work is not None
                    and daemon.work.sched is not None
                    and (not settings.api.enabled or (data / "api.json").exists())
                )
            ),
            what="the agent to start",
        )
        if task.done():
            await task
        r = Running(daemon, task, data)
        running.append(r)
        return r

    yield start
    for r in running:
        r.daemon.stop_event.set()
        await asyncio.wait_for(r.task, timeout=20)
