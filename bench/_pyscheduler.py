"""The pure-Python peer for bench/scheduler.py: a scheduler with the same semantics as
``dwc_core.Scheduler``'s core (priorities, run-at times, FIFO, leases that expire,
ack/nack with exponential backoff and jitter, dead letters, interval schedules, a
blocking take) built on ``heapq`` and ``threading.Condition``, written the way a careful
Python developer would. It is a benchmark peer, not part of DWC."""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
from dataclasses import dataclass, field

RANK = {"low": 0, "normal": 1, "high": 2, "critical": 3}


@dataclass(slots=True)
class _Task:
    task_id: str
    payload: bytes
    priority: int
    run_at: float
    seq: int
    max_attempts: int
    backoff: tuple[float, float, float, float]
    attempts: int = 0
    lease_id: int | None = None
    dead: bool = False
    schedule: str | None = None


@dataclass(slots=True, frozen=True)
class PyLease:
    lease_id: int
    task_id: str
    payload: bytes
    attempt: int
    run_at: float
    expires_at: float


@dataclass(slots=True)
class _Schedule:
    every: float
    next_fire: float
    template: dict[str, object] = field(default_factory=dict)


class PyScheduler:
    def __init__(self, clock=time.time) -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self._tasks: dict[str, _Task] = {}
        self._ready: list[tuple[int, float, int, str]] = []  # (-priority, run_at, seq, id)
        self._delayed: list[tuple[float, int, str]] = []  # (run_at, seq, id)
        self._leases: dict[int, tuple[str, float]] = {}
        self._expiry: list[tuple[float, int]] = []
        self._schedules: dict[str, _Schedule] = {}
        self._seq = itertools.count(1)
        self._lease_ids = itertools.count(1)
        self._rng = random.Random(1)

    # -- enqueue ---------------------------------------------------------------------
    def _add(self, task_id, payload, priority, run_at, max_attempts, backoff, now, schedule=None):
        if task_id in self._tasks:
            raise ValueError(f"task id {task_id!r} is already queued")
        t = _Task(task_id, payload, RANK[priority], run_at, next(self._seq), max_attempts, backoff)
        t.schedule = schedule
        self._tasks[task_id] = t
        self._place(t, now)

    def _place(self, t: _Task, now: float) -> None:
        if t.run_at <= now:
            heapq.heappush(self._ready, (-t.priority, t.run_at, t.seq, t.task_id))
        else:
            heapq.heappush(self._delayed, (t.run_at, t.seq, t.task_id))

    def enqueue(
        self,
        task_id: str,
        payload: bytes = b"",
        *,
        priority: str = "normal",
        run_at: float | None = None,
        delay: float | None = None,
        max_attempts: int = 5,
        backoff: tuple[float, float, float, float] = (1.0, 2.0, 300.0, 0.2),
    ) -> str:
        with self._cond:
            now = self._clock()
            at = run_at if run_at is not None else now + (delay or 0.0)
            self._add(task_id, payload, priority, at, max_attempts, backoff, now)
            self._cond.notify_all()
        return task_id

    def enqueue_many(self, items, *, priority: str = "normal", run_at: float | None = None):
        with self._cond:
            now = self._clock()
            at = run_at if run_at is not None else now
            ids = [tid for tid, _ in items]
            if len(set(ids)) != len(ids) or any(i in self._tasks for i in ids):
                raise ValueError("duplicate task id in batch")
            for tid, payload in items:
                self._add(tid, payload, priority, at, 5, (1.0, 2.0, 300.0, 0.2), now)
            self._cond.notify_all()
        return ids

    def enqueue_timers(self, items):
        """(task_id, run_at) pairs, for the lateness benchmark."""
        with self._cond:
            now = self._clock()
            for tid, at in items:
                self._add(tid, b"", "normal", at, 5, (1.0, 2.0, 300.0, 0.2), now)
            self._cond.notify_all()

    # -- time passing ----------------------------------------------------------------
    def _tick(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            _, lease_id = heapq.heappop(self._expiry)
            held = self._leases.pop(lease_id, None)
            if held is None:
                continue
            t = self._tasks.get(held[0])
            if t is not None and t.lease_id == lease_id:
                t.lease_id = None
                if t.attempts >= t.max_attempts:
                    t.dead = True
                else:
                    self._place(t, now)
        for name, s in self._schedules.items():
            while s.next_fire <= now:
                self._add(
                    f"{name}@{s.next_fire!r}",
                    b"",
                    "normal",
                    s.next_fire,
                    5,
                    (1.0, 2.0, 300.0, 0.2),
                    now,
                    schedule=name,
                )
                s.next_fire += s.every
        while self._delayed and self._delayed[0][0] <= now:
            _, _, tid = heapq.heappop(self._delayed)
            t = self._tasks.get(tid)
            if t is not None:
                heapq.heappush(self._ready, (-t.priority, t.run_at, t.seq, tid))

    def _next_wakeup(self) -> float | None:
        cands = [h[0][0] for h in (self._delayed, self._expiry) if h]
        cands += [s.next_fire for s in self._schedules.values()]
        return min(cands) if cands else None

    # -- leasing ---------------------------------------------------------------------
    def _take(self, n: int, lease: float, now: float) -> list[PyLease]:
        self._tick(now)
        out: list[PyLease] = []
        while self._ready and len(out) < n:
            _, _, seq, tid = heapq.heappop(self._ready)
            t = self._tasks.get(tid)
            if t is None or t.seq != seq or t.lease_id is not None or t.dead:
                continue
            lease_id = next(self._lease_ids)
            t.attempts += 1
            t.lease_id = lease_id
            expires = now + lease
            self._leases[lease_id] = (tid, expires)
            heapq.heappush(self._expiry, (expires, lease_id))
            out.append(PyLease(lease_id, tid, t.payload, t.attempts, t.run_at, expires))
        return out

    def take_many(self, n: int, *, lease: float = 30.0, timeout: float | None = None):
        with self._cond:
            got = self._take(n, lease, self._clock())
            if got or timeout is None:
                return got
            end = time.monotonic() + timeout
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    return []
                wake = self._next_wakeup()
                wait = left if wake is None else min(left, max(wake - self._clock(), 5e-5))
                self._cond.wait(wait)
                got = self._take(n, lease, self._clock())
                if got:
                    return got

    def take(self, *, lease: float = 30.0, timeout: float | None = None):
        got = self.take_many(1, lease=lease, timeout=timeout)
        return got[0] if got else None

    def _settle(self, lease: PyLease | int) -> _Task:
        lease_id = lease if isinstance(lease, int) else lease.lease_id
        held = self._leases.pop(lease_id, None)
        if held is None or held[1] <= self._clock():
            raise KeyError(f"lease {lease_id} is unknown or expired")
        return self._tasks[held[0]]

    def ack(self, lease: PyLease | int) -> None:
        with self._cond:
            t = self._settle(lease)
            del self._tasks[t.task_id]
            self._cond.notify_all()

    def ack_many(self, leases) -> int:
        with self._cond:
            for lease in leases:
                t = self._settle(lease)
                del self._tasks[t.task_id]
            self._cond.notify_all()
        return len(leases)

    def nack(self, lease: PyLease | int, reason: str = "") -> str:
        with self._cond:
            t = self._settle(lease)
            t.lease_id = None
            if t.attempts >= t.max_attempts:
                t.dead = True
                return "dead_letter"
            base, factor, cap, jitter = t.backoff
            delay = min(cap, base * factor ** (t.attempts - 1)) * (1 - jitter * self._rng.random())
            now = self._clock()
            t.run_at = now + delay
            self._place(t, now)
            self._cond.notify_all()
            return "retry"

    def add_schedule(self, name: str, *, every: float, start_at: float | None = None) -> float:
        with self._cond:
            first = start_at if start_at is not None else self._clock() + every
            self._schedules[name] = _Schedule(every, first)
            self._cond.notify_all()
            return first

    def __len__(self) -> int:
        return len(self._tasks)
