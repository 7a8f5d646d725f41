"""agent/workflow/engine.py: restarts. An in-memory committer stands in for the store (a
key commits once, like step_results' primary key); "crashes" stop the agent between an
outcome and its commit, or between a commit and the next step. Whatever the crash
points, no committed step runs again or is committed twice, and none is lost."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from agent.workflow import (
    Document,
    Engine,
    Outcome,
    Registry,
    Status,
    StepRecord,
    Workflow,
    parse_workflow,
)

SPEC = """
name: crashy
version: 1.0.0
steps:
  - {id: extract, type: extract}
  - {id: a, type: probe, with: {out: {label: invoice}}}
  - {id: flaky, type: probe, retries: 3, with: {fail: 1}}
  - {id: skipme, type: probe, when: 'a.label == "memo"'}
  - {id: chained, type: probe}
  - {id: pii, type: redact, needs: [extract]}
  - {id: ask, type: ai.summarize, needs: [pii], with: {input_from: {text: pii.text}}}
  - {id: after_ask, type: probe, needs: [ask, a]}
  - {id: bad, type: probe, needs: [a], with: {permanent: true}, on_failure: 'route:recover'}
  - {id: recover, type: probe}
  - {id: join, type: probe, needs: [after_ask, chained, flaky]}
"""
DOC = Document("in.txt", b"contact x@example.org about invoice 7")
ENGINE = Engine(retry_delay=0)


class Committer:
    """The store: each key is committed once; a second commit is a bug."""

    def __init__(self) -> None:
        self.records: dict[str, StepRecord] = {}
        self.log: list[str] = []

    def commit(self, outcome: Outcome) -> None:
        assert outcome.key not in self.records, f"{outcome.key} committed twice"
        self.records[outcome.key] = StepRecord(
            outcome.status, json.loads(json.dumps(outcome.output))
        )
        self.log.append(outcome.key)

    def deliver_job_results(self) -> None:
        """The coordinator's results for every outstanding job."""
        for key in list(self.records):
            step = key.removesuffix(".request")
            if key.endswith(".request") and step not in self.records:
                self.records[step] = StepRecord(Status.OK, {"summary": "ok"})
                self.log.append(step)


async def life(
    workflow: Workflow, store: Committer, probe: Any, crash_at: int | None, before_commit: bool
) -> bool:
    """One life of the agent; returns False if it crashed. Checks that nothing
    committed before this life runs during it."""
    committed_before = set(store.records)
    ran_before = len(probe.order)
    crashed = False
    n = 0
    async for outcome in ENGINE.run(workflow, DOC, dict(store.records)):
        n += 1
        if n == crash_at and before_commit:
            crashed = True
            break  # killed after computing the outcome, before committing it
        store.commit(outcome)
        if n == crash_at:
            crashed = True
            break  # killed right after the commit
    ran = set(probe.order[ran_before:])
    assert not ran & committed_before, f"committed steps ran again: {ran & committed_before}"
    return not crashed


async def run_to_end(
    workflow: Workflow, probe: Any, crashes: list[tuple[int, bool]], deliver_every_life: bool
) -> Committer:
    store = Committer()
    schedule = list(crashes)
    for _ in range(100):
        crash_at, before = schedule.pop(0) if schedule else (None, False)
        finished = await life(workflow, store, probe, crash_at, before)
        if deliver_every_life or finished:
            store.deliver_job_results()
        state = ENGINE.status(workflow, store.records).state
        if finished and state in ("succeeded", "failed"):
            return store
    raise AssertionError("the run never finished")


@pytest.fixture
def workflow(registry: Registry) -> Workflow:
    return parse_workflow(SPEC, registry=registry)


def outcome_of(store: Committer) -> dict[str, str]:
    return {k: r.status.value for k, r in store.records.items()}


async def test_reference_run(workflow: Workflow, probe: Any) -> None:
    store = await run_to_end(workflow, probe, [], deliver_every_life=True)
    assert outcome_of(store) == {
        "extract": "ok",
        "a": "ok",
        "flaky": "ok",
        "skipme": "skipped",
        "chained": "skipped",
        "pii": "ok",
        "ask.request": "waiting",
        "ask": "ok",
        "bad": "failed",
        "recover": "ok",
        "after_ask": "ok",
        "join": "ok",
    }
    assert ENGINE.status(workflow, store.records).state == "succeeded"


@pytest.mark.parametrize("before_commit", [True, False], ids=["before-commit", "after-commit"])
async def test_one_crash_at_every_point(
    workflow: Workflow, probe: Any, before_commit: bool
) -> None:
    reference = outcome_of(await run_to_end(workflow, probe, [], deliver_every_life=True))
    for crash_at in range(1, len(reference) + 1):
        store = await run_to_end(
            workflow, probe, [(crash_at, before_commit)], deliver_every_life=False
        )
        assert outcome_of(store) == reference, f"crash at outcome {crash_at}"
        assert len(store.log) == len(set(store.log)) == len(reference)


async def test_many_random_crashes(workflow: Workflow, probe: Any) -> None:
    reference = outcome_of(await run_to_end(workflow, probe, [], deliver_every_life=True))
    for seed in range(40):
        rng = random.Random(seed)
        crashes = [(rng.randint(1, 4), rng.random() < 0.5) for _ in range(rng.randint(1, 8))]
        store = await run_to_end(workflow, probe, crashes, deliver_every_life=rng.random() < 0.5)
        assert outcome_of(store) == reference, f"seed {seed}: {crashes}"


async def test_resume_starts_at_the_first_uncommitted_step(workflow: Workflow, probe: Any) -> None:
    committed = {
        "extract": {"text": "already extracted", "chars": 17, "media_type": "text/plain"},
        "a": {"label": "invoice"},
    }
    run = ENGINE.run(workflow, DOC, committed)
    assert run.next_steps()[0] == "flaky"
    first = await anext(aiter(run))
    assert first.step == "flaky"
    assert "extract" not in probe.calls
    assert "a" not in probe.calls


async def test_a_job_request_is_never_issued_twice(workflow: Workflow, probe: Any) -> None:
    store = Committer()
    while ENGINE.status(workflow, store.records).state == "running":
        await life(workflow, store, probe, crash_at=1, before_commit=False)
    assert ENGINE.status(workflow, store.records).state == "waiting"
    assert store.log.count("ask.request") == 1
    # restarting while the job is out issues nothing new for it
    assert await life(workflow, store, probe, None, False)
    assert store.log.count("ask.request") == 1
    store.deliver_job_results()
    assert await life(workflow, store, probe, None, False)
    assert ENGINE.status(workflow, store.records).state == "succeeded"
