"""The agent's local work queue: ``dwc_core.Scheduler`` (priorities, leases, retries
with backoff, per-class concurrency caps), made durable in the agent's SQLite store.

Durability follows docs/adr/0001-scheduler-durability.md: after every change that must
survive a crash (enqueue, ack, nack) the scheduler's journal is drained into a
``scheduler_journal`` row; every ``snapshot_every`` rows a snapshot replaces them. All
of that runs on the store's thread, so every stored journal row predates the snapshot
that deletes it. At start the scheduler is restored from the snapshot and the rows
after it; leased tasks come back pending (at-least-once), and the handlers are
idempotent per task id.

If the stored state cannot be restored (a damaged row), the agent records why as a dead
letter, starts an empty scheduler and rebuilds the work from what is on disk: every
file in ``processing/`` is unfinished work.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import dwc_core
from agent.logs import kv
from agent.store import Store

log = logging.getLogger("agent.work")

Db = Callable[..., Awaitable[Any]]

DOCUMENT = "document"
TAKE_WAIT_SECONDS = 0.5


class WorkQueue:
    def __init__(
        self,
        store: Store,
        db: Db,
        *,
        class_limits: Mapping[str, int],
        takers: int,
        lease_seconds: float = 180.0,
        max_attempts: int = 5,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        snapshot_every: int = 512,
    ) -> None:
        self.store = store
        self.db = db
        self.class_limits = dict(class_limits)
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.snapshot_every = snapshot_every
        self._rows = 0
        self._takers = ThreadPoolExecutor(max_workers=takers, thread_name_prefix="dwc-take")
        self.sched: dwc_core.Scheduler | None = None

    # --- durability (store thread) -------------------------------------------------------
    def _restore(self) -> tuple[dwc_core.Scheduler, str | None]:
        snapshot, chunks = self.store.load_scheduler()
        config: dict[str, Any] = {"journal": True, "class_limits": self.class_limits}
        problem = None
        if snapshot is None and not chunks:
            sched = dwc_core.Scheduler(**config)
        else:
            try:
                sched = dwc_core.Scheduler.restore(snapshot, chunks, **config)
            except (dwc_core.SnapshotError, ValueError) as e:
                problem = f"scheduler state not restorable, rebuilt from processing/: {e}"
                self.store.dead_letter("scheduler", problem, snapshot)
                sched = dwc_core.Scheduler(**config)
        self.sched = sched
        self._compact()  # start from one snapshot and no journal rows
        return sched, problem

    def _persist(self) -> None:
        assert self.sched is not None
        chunk = self.sched.drain_journal()
        if chunk:
            self.store.append_journal(chunk)
            self._rows += 1
            if self._rows >= self.snapshot_every:
                self._compact()

    def _compact(self) -> None:
        """Snapshot and drop the journal rows it covers: every stored row was drained on
        this thread before the snapshot was taken, so the snapshot covers them all."""
        assert self.sched is not None
        self.store.save_snapshot(self.sched.snapshot())
        self._rows = 0

    # --- API (event loop) ------------------------------------------------------------------
    async def open(self) -> None:
        sched, problem = await self.db(self._restore)
        if problem:
            log.error("work.restore_failed", extra=kv(reason=problem))
        stats = sched.stats()
        log.info("work.restored", extra=kv(pending=stats.pending, dead_letters=stats.dead_letters))

    async def close(self) -> None:
        """Store a final snapshot (a clean restart replays no journal) and stop taking."""
        self._takers.shutdown(wait=True, cancel_futures=True)
        if self.sched is not None:
            await self.db(self._compact)

    def status(self, task_id: str) -> str | None:
        assert self.sched is not None
        return self.sched.status(task_id)

    def __len__(self) -> int:
        return 0 if self.sched is None else len(self.sched)

    async def put(self, task_ids: list[str], *, task_class: str = DOCUMENT) -> None:
        """Enqueue new work durably (the journal row is committed when this returns)."""
        if not task_ids:
            return
        assert self.sched is not None
        self.sched.enqueue_many(
            [(t, b"") for t in task_ids],
            task_class=task_class,
            max_attempts=self.max_attempts,
            backoff_base=self.backoff_base,
            backoff_factor=2.0,
            backoff_cap=self.backoff_cap,
        )
        await self.db(self._persist)

    async def take(self) -> dwc_core.Lease | None:
        """The next task, or None after a short wait (so callers can be cancelled)."""
        assert self.sched is not None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._takers,
            lambda: self.sched.take(lease=self.lease_seconds, timeout=TAKE_WAIT_SECONDS),  # type: ignore[union-attr]
        )

    async def extend(self, lease: dwc_core.Lease) -> None:
        assert self.sched is not None
        self.sched.extend(lease, self.lease_seconds)

    async def ack(self, lease: dwc_core.Lease) -> None:
        assert self.sched is not None
        self.sched.ack(lease)
        await self.db(self._persist)

    async def nack(self, lease: dwc_core.Lease, reason: str) -> Literal["retry", "dead_letter"]:
        assert self.sched is not None
        outcome = self.sched.nack(lease, reason)
        await self.db(self._persist)
        return outcome

    def stats(self) -> dict[str, Any]:
        assert self.sched is not None
        s = self.sched.stats()
        return {
            "pending": s.pending,
            "leased": s.leased,
            "dead_letters": s.dead_letters,
            "retried": s.retried,
            "late": s.late,
        }
