"""dwc_core.Scheduler through the binding: behaviour, bad input, threads, durability.

Time is a ManualClock wherever behaviour depends on it, so nothing here asserts on wall
time; the blocking-take tests only check that waiting threads get their tasks.
"""

from __future__ import annotations

import math
import subprocess
import sys
import threading

import pytest

from dwc_core import (
    DuplicateTaskError,
    DwcCoreError,
    Lease,
    LeaseError,
    ManualClock,
    Scheduler,
    SnapshotError,
)

T0 = 1_704_067_200.0  # 2024-01-01T00:00:00Z


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def sched(clock: ManualClock) -> Scheduler:
    return Scheduler(clock=clock, seed=1)


def ids(leases: list[Lease]) -> list[str]:
    return [lease.task_id for lease in leases]


# ---- behaviour -------------------------------------------------------------------------


def test_order_is_priority_then_run_at_then_fifo(sched: Scheduler, clock: ManualClock) -> None:
    sched.enqueue("low", priority="low")
    sched.enqueue("n1")
    sched.enqueue("n-early", run_at=T0 - 5)
    sched.enqueue("n2")
    sched.enqueue("crit", priority="critical")
    sched.enqueue("high", priority="high")
    sched.enqueue("later", priority="critical", delay=2.0)
    assert ids(sched.take_many(10)) == ["crit", "high", "n-early", "n1", "n2", "low"]
    assert sched.take() is None
    clock.advance(2.0)
    lease = sched.take()
    assert lease is not None
    assert (lease.task_id, lease.priority, lease.run_at) == ("later", "critical", T0 + 2)


def test_lease_fields_and_ack(sched: Scheduler) -> None:
    sched.enqueue("a", b"payload", deadline_in=10.0, task_class="io", max_attempts=3)
    lease = sched.take(lease=5.0)
    assert lease is not None
    assert lease.payload == b"payload"
    assert (lease.attempt, lease.max_attempts, lease.task_class) == (1, 3, "io")
    assert (lease.expires_at, lease.deadline, lease.late) == (T0 + 5, T0 + 10, False)
    assert sched.status("a") == "leased"
    sched.ack(lease)
    assert sched.status("a") is None
    assert len(sched) == 0
    with pytest.raises(LeaseError, match=rf"lease {lease.lease_id} is unknown"):
        sched.ack(lease.lease_id)


def test_expired_lease_redelivers_and_ack_raises_key_error(
    sched: Scheduler, clock: ManualClock
) -> None:
    sched.enqueue("a")
    first = sched.take(lease=10.0)
    assert first is not None
    clock.advance(10.0)
    second = sched.take()
    assert second is not None
    assert (second.task_id, second.attempt) == ("a", 2)
    with pytest.raises(KeyError, match=r'lease 1 on task "a" expired'):
        sched.ack(first)
    sched.ack(second)
    assert sched.stats().expired == 1


def test_nack_backoff_then_dead_letter_and_requeue(sched: Scheduler, clock: ManualClock) -> None:
    sched.enqueue("a", max_attempts=2, backoff_base=4.0, backoff_jitter=0.0)
    lease = sched.take()
    assert lease is not None
    assert sched.nack(lease, "flaky") == "retry"
    clock.advance(3.9)
    assert sched.take() is None
    clock.advance(0.1)
    lease = sched.take()
    assert lease is not None
    assert lease.last_error == "flaky"
    assert sched.nack(lease, "still broken") == "dead_letter"
    [dead] = sched.dead_letters()
    assert (dead.task_id, dead.attempts, dead.last_error) == ("a", 2, "still broken")
    with pytest.raises(DuplicateTaskError):
        sched.enqueue("a")
    sched.requeue_dead_letter("a")
    assert sched.status("a") == "pending"
    with pytest.raises(KeyError, match="not in the dead-letter set"):
        sched.requeue_dead_letter("a")
    stats = sched.stats()
    assert (stats.retried, stats.dead_lettered, stats.pending) == (1, 1, 1)


def test_nack_retry_after_and_permanent(sched: Scheduler, clock: ManualClock) -> None:
    sched.enqueue_many([("a", b""), ("b", b"")])
    a, b = sched.take_many(2)
    assert sched.nack(a, retry_after=60.0) == "retry"
    assert sched.nack(b, "bad input", dead_letter=True) == "dead_letter"
    clock.advance(59.0)
    assert sched.take() is None
    clock.advance(1.0)
    assert ids(sched.take_many(5)) == ["a"]


def test_deadline_passed_is_marked_late(sched: Scheduler, clock: ManualClock) -> None:
    sched.enqueue("a", deadline=T0 + 1)
    clock.advance(2.0)
    assert sched.stats().overdue == 1
    lease = sched.take()
    assert lease is not None
    assert lease.late
    assert sched.stats().late == 1


def test_dedup_refuse_and_merge(sched: Scheduler) -> None:
    sched.enqueue("a", b"v1", dedup_key="doc-1")
    with pytest.raises(DuplicateTaskError, match=r'dedup_key="doc-1" is held by live task "a"'):
        sched.enqueue("b", b"v2", dedup_key="doc-1")
    assert sched.enqueue("b", b"v2", dedup_key="doc-1", on_duplicate="merge") == "a"
    lease = sched.take()
    assert lease is not None
    assert lease.payload == b"v2"
    # Merging into a leased task: it runs once more after this lease ends.
    assert sched.enqueue("c", b"v3", dedup_key="doc-1", on_duplicate="merge") == "a"
    sched.ack(lease)
    again = sched.take()
    assert again is not None
    assert (again.task_id, again.payload) == ("a", b"v3")


def test_class_limits(clock: ManualClock) -> None:
    sched = Scheduler(clock=clock, class_limits={"gpu": 1})
    sched.enqueue_many([("g1", b""), ("g2", b"")], task_class="gpu", priority="critical")
    sched.enqueue("cpu", priority="low")
    got = sched.take_many(10)
    assert ids(got) == ["g1", "cpu"]
    assert sched.take() is None
    sched.set_class_limit("gpu", 2)
    assert ids(sched.take_many(10)) == ["g2"]
    assert sched.class_limits() == {"gpu": 2}
    assert sched.stats().leased_by_class == {"gpu": 2, "default": 1}


def test_cancel_and_extend(sched: Scheduler, clock: ManualClock) -> None:
    sched.enqueue("a")
    sched.enqueue("b")
    a = sched.take(lease=10.0)
    assert sched.cancel("a")
    assert not sched.cancel("a")
    with pytest.raises(LeaseError):
        sched.ack(a)  # type: ignore[arg-type]
    b = sched.take(lease=10.0)
    assert b is not None
    clock.advance(9.0)
    assert sched.extend(b, 30.0) == T0 + 39
    clock.advance(20.0)
    sched.ack(b)


def test_enqueue_many_with_dict_items_is_all_or_nothing(sched: Scheduler) -> None:
    sched.enqueue("x")
    with pytest.raises(DuplicateTaskError, match=r'tasks\[1\]: task id "x"'):
        sched.enqueue_many([("a", b""), ("x", b""), ("c", b"")])
    assert len(sched) == 1
    out = sched.enqueue_many(
        [("a", b"1"), {"task_id": "b", "payload": b"2", "priority": "high", "delay": 5.0}],
        priority="low",
    )
    assert out == ["a", "b"]
    got = sched.take_many(5)
    assert ids(got) == ["x", "a"]
    assert got[1].priority == "low"


def test_ack_many_acks_what_it_can(sched: Scheduler) -> None:
    sched.enqueue_many([(f"t{i}", b"") for i in range(5)])
    leases = sched.take_many(5)
    assert sched.ack_many(leases[:2]) == 2
    with pytest.raises(LeaseError, match="1 of 3 leases not acked"):
        sched.ack_many([*leases[2:4], 999])
    sched.ack_many([leases[4].lease_id])
    assert len(sched) == 0


def test_interval_schedule_and_misfire(sched: Scheduler, clock: ManualClock) -> None:
    first = sched.add_schedule("poll", every=10.0, payload=b"p", deadline_after=1.0)
    assert first == T0 + 10
    assert sched.preview("poll", 3) == [T0 + 10, T0 + 20, T0 + 30]
    clock.advance(10.0)
    lease = sched.take()
    assert lease is not None
    assert (lease.schedule, lease.run_at, lease.payload) == ("poll", T0 + 10, b"p")
    assert lease.task_id == f"poll@{int((T0 + 10) * 1e6)}"
    sched.ack(lease)
    clock.advance(95.0)  # fires at +20..+100 are over 1 s late: run_once makes them one
    [late] = sched.take_many(100)
    assert late.run_at == T0 + 100
    assert sched.stats().misfires == 1
    with pytest.raises(DuplicateTaskError):
        sched.add_schedule("poll", every=10.0)
    assert sched.remove_schedule("poll")
    assert sched.schedules() == []


def test_cron_schedule_with_seconds_and_time_zone(sched: Scheduler, clock: ManualClock) -> None:
    assert Scheduler.preview_cron("0 9 * * *", 2, timezone="Europe/Berlin", after=T0) == [
        T0 + 8 * 3600,
        T0 + 32 * 3600,
    ]
    sched.add_schedule("fast", cron="*/15 * * * * *", misfire="catch_up")
    clock.advance(60.0)
    assert len(sched.take_many(10)) == 4


# ---- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"priority": "urgent"}, r'priority="urgent" is not one of'),
        ({"delay": -1.0}, r"delay=-1 must be >= 0"),
        ({"delay": math.nan}, r"delay=nan is not a number"),
        ({"delay": 1e12}, r"delay=1000000000000 is over the 10-year limit"),
        ({"run_at": -5.0}, r"run_at=-5 is not a Unix time"),
        ({"run_at": 1.0, "delay": 1.0}, r"run_at or delay, not both"),
        ({"max_attempts": 0}, r"max_attempts=0 must be at least 1"),
        ({"backoff_factor": 0.5}, r"backoff_factor=0.5 must be in"),
        ({"backoff_jitter": 2.0}, r"backoff_jitter=2 must be in"),
        ({"on_duplicate": "ignore"}, r"on_duplicate=\"ignore\" is not"),
        ({"task_class": ""}, r"task_class='' must not be empty"),
    ],
)
def test_bad_enqueue_arguments_name_the_field(
    sched: Scheduler, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        sched.enqueue("a", **kwargs)  # type: ignore[arg-type]
    assert len(sched) == 0


def test_oversized_payload(clock: ManualClock) -> None:
    sched = Scheduler(clock=clock, max_payload=8)
    with pytest.raises(ValueError, match=r'payload of task "a" is 9 bytes, over max_payload=8'):
        sched.enqueue("a", b"123456789")
    with pytest.raises(ValueError, match="max_payload"):
        Scheduler(max_payload=1 << 40)
    with pytest.raises(TypeError, match="payload must be bytes"):
        sched.enqueue("a", "text")  # type: ignore[arg-type]


def test_bad_cron_and_schedule_arguments(sched: Scheduler) -> None:
    with pytest.raises(ValueError, match=r'invalid cron expression "61 \* \* \* \*"'):
        sched.add_schedule("x", cron="61 * * * *")
    with pytest.raises(ValueError, match=r'timezone="Mars/Base" is not a known'):
        sched.add_schedule("x", cron="* * * * *", timezone="Mars/Base")
    with pytest.raises(ValueError, match="exactly one of cron= or every="):
        sched.add_schedule("x")
    with pytest.raises(ValueError, match=r"every=0s must be at least"):
        sched.add_schedule("x", every=0.0)
    with pytest.raises(ValueError, match=r"misfire=\"never\""):
        sched.add_schedule("x", every=1.0, misfire="never")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="it never fires"):
        sched.add_schedule("x", cron="0 0 31 2 *")
    with pytest.raises(KeyError, match='no schedule named "x"'):
        sched.preview("x")
    with pytest.raises(ValueError, match="invalid cron expression"):
        Scheduler.preview_cron("not a cron")


def test_bad_take_and_lease_arguments(sched: Scheduler) -> None:
    with pytest.raises(ValueError, match=r"lease=0 must be > 0"):
        sched.take(lease=0.0)
    with pytest.raises(ValueError, match=r"lease=-1 must be >= 0"):
        sched.take_many(1, lease=-1.0)
    with pytest.raises(ValueError, match=r"max_tasks=0"):
        sched.take_many(0)
    with pytest.raises(ValueError, match=r"timeout=nan"):
        sched.take(timeout=math.nan)
    with pytest.raises(LeaseError, match="lease 42 is unknown"):
        sched.nack(42)
    with pytest.raises(TypeError, match="lease must be a Lease or a lease id"):
        sched.ack("42")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"seconds=-1 must"):
        sched.extend(1, -1.0)


def test_errors_share_the_dwc_core_base() -> None:
    assert issubclass(LeaseError, DwcCoreError)
    assert issubclass(LeaseError, KeyError)
    assert issubclass(SnapshotError, ValueError)
    assert issubclass(DuplicateTaskError, DwcCoreError)


def test_a_rust_panic_is_an_exception_not_an_abort(sched: Scheduler) -> None:
    from dwc_core import _native

    with pytest.raises(BaseException, match="deliberate") as info:
        _native._panic_for_tests("deliberate")
    assert type(info.value).__name__ == "PanicException"
    sched.enqueue("still-works")
    assert sched.take() is not None


def test_a_rust_panic_does_not_kill_the_process() -> None:
    code = (
        "from dwc_core import _native\n"
        "try:\n"
        "    _native._panic_for_tests('boom')\n"
        "except BaseException as e:\n"
        "    print('survived', type(e).__name__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "survived PanicException"


# ---- durability --------------------------------------------------------------------------


def test_snapshot_restore_releases_leases(sched: Scheduler, clock: ManualClock) -> None:
    sched.enqueue_many([(f"t{i}", bytes([i])) for i in range(4)])
    sched.add_schedule("poll", every=30.0)
    leases = sched.take_many(2)
    sched.ack(leases[0])
    snap = sched.snapshot()
    restored = Scheduler.restore(snap, clock=clock)
    assert len(restored) == 3
    assert restored.stats().leased == 0
    assert restored.schedules() == ["poll"]
    again = restored.take_many(10)
    assert ids(again) == ["t1", "t2", "t3"]
    assert again[0].attempt == 2
    assert [x.payload for x in again] == [b"\x01", b"\x02", b"\x03"]


def test_journal_restore_and_gap_detection(clock: ManualClock) -> None:
    sched = Scheduler(clock=clock, journal=True)
    chunks = []
    sched.enqueue_many([(f"t{i}", b"") for i in range(3)])
    chunks.append(sched.drain_journal())
    lease = sched.take()
    assert lease is not None
    sched.ack(lease)
    chunks.append(sched.drain_journal())
    assert sched.drain_journal() == b""
    restored = Scheduler.restore(None, reversed(chunks), clock=clock)
    assert ids(restored.take_many(10)) == ["t1", "t2"]
    with pytest.raises(SnapshotError, match="gap"):
        Scheduler.restore(None, chunks[1:], clock=clock)
    with pytest.raises(SnapshotError, match="magic"):
        Scheduler.restore(b"garbage", clock=clock)
    with pytest.raises(ValueError, match="ends inside an event"):
        Scheduler.restore(None, [b"DWCJ\xff\xff\xff\xff"], clock=clock)


# ---- threads -----------------------------------------------------------------------------


def test_blocking_take_returns_when_work_arrives() -> None:
    sched = Scheduler()
    got: list[Lease] = []
    waiter = threading.Thread(target=lambda: got.extend(sched.take_many(1, timeout=30.0)))
    waiter.start()
    sched.enqueue("a")
    waiter.join(timeout=30.0)
    assert not waiter.is_alive()
    assert ids(got) == ["a"]
    assert sched.take(timeout=0.01) is None


def test_many_threads_take_ack_while_others_enqueue() -> None:
    producers, consumers, per = 3, 3, 1000
    sched = Scheduler(class_limits={"capped": 2})
    acked: list[str] = []
    lock = threading.Lock()
    total = producers * per
    errors: list[BaseException] = []

    def produce(p: int) -> None:
        for start in range(0, per, 100):
            sched.enqueue_many(
                [(f"p{p}-{i}", b"x") for i in range(start, start + 100)],
                task_class="capped" if p == 0 else "default",
            )

    def consume() -> None:
        try:
            while True:
                with lock:
                    if len(acked) >= total:
                        return
                # Blocks with the GIL released, so producers keep running meanwhile.
                leases = sched.take_many(16, timeout=0.05)
                sched.ack_many(leases)
                with lock:
                    acked.extend(x.task_id for x in leases)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=consume) for _ in range(consumers)]
    threads += [threading.Thread(target=produce, args=(p,)) for p in range(producers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60.0)
    assert not any(t.is_alive() for t in threads), "threads did not finish"
    assert errors == []
    assert sorted(acked) == sorted(f"p{p}-{i}" for p in range(producers) for i in range(per))
    assert len(sched) == 0
