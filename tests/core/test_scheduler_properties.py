"""Hypothesis tests through the binding: a state machine drives a Scheduler and a small
pure-Python model side by side and checks that they agree on every step."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from dwc_core import Lease, LeaseError, ManualClock, Scheduler

PRIORITIES = ["low", "normal", "high", "critical"]
RANK = {p: i for i, p in enumerate(PRIORITIES)}
T0 = 1_704_067_200.0


class SchedulerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(T0)
        self.sched = Scheduler(clock=self.clock, journal=True)
        self.chunks: list[bytes] = []
        self.n = 0
        # Model: task id -> (priority rank, run_at, seq); tasks not leased and not dead.
        self.pending: dict[str, tuple[int, float, int]] = {}
        self.leased: dict[int, tuple[str, float, tuple[int, float, int]]] = {}
        self.acked: set[str] = set()

    def now(self) -> float:
        return self.clock.now()

    @rule(priority=st.sampled_from(PRIORITIES), delay=st.sampled_from([0.0, 0.5, 2.0]))
    def enqueue(self, priority: str, delay: float) -> None:
        task_id = f"t{self.n}"
        # jitter 0 and one attempt keep the model simple: a nack dead-letters.
        self.sched.enqueue(task_id, priority=priority, delay=delay, max_attempts=1)
        self.pending[task_id] = (RANK[priority], self.now() + delay, self.n)
        self.n += 1

    @rule(n=st.integers(1, 4), lease=st.sampled_from([0.5, 5.0]))
    def take(self, n: int, lease: float) -> None:
        got: list[Lease] = self.sched.take_many(n, lease=lease)
        now = self.now()
        ready = sorted(
            (k for k in self.pending.items() if k[1][1] <= now + 1e-6),
            key=lambda kv: (-kv[1][0], kv[1][1], kv[1][2]),
        )
        assert [x.task_id for x in got] == [k for k, _ in ready[: len(got)]]
        assert len(got) == min(n, len(ready))
        for lease_obj in got:
            key = self.pending.pop(lease_obj.task_id)
            self.leased[lease_obj.lease_id] = (lease_obj.task_id, lease_obj.expires_at, key)

    @precondition(lambda self: self.leased)
    @rule(data=st.data())
    def ack(self, data: st.DataObject) -> None:
        lease_id = data.draw(st.sampled_from(sorted(self.leased)))
        task_id, expires_at, _ = self.leased.pop(lease_id)
        if expires_at > self.now():
            self.sched.ack(lease_id)
            self.acked.add(task_id)
        else:
            try:
                self.sched.ack(lease_id)
            except LeaseError:
                pass
            else:
                raise AssertionError("ack of an expired lease succeeded")

    @precondition(lambda self: self.leased)
    @rule(data=st.data())
    def nack(self, data: st.DataObject) -> None:
        lease_id = data.draw(st.sampled_from(sorted(self.leased)))
        task_id, expires_at, _ = self.leased.pop(lease_id)
        if expires_at > self.now():
            assert self.sched.nack(lease_id, "x") == "dead_letter"
            self.acked.add(task_id)  # gone from the queue for good

    @rule(seconds=st.sampled_from([0.25, 1.0, 3.0]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        now = self.now()
        for lease_id, (task_id, expires_at, _) in list(self.leased.items()):
            if expires_at <= now:
                # max_attempts=1: an expired lease on the only attempt dead-letters.
                del self.leased[lease_id]
                self.acked.add(task_id)

    @rule()
    def drain(self) -> None:
        self.chunks.append(self.sched.drain_journal())

    @invariant()
    def depth_matches(self) -> None:
        s = self.sched.stats()
        assert s.pending == len(self.pending)
        assert s.leased == len([1 for _, e, _ in self.leased.values() if e > self.now()])

    def teardown(self) -> None:
        self.chunks.append(self.sched.drain_journal())
        restored = Scheduler.restore(None, self.chunks, clock=self.clock)
        expected = set(self.pending) | {t for t, e, _ in self.leased.values() if e > self.now()}
        got = {t for t in expected if restored.status(t) == "pending"}
        assert got == expected
        assert restored.stats().pending == len(expected)


SchedulerMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None
)
test_scheduler_state_machine = SchedulerMachine.TestCase
