"""The agent's durable work queue (agent/work.py) over a real SQLite store."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from agent.store import Store
from agent.work import WorkQueue


class Opened:
    """A store on its own thread plus a work queue, as the daemon wires them."""

    def __init__(self, path: Path, **kwargs: Any) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.store = self.pool.submit(Store, path).result()
        self.work = WorkQueue(self.store, self.db, class_limits={"document": 2}, takers=2, **kwargs)

    async def db(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(
            self.pool, functools.partial(fn, *args, **kwargs)
        )

    async def crash(self) -> None:
        """Drop everything in memory without a final snapshot, as a SIGKILL would."""
        self.work._takers.shutdown(wait=True)
        await self.db(self.store.close)
        self.pool.shutdown()

    async def close(self) -> None:
        await self.work.close()
        await self.db(self.store.close)
        self.pool.shutdown()


@pytest.fixture
async def opened(tmp_path: Path) -> AsyncIterator[Opened]:
    o = Opened(tmp_path / "agent.db", backoff_base=0.001, backoff_cap=0.01)
    await o.work.open()
    return o


async def test_a_leased_task_survives_a_crash_and_an_acked_one_does_not(tmp_path: Path) -> None:
    first = Opened(tmp_path / "agent.db")
    await first.work.open()
    await first.work.put(["a", "b", "c"])
    leased = await first.work.take()
    done = await first.work.take()
    assert leased is not None
    assert done is not None
    await first.work.ack(done)
    await first.crash()

    second = Opened(tmp_path / "agent.db")
    await second.work.open()
    assert len(second.work) == 2
    assert second.work.status(leased.task_id) == "pending"
    assert second.work.status(done.task_id) is None
    again = await second.work.take()
    assert again is not None
    assert again.task_id == leased.task_id  # FIFO within a priority: it comes first
    assert again.attempt == 2  # the interrupted delivery counted
    await second.close()


async def test_nack_retries_then_dead_letters(opened: Opened) -> None:
    await opened.work.put(["x"])
    outcomes = []
    for _ in range(opened.work.max_attempts):
        lease = None
        while lease is None:  # retries wait out their (here: millisecond) backoff
            opened.work.sched.tick()  # type: ignore[union-attr]
            lease = await opened.work.take()
        outcomes.append(await opened.work.nack(lease, "boom"))
    assert outcomes[-1] == "dead_letter"
    assert set(outcomes[:-1]) == {"retry"}
    assert opened.work.stats()["dead_letters"] == 1
    await opened.close()


async def test_journal_rows_are_compacted_into_a_snapshot(tmp_path: Path) -> None:
    o = Opened(tmp_path / "agent.db", snapshot_every=3)
    await o.work.open()
    for i in range(10):
        await o.work.put([f"t{i}"])
    rows = o.store.conn.execute("SELECT count(*) FROM scheduler_journal").fetchone()[0]
    assert rows < 3
    await o.crash()
    again = Opened(tmp_path / "agent.db")
    await again.work.open()
    assert len(again.work) == 10
    await again.close()


async def test_clean_close_leaves_one_snapshot_and_no_journal(tmp_path: Path) -> None:
    o = Opened(tmp_path / "agent.db")
    await o.work.open()
    await o.work.put(["a", "b"])
    await o.close()
    store = Store(tmp_path / "agent.db")
    snapshot, chunks = store.load_scheduler()
    store.close()
    assert snapshot is not None
    assert chunks == []


async def test_a_damaged_state_is_reported_and_rebuilt_empty(tmp_path: Path) -> None:
    store = Store(tmp_path / "agent.db")
    store.append_journal(b"DWCJ this is not a journal chunk")
    store.close()
    o = Opened(tmp_path / "agent.db")
    await o.work.open()
    assert len(o.work) == 0
    reasons = [r["reason"] for r in o.store.conn.execute("SELECT reason FROM dead_letters")]
    assert len(reasons) == 1
    assert reasons[0].startswith("scheduler state not restorable")
    await o.close()
