"""The workflow engine: runs a validated workflow on one document, one step at a time.

The engine keeps no state of its own and never touches SQLite. A run is described by
the records committed so far (step id -> ``StepRecord``); from them the engine works
out what comes next, and every step it handles comes back to the caller as an
``Outcome`` to commit *before* asking for the next one::

    run = engine.run(workflow, document, committed)
    async for outcome in run:
        await commit(outcome)          # one transaction: outcome.key, outcome.record, job
    run.status                         # running | waiting | succeeded | failed

So it is restartable: after a crash, ``engine.run`` with the records that reached the
store resumes at the first uncommitted step and never runs a committed one again. A
step whose outcome was computed but not committed runs again (at-least-once per step,
exactly-once per committed result).

Order is deterministic: among the steps whose ``needs`` are all settled, the first in
the workflow's run order (topological, ties broken by position in the spec) goes next.
One step runs at a time.

- ``when`` false -> the step is recorded as skipped. So is a step all of whose needs
  were skipped (in a chain a skip carries on down; a join runs if any branch ran, and
  reads null from the skipped ones), and a step that needs a failed one (unless that
  one's ``on_failure`` is ``continue``, or routes to this step).
- A local step runs in a worker thread under its ``timeout``; a timeout or an unexpected
  exception is retried up to ``retries`` times with exponential backoff, an
  ``AgentError`` (bad input, a limit) fails at once. A timed-out thread cannot be
  killed: it runs on in the background and its result is dropped.
- A failed step applies its ``on_failure``: ``fail`` ends the run (failed),
  ``continue`` lets the run go on as if it had finished, ``route:<id>`` runs that
  handler step and skips what depended on the failed one.
- A remote step (``ai.*``, ``chain.*``, ``quantum.*``) comes back as ``waiting`` with a
  ``JobRequest``; commit it under ``outcome.key`` (``<id>.request``) and the job's
  result later under ``<id>``. Meanwhile the run goes on with steps that do not need it.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.errors import AgentError, ExpressionError
from agent.workflow.document import Document
from agent.workflow.spec import Step, Workflow
from agent.workflow.steps.base import Classifier, Resources, StepContext
from agent.workflow.steps.remote import RemoteParams, build_input

__all__ = [
    "REQUEST_SUFFIX",
    "Engine",
    "JobRequest",
    "Outcome",
    "RunStatus",
    "Status",
    "StepRecord",
    "WorkflowRun",
    "records_from",
]

# The key of a committed job request (agent/store.py uses the same convention).
REQUEST_SUFFIX = ".request"


class Status(enum.StrEnum):
    OK = "ok"
    SKIPPED = "skipped"
    FAILED = "failed"
    WAITING = "waiting"


@dataclass(frozen=True)
class StepRecord:
    """What is committed for a step: a status and a JSON-like output. A skipped step's
    output is ``{"reason": ...}``; a failed one's ``{"error": ..., "attempts": n}``."""

    status: Status
    output: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # a status read back from the store is a plain string
        object.__setattr__(self, "status", Status(self.status))


@dataclass(frozen=True)
class JobRequest:
    """A remote step's job: what the caller puts in the outbox."""

    step: str
    type: str
    input: dict[str, Any]
    timeout: float
    retries: int


@dataclass(frozen=True)
class Outcome:
    step: str
    status: Status
    output: dict[str, Any]
    job: JobRequest | None = None
    attempts: int = 0

    @property
    def key(self) -> str:
        """The key to commit under: the step id, or ``<id>.request`` for a job request."""
        return self.step + REQUEST_SUFFIX if self.status is Status.WAITING else self.step

    @property
    def record(self) -> StepRecord:
        return StepRecord(self.status, self.output)

    @property
    def error(self) -> str | None:
        return self.output.get("error") if self.status is Status.FAILED else None


@dataclass(frozen=True)
class RunStatus:
    state: Literal["running", "waiting", "succeeded", "failed"]
    error: str | None = None  # why the run failed
    waiting: tuple[str, ...] = ()  # steps waiting on a job
    failures: tuple[tuple[str, str], ...] = ()  # (step, error) of every failed step


def records_from(
    workflow: Workflow, committed: Mapping[str, StepRecord | Mapping[str, Any]] | None
) -> dict[str, StepRecord]:
    """Normalise committed results: a plain mapping is an ``ok`` output; ``<id>.request``
    without ``<id>`` marks a step waiting on its job. Keys that are no step of the
    workflow are ignored."""
    ids = {s.id for s in workflow.steps}
    out: dict[str, StepRecord] = {}
    for key, value in (committed or {}).items():
        record = value if isinstance(value, StepRecord) else StepRecord(Status.OK, dict(value))
        if key.endswith(REQUEST_SUFFIX):
            sid = key.removesuffix(REQUEST_SUFFIX)
            if sid in ids:
                out.setdefault(sid, StepRecord(Status.WAITING, record.output))
        elif key in ids:
            out[key] = record
    return out


@dataclass(frozen=True)
class _Action:
    step: Step
    skip: str | None = None  # a reason: record as skipped without running


def _plan(wf: Workflow, records: Mapping[str, StepRecord]) -> list[_Action]:
    """Every step that can be handled now, in run order; nothing once the run failed."""
    if _fatal(wf, records) is not None:
        return []
    actions: list[_Action] = []
    for sid in wf.order:
        if sid in records:
            continue
        step = wf.step(sid)
        blocked: str | None = None
        settled = True
        skipped = 0
        for n in step.needs:
            r = records.get(n)
            if r is None or r.status is Status.WAITING:
                settled = False
                break
            if r.status is Status.SKIPPED:
                skipped += 1
            elif r.status is Status.FAILED:
                of = wf.step(n).on_failure
                if of.action == "continue" or (of.action == "route" and of.target == sid):
                    continue
                blocked = blocked or f"needs {n!r}, which failed"
        if settled and blocked is None and step.needs and skipped == len(step.needs):
            blocked = (
                f"needs {step.needs[0]!r}, which was skipped"
                if skipped == 1
                else "every step it needs was skipped"
            )
        if not settled:
            continue
        if blocked is not None:
            actions.append(_Action(step, blocked))
            continue
        if step.handler:
            routers = wf.routers[sid]
            if not any(_failed(records, r) for r in routers):
                if all(r in records and records[r].status is not Status.WAITING for r in routers):
                    actions.append(_Action(step, "no failure was routed to it"))
                continue
        actions.append(_Action(step))
    return actions


def _failed(records: Mapping[str, StepRecord], sid: str) -> bool:
    r = records.get(sid)
    return r is not None and r.status is Status.FAILED


def _fatal(wf: Workflow, records: Mapping[str, StepRecord]) -> tuple[str, str] | None:
    for sid in wf.order:
        if _failed(records, sid) and wf.step(sid).on_failure.action == "fail":
            return sid, str(records[sid].output.get("error", "failed"))
    return None


def _status(wf: Workflow, records: Mapping[str, StepRecord]) -> RunStatus:
    failures = tuple(
        (sid, str(records[sid].output.get("error", "failed")))
        for sid in wf.order
        if _failed(records, sid)
    )
    waiting = tuple(
        sid for sid in wf.order if sid in records and records[sid].status is Status.WAITING
    )
    fatal = _fatal(wf, records)
    if fatal is not None:
        return RunStatus("failed", f"step {fatal[0]!r} failed: {fatal[1]}", waiting, failures)
    if all(sid in records for sid in wf.order) and not waiting:
        return RunStatus("succeeded", None, (), failures)
    if _plan(wf, records):
        return RunStatus("running", None, waiting, failures)
    return RunStatus("waiting", None, waiting, failures)


class Engine:
    """Runs workflows. ``classifiers`` serve ``classify`` steps (the first is the
    default); ``max_remote_text_bytes`` cuts strings in job inputs; retries wait
    ``retry_delay * 2**(attempt-1)`` seconds, at most ``retry_delay_cap``."""

    def __init__(
        self,
        *,
        classifiers: Sequence[Classifier] = (),
        max_remote_text_bytes: int | None = None,
        retry_delay: float = 0.5,
        retry_delay_cap: float = 30.0,
    ) -> None:
        self.resources = Resources(tuple(classifiers), max_remote_text_bytes)
        self.retry_delay = retry_delay
        self.retry_delay_cap = retry_delay_cap

    def run(
        self,
        workflow: Workflow,
        document: Document,
        committed: Mapping[str, StepRecord | Mapping[str, Any]] | None = None,
    ) -> WorkflowRun:
        return WorkflowRun(self, workflow, document, records_from(workflow, committed))

    def status(
        self, workflow: Workflow, committed: Mapping[str, StepRecord | Mapping[str, Any]] | None
    ) -> RunStatus:
        return _status(workflow, records_from(workflow, committed))


class WorkflowRun:
    """One pass over a run: iterate it for outcomes (commit each before the next)."""

    def __init__(
        self, engine: Engine, workflow: Workflow, document: Document, records: dict[str, StepRecord]
    ) -> None:
        self.engine = engine
        self.workflow = workflow
        self.document = document
        self.records = records

    @property
    def status(self) -> RunStatus:
        return _status(self.workflow, self.records)

    def next_steps(self) -> list[str]:
        """The steps that can be handled now, in the order they will be."""
        return [a.step.id for a in _plan(self.workflow, self.records)]

    def __aiter__(self) -> AsyncIterator[Outcome]:
        return self._outcomes()

    async def _outcomes(self) -> AsyncIterator[Outcome]:
        while True:
            actions = _plan(self.workflow, self.records)
            if not actions:
                return
            outcome = await self._handle(actions[0])
            yield outcome
            # reached only when the caller asks for the next outcome, i.e. after it
            # committed this one
            self.records[outcome.step] = outcome.record

    # --- one step ---------------------------------------------------------------------------
    def _scope(self, step: Step) -> dict[str, Any]:
        scope: dict[str, Any] = {"document": self.document.fields()}
        for sid in self.workflow.ancestors[step.id]:
            r = self.records.get(sid)
            if r is not None and r.status is not Status.WAITING:
                scope[sid] = dict(r.output)
        return scope

    def _upstream_text(self, step: Step) -> str | None:
        ancestors = self.workflow.ancestors[step.id]
        for sid in reversed(self.workflow.order):
            r = self.records.get(sid)
            if sid in ancestors and r is not None and r.status is Status.OK:
                text = r.output.get("text")
                if isinstance(text, str):
                    return text
        return self.document.text

    def _failed(self, step: Step, error: str, attempts: int) -> Outcome:
        output: dict[str, Any] = {"error": error, "attempts": attempts}
        if step.on_failure.action == "route":
            output["routed_to"] = step.on_failure.target
        return Outcome(step.id, Status.FAILED, output, attempts=attempts)

    async def _handle(self, action: _Action) -> Outcome:
        step = action.step
        if action.skip is not None:
            return Outcome(step.id, Status.SKIPPED, {"reason": action.skip})
        scope = self._scope(step)
        if step.when is not None:
            try:
                holds = step.when.test(scope)
            except ExpressionError as e:
                return self._failed(step, f"when: {e}", 0)
            if not holds:
                return Outcome(
                    step.id, Status.SKIPPED, {"reason": f"when is false: {step.when.source}"}
                )
        ctx = StepContext(
            step.id, self.document, scope, self._upstream_text(step), self.engine.resources
        )
        if step.remote:
            assert isinstance(step.params, RemoteParams)
            try:
                job_input = build_input(ctx, step.params)
            except AgentError as e:
                return self._failed(step, str(e), 0)
            job = JobRequest(step.id, step.type, job_input, step.timeout, step.retries)
            return Outcome(step.id, Status.WAITING, {"type": step.type}, job=job)
        return await self._execute(step, ctx)

    async def _execute(self, step: Step, ctx: StepContext) -> Outcome:
        run = step.step_type.run
        assert run is not None
        attempt = 0
        while True:
            attempt += 1
            try:
                output = await asyncio.wait_for(
                    asyncio.to_thread(run, ctx, step.params), timeout=step.timeout
                )
                return Outcome(step.id, Status.OK, output, attempts=attempt)
            except TimeoutError:
                error, final = f"timed out after {step.timeout:g} s", False
            except AgentError as e:
                error, final = str(e), True
            except Exception as e:
                error, final = f"{type(e).__name__}: {e}", False
            if final or attempt > step.retries:
                return self._failed(step, error, attempt)
            delay = min(self.engine.retry_delay * 2 ** (attempt - 1), self.engine.retry_delay_cap)
            if delay > 0:
                await asyncio.sleep(delay)
