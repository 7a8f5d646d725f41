"""Scheduler benchmark (issue 3): ``python -m bench scheduler [--quick]``.

In one run, against the peer a Python developer would pick:

* throughput: enqueue + take + ack per second, single calls and batch calls (64), with 1
  and 2 threads sharing one scheduler; peer: the heapq scheduler in ``bench/_pyscheduler``
  with the same semantics (its batch calls are loops inside one lock).
* timer lateness: 10,000 one-shot timers per second fire while one thread waits in a
  blocking take; lateness = when the task reached Python minus its run-at time.
* recurring lateness: 100 interval schedules at 100 Hz (10,000 fires/s); peer: APScheduler
  3 (BackgroundScheduler, interval triggers), lateness = submission minus scheduled time.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable

from bench._pyscheduler import PyScheduler
from bench.harness import Row
from dwc_core import Scheduler

BATCH = 64
HEAPQ = "heapq (pure Python)"


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


# ---- throughput -------------------------------------------------------------------------


def _single(sched, ids: list[str]) -> None:
    # A pipeline with a shallow queue (what a busy agent sees): enqueue a few, work them.
    for i in range(0, len(ids), BATCH):
        chunk = ids[i : i + BATCH]
        for tid in chunk:
            sched.enqueue(tid, b"x")
        for _ in chunk:
            lease = sched.take()
            if lease is not None:
                sched.ack(lease)


def _batched(sched, ids: list[str]) -> None:
    for i in range(0, len(ids), BATCH):
        chunk = ids[i : i + BATCH]
        sched.enqueue_many([(tid, b"x") for tid in chunk])
        sched.ack_many(sched.take_many(len(chunk)))


def _throughput(make: Callable[[], object], work, n: int, threads: int, rounds: int) -> float:
    """Median tasks/s over ``rounds``; each thread handles n // threads tasks."""
    rates = []
    for r in range(rounds):
        sched = make()
        per = n // threads
        shares = [[f"r{r}-w{w}-{i}" for i in range(per)] for w in range(threads)]
        workers = [threading.Thread(target=work, args=(sched, s)) for s in shares]
        t0 = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        rates.append(per * threads / (time.perf_counter() - t0))
        while len(sched):  # type: ignore[arg-type]  # another thread took some of ours
            sched.ack_many(sched.take_many(BATCH))  # type: ignore[attr-defined]
    return statistics.median(rates)


# ---- lateness -----------------------------------------------------------------------------


def _timer_lateness(sched, n: int, rate: float, enqueue) -> list[float]:
    start = time.time() + 0.3
    enqueue(sched, [(f"timer-{i}", start + i / rate) for i in range(n)])
    late: list[float] = []
    while len(late) < n:
        leases = sched.take_many(256, timeout=1.0)
        now = time.time()
        late.extend(now - x.run_at for x in leases)
        sched.ack_many(leases)
    return late


def _dwc_timers(sched: Scheduler, items) -> None:
    for i in range(0, len(items), 1000):
        sched.enqueue_many([{"task_id": tid, "run_at": at} for tid, at in items[i : i + 1000]])


def _py_timers(sched: PyScheduler, items) -> None:
    sched.enqueue_timers(items)


def _recurring_dwc(jobs: int, every: float, seconds: float) -> tuple[list[float], int]:
    sched = Scheduler()
    start = time.time() + 0.2
    for j in range(jobs):
        sched.add_schedule(
            f"job{j}", every=every, start_at=start + j * every / jobs, misfire="catch_up"
        )
    late: list[float] = []
    end = start + seconds
    while time.time() < end:
        leases = sched.take_many(256, timeout=0.1)
        now = time.time()
        late.extend(now - x.run_at for x in leases)
        sched.ack_many(leases)
    return late, len(late)


def _recurring_apscheduler(jobs: int, every: float, seconds: float) -> tuple[list[float], int]:
    from datetime import UTC, datetime

    from apscheduler.events import EVENT_JOB_SUBMITTED
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    late: list[float] = []
    lock = threading.Lock()

    def on_submit(event) -> None:
        now = time.time()
        with lock:
            late.extend(now - t.timestamp() for t in event.scheduled_run_times)

    sched = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(4)},
        job_defaults={"coalesce": False, "misfire_grace_time": None, "max_instances": 1000},
        timezone=UTC,
    )
    sched.add_listener(on_submit, EVENT_JOB_SUBMITTED)
    start = time.time() + 0.5
    for j in range(jobs):
        first = datetime.fromtimestamp(start + j * every / jobs, tz=UTC)
        sched.add_job(lambda: None, "interval", seconds=every, start_date=first, id=f"job{j}")
    sched.start()
    time.sleep(start - time.time() + seconds)
    sched.shutdown(wait=False)
    with lock:
        return list(late), len(late)


# ---- the run ------------------------------------------------------------------------------


def run(quick: bool) -> list[Row]:
    n = 20_000 if quick else 100_000
    rounds = 1 if quick else 3
    rows: list[Row] = []
    for threads in (1, 2):
        for label, work, target in (
            ("single calls", _single, None),
            ("batch calls", _batched, 10.0),
        ):
            dwc = _throughput(Scheduler, work, n, threads, rounds)
            peer = _throughput(PyScheduler, work, n // 4, threads, rounds)
            rows.append(
                Row(
                    f"enqueue+take+ack, {label}, {threads} thread(s)",
                    "throughput",
                    dwc,
                    HEAPQ,
                    peer,
                    target,
                    "tasks/s",
                )
            )
        if threads == 1:
            # The target compares DWC's batch calls with the peer's single calls too.
            dwc_b = rows[-1].value
            peer_s = rows[-2].peer_value
            rows.append(
                Row(
                    "enqueue+take+ack, dwc batch vs peer single, 1 thread",
                    "throughput",
                    dwc_b,
                    HEAPQ + ", single calls",
                    peer_s,
                    10.0,
                    "tasks/s",
                )
            )

    timers = 5_000 if quick else 30_000
    rate = 10_000.0
    dwc_late = _timer_lateness(Scheduler(), timers, rate, _dwc_timers)
    py_late = _timer_lateness(PyScheduler(), timers, rate, _py_timers)
    for q, label, target in ((0.5, "p50", None), (0.99, "p99", 2.0)):
        rows.append(
            Row(
                f"timer lateness {label}, {rate:,.0f} timers/s",
                "latency",
                _pct(dwc_late, q) * 1e3,
                HEAPQ,
                _pct(py_late, q) * 1e3,
                target,
                "ms (target: absolute p99 < 2 ms)",
            )
        )

    jobs, every, seconds = 100, 0.01, (1.0 if quick else 3.0)
    dwc_rec, dwc_fires = _recurring_dwc(jobs, every, seconds)
    aps_rec, aps_fires = _recurring_apscheduler(jobs, every, seconds)
    for q, label, target in ((0.5, "p50", None), (0.99, "p99", 2.0)):
        rows.append(
            Row(
                f"recurring lateness {label}, {jobs} interval jobs x {1 / every:.0f} Hz",
                "latency",
                _pct(dwc_rec, q) * 1e3,
                "APScheduler 3.11",
                _pct(aps_rec, q) * 1e3,
                target,
                "ms (target: absolute p99 < 2 ms)",
            )
        )
    rows.append(
        Row(
            f"recurring fires delivered per second (asked: {jobs / every:,.0f})",
            "throughput",
            dwc_fires / seconds,
            "APScheduler 3.11",
            aps_fires / seconds,
            None,
            "fires/s",
        )
    )
    return rows
