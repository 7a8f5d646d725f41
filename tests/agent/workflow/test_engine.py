"""agent/workflow/engine.py: chains, DAGs, when, timeouts, retries, on_failure routes
and remote steps."""

from __future__ import annotations

import json
from typing import Any

import pytest

import dwc_core
from agent.inference.onnx import TextClassifier
from agent.settings import REPO_ROOT
from agent.workflow import (
    Document,
    Engine,
    Outcome,
    Registry,
    Status,
    StepRecord,
    Workflow,
    builtin_workflows,
    parse_workflow,
)

DEMO = REPO_ROOT / "deploy" / "demo" / "documents"
DOC = Document("note.txt", b"hello world", source="inbox")


def wf(registry: Registry, steps: str) -> Workflow:
    return parse_workflow(f"name: t\nversion: 1.0.0\nsteps:\n{steps}", registry=registry)


async def drive(
    engine: Engine, workflow: Workflow, doc: Document, committed: dict[str, Any] | None = None
) -> tuple[list[Outcome], dict[str, Any]]:
    """Run to the end, committing each outcome (JSON round trip, as the store does)."""
    committed = {} if committed is None else committed
    outcomes = []
    run = engine.run(workflow, doc, committed)
    async for outcome in run:
        assert outcome.key not in committed
        committed[outcome.key] = StepRecord(outcome.status, json.loads(json.dumps(outcome.output)))
        outcomes.append(outcome)
    return outcomes, committed


def summary(outcomes: list[Outcome]) -> list[tuple[str, str]]:
    return [(o.key, o.status.value) for o in outcomes]


ENGINE = Engine(retry_delay=0)


async def test_intake_chain_with_the_real_model(classifier: TextClassifier) -> None:
    (intake,) = [w for w in builtin_workflows() if w.name == "intake"]
    data = (DEMO / "invoice_kestrel_pumps.txt").read_bytes()
    engine = Engine(classifiers=[classifier], max_remote_text_bytes=200)
    outcomes, committed = await drive(engine, intake, Document("invoice_kestrel_pumps.txt", data))
    assert summary(outcomes) == [
        ("extract", "ok"),
        ("hash", "ok"),
        ("classify", "ok"),
        ("summarize.request", "waiting"),
    ]
    by = {o.step: o for o in outcomes}
    assert by["hash"].output["content_id"] == dwc_core.content_id(data)
    assert by["classify"].output["label"] == "invoice"
    job = by["summarize"].job
    assert job is not None
    assert job.type == "ai.summarize"
    assert job.timeout == 300
    assert job.input["max_sentences"] == 3
    assert job.input["label"] == "invoice"
    assert job.input["content_id"] == dwc_core.content_id(data)
    assert len(job.input["text"].encode()) <= 200
    assert engine.status(intake, committed).state == "waiting"
    assert engine.status(intake, committed).waiting == ("summarize",)
    # the job's result arrives and is committed as step "summarize"
    committed["summarize"] = {"summary": "An invoice."}
    outcomes, _ = await drive(engine, intake, Document("x.txt", data), committed)
    assert outcomes == []
    assert engine.status(intake, committed).state == "succeeded"


async def test_dag_order_is_deterministic(registry: Registry, probe: Any) -> None:
    w = wf(
        registry,
        """
  - {id: root, type: probe}
  - {id: b, type: probe, needs: [root]}
  - {id: a, type: probe, needs: [root]}
  - {id: join, type: probe, needs: [a, b]}
  - {id: c, type: probe, needs: [root]}
""",
    )
    run = ENGINE.run(w, DOC)
    assert run.next_steps() == ["root"]
    outcomes, committed = await drive(ENGINE, w, DOC)
    assert [o.step for o in outcomes] == ["root", "b", "a", "join", "c"]
    # a step sees the document and its ancestors only
    assert committed["join"].output["seen"] == ["a", "b", "document", "root"]
    assert committed["c"].output["seen"] == ["document", "root"]
    assert ENGINE.status(w, committed).state == "succeeded"


async def test_when_skips_and_skips_carry_down_a_chain(registry: Registry, probe: Any) -> None:
    w = wf(
        registry,
        """
  - {id: a, type: probe, with: {out: {label: memo}}}
  - {id: b, type: probe, when: 'a.label == "invoice"'}
  - {id: c, type: probe}
  - {id: d, type: probe, needs: [a, c]}
  - {id: e, type: probe, needs: [a], when: 'document.source == "inbox" and a.label == "memo"'}
""",
    )
    outcomes, committed = await drive(ENGINE, w, DOC)
    assert summary(outcomes) == [
        ("a", "ok"),
        ("b", "skipped"),
        ("c", "skipped"),
        ("d", "ok"),  # a join runs when any of its needs ran
        ("e", "ok"),
    ]
    assert committed["b"].output == {"reason": 'when is false: a.label == "invoice"'}
    assert committed["c"].output == {"reason": "needs 'b', which was skipped"}
    assert probe.calls == {"a": 1, "d": 1, "e": 1}
    assert ENGINE.status(w, committed).state == "succeeded"


async def test_a_when_that_fails_to_evaluate_fails_the_step(registry: Registry, probe: Any) -> None:
    w = wf(
        registry,
        "  - {id: a, type: probe, with: {out: {n2: x}}}\n  - {id: b, type: probe, when: a.n2 > 1}\n",
    )
    outcomes, committed = await drive(ENGINE, w, DOC)
    assert summary(outcomes) == [("a", "ok"), ("b", "failed")]
    assert "when: cannot compare string > number" in committed["b"].output["error"]
    status = ENGINE.status(w, committed)
    assert status.state == "failed"
    assert "step 'b' failed" in (status.error or "")


async def test_timeout(registry: Registry, probe: Any) -> None:
    w = wf(
        registry,
        "  - {id: slow, type: probe, timeout: 0.05, with: {block: true}}\n  - {id: next, type: probe}\n",
    )
    try:
        outcomes, committed = await drive(ENGINE, w, DOC)
    finally:
        probe.release.set()  # the timed-out thread runs on until released
    assert summary(outcomes) == [("slow", "failed")]
    assert committed["slow"].output == {"error": "timed out after 0.05 s", "attempts": 1}
    assert ENGINE.status(w, committed).state == "failed"


async def test_timeouts_are_retried(registry: Registry, probe: Any) -> None:
    w = wf(
        registry, "  - {id: slow, type: probe, timeout: 0.02, retries: 2, with: {block: true}}\n"
    )
    try:
        outcomes, _ = await drive(ENGINE, w, DOC)
    finally:
        probe.release.set()
    assert outcomes[0].status is Status.FAILED
    assert outcomes[0].attempts == 3


async def test_retries(registry: Registry, probe: Any) -> None:
    w = wf(
        registry,
        """
  - {id: flaky, type: probe, retries: 2, with: {fail: 2}}
  - {id: hopeless, type: probe, retries: 1, with: {fail: 5}, on_failure: continue}
  - {id: bad_input, type: probe, retries: 3, with: {permanent: true}, on_failure: continue}
""",
    )
    outcomes, committed = await drive(ENGINE, w, DOC)
    assert [(o.step, o.status.value, o.attempts) for o in outcomes] == [
        ("flaky", "ok", 3),
        ("hopeless", "failed", 2),
        ("bad_input", "failed", 1),  # an AgentError is not retried
    ]
    assert committed["hopeless"].output["error"] == "RuntimeError: flaky run 2"
    assert committed["bad_input"].output["error"] == "bad input"
    status = ENGINE.status(w, committed)
    assert status.state == "succeeded"
    assert [s for s, _ in status.failures] == ["hopeless", "bad_input"]


async def test_retry_backoff_waits(registry: Registry, probe: Any) -> None:
    w = wf(registry, "  - {id: flaky, type: probe, retries: 1, with: {fail: 1}}\n")
    outcomes, _ = await drive(Engine(retry_delay=0.01), w, DOC)
    assert outcomes[0].status is Status.OK
    assert outcomes[0].attempts == 2


async def test_on_failure_fail_stops_the_run(registry: Registry, probe: Any) -> None:
    w = wf(
        registry,
        "  - {id: a, type: probe}\n  - {id: b, type: probe, with: {permanent: true}}\n  - {id: c, type: probe}\n",
    )
    outcomes, committed = await drive(ENGINE, w, DOC)
    assert summary(outcomes) == [("a", "ok"), ("b", "failed")]
    assert "c" not in probe.calls
    status = ENGINE.status(w, committed)
    assert status.state == "failed"
    assert status.error == "step 'b' failed: bad input"


async def test_on_failure_continue(registry: Registry, probe: Any) -> None:
    w = wf(
        registry,
        "  - {id: a, type: probe, with: {permanent: true}, on_failure: continue}\n"
        "  - {id: b, type: probe, when: a.error == 'bad input'}\n",
    )
    outcomes, committed = await drive(ENGINE, w, DOC)
    assert summary(outcomes) == [("a", "failed"), ("b", "ok")]
    assert ENGINE.status(w, committed).state == "succeeded"


async def test_on_failure_route(registry: Registry, probe: Any) -> None:
    w = wf(
        registry,
        """
  - {id: a, type: probe}
  - {id: b, type: probe, with: {permanent: true}, on_failure: 'route:recover'}
  - {id: c, type: probe}
  - {id: recover, type: probe, needs: [b], when: 'b.routed_to == "recover"'}
  - {id: unused, type: probe}
  - {id: d, type: probe, needs: [a]}
  - {id: other_handler, type: probe}
  - {id: e, type: probe, needs: [a], on_failure: 'route:other_handler'}
""",
    )
    outcomes, committed = await drive(ENGINE, w, DOC)
    assert summary(outcomes) == [
        ("a", "ok"),
        ("b", "failed"),
        ("c", "skipped"),  # needed the failed step
        ("recover", "ok"),  # the handler may read the failure
        ("unused", "skipped"),  # follows c in the chain
        ("d", "ok"),
        ("e", "ok"),
        ("other_handler", "skipped"),
    ]
    assert committed["b"].output == {"error": "bad input", "attempts": 1, "routed_to": "recover"}
    assert committed["c"].output == {"reason": "needs 'b', which failed"}
    assert committed["other_handler"].output == {"reason": "no failure was routed to it"}
    status = ENGINE.status(w, committed)
    assert status.state == "succeeded"
    assert status.failures == (("b", "bad input"),)


async def test_remote_steps_wait_while_other_branches_go_on(registry: Registry, probe: Any) -> None:
    w = wf(
        registry,
        """
  - {id: a, type: probe, with: {out: {text: some text}}}
  - {id: ask, type: ai.summarize, retries: 2, with: {input: {k: 1}, input_from: {text: a.text}}}
  - {id: after, type: probe, needs: [ask], when: 'len(ask.summary) > 0'}
  - {id: side, type: probe, needs: [a]}
  - {id: anchor, type: chain.anchor, needs: [a], on_failure: continue}
  - {id: last, type: probe, needs: [anchor]}
""",
    )
    outcomes, committed = await drive(ENGINE, w, DOC)
    assert summary(outcomes) == [
        ("a", "ok"),
        ("ask.request", "waiting"),
        ("side", "ok"),
        ("anchor.request", "waiting"),
    ]
    job = outcomes[1].job
    assert job is not None
    assert (job.step, job.type, job.input, job.retries) == (
        "ask",
        "ai.summarize",
        {"k": 1, "text": "some text"},
        2,
    )
    status = ENGINE.status(w, committed)
    assert (status.state, status.waiting) == ("waiting", ("ask", "anchor"))
    # results arrive: one succeeded, one failed (a failed job commits status failed)
    committed["ask"] = {"summary": "short"}
    committed["anchor"] = StepRecord(Status.FAILED, {"error": "no chain"})
    outcomes, committed = await drive(ENGINE, w, DOC, committed)
    assert summary(outcomes) == [("after", "ok"), ("last", "ok")]
    assert committed["after"].output["seen"] == ["a", "ask", "document"]
    assert ENGINE.status(w, committed).state == "succeeded"


async def test_a_remote_input_that_fails_to_evaluate(registry: Registry, probe: Any) -> None:
    w = wf(
        registry,
        "  - {id: a, type: probe}\n  - {id: ask, type: ai.x, with: {input_from: {t: lower(a.n)}}}\n",
    )
    outcomes, _ = await drive(ENGINE, w, DOC)
    assert summary(outcomes) == [("a", "ok"), ("ask", "failed")]
    assert "lower() needs a string, not number" in (outcomes[1].error or "")


async def test_text_flows_from_the_nearest_upstream_step(registry: Registry, probe: Any) -> None:
    w = wf(
        registry,
        """
  - {id: extract, type: extract}
  - {id: redact, type: redact}
  - {id: p, type: probe}
  - {id: q, type: probe, needs: [extract]}
""",
    )
    doc = Document("m.txt", b"mail me at someone@example.org")
    _, committed = await drive(ENGINE, w, doc)
    assert committed["p"].output["upstream"] == "mail me at [EMAIL]"
    assert committed["q"].output["upstream"] == "mail me at someone@example.org"


async def test_document_text_is_the_fallback(registry: Registry, probe: Any) -> None:
    w = wf(registry, "  - {id: pii, type: detect_pii}\n")
    _, committed = await drive(ENGINE, w, Document("x", b"", text="x@example.com"))
    assert committed["pii"].output["count"] == 1
    _, committed = await drive(ENGINE, w, Document("x", b""))
    assert "no text to work on" in committed["pii"].output["error"]


async def test_invoice_pii_workflow(classifier: TextClassifier) -> None:
    (w,) = [w for w in builtin_workflows() if w.name == "invoice-pii"]
    engine = Engine(classifiers=[classifier])
    data = (
        DEMO / "invoice_kestrel_pumps.txt"
    ).read_bytes() + b"\nIBAN GB82 WEST 1234 5698 7654 32\n"
    outcomes, committed = await drive(engine, w, Document("inv.txt", data))
    assert summary(outcomes) == [
        ("extract", "ok"),
        ("classify", "ok"),
        ("pii", "ok"),
        ("redact", "ok"),
        ("triage", "ok"),
        ("tags", "ok"),
        ("summarize.request", "waiting"),
        ("quarantine", "skipped"),
    ]
    assert committed["pii"].output["kinds"]["iban"] == 1
    assert committed["triage"].output["route"] == "accounts-payable"
    assert committed["tags"].output["tags"] == ["intake", "pii"]
    job = outcomes[6].job
    assert job is not None
    assert "GB82" not in job.input["text"]
    assert "[IBAN]" in job.input["text"]

    memo = (DEMO / "incident_forklift_near_miss.txt").read_bytes()
    outcomes, committed = await drive(engine, w, Document("memo.txt", memo))
    assert summary(outcomes) == [
        ("extract", "ok"),
        ("classify", "ok"),
        ("pii", "skipped"),
        ("redact", "skipped"),
        ("triage", "ok"),
        ("tags", "ok"),
        ("summarize", "skipped"),
        ("quarantine", "skipped"),
    ]
    assert committed["triage"].output["route"] == "operations"
    assert engine.status(w, committed).state == "succeeded"


@pytest.mark.parametrize("bad", [b"\x00\x01binary", b"\xff\xfe not utf-8"])
async def test_bad_input_fails_the_run_with_a_reason(
    bad: bytes, classifier: TextClassifier
) -> None:
    (intake,) = [w for w in builtin_workflows() if w.name == "intake"]
    engine = Engine(classifiers=[classifier])
    outcomes, committed = await drive(engine, intake, Document("bad.txt", bad))
    assert summary(outcomes) == [("extract", "failed")]
    status = engine.status(intake, committed)
    assert status.state == "failed"
    assert "step 'extract' failed" in (status.error or "")


async def test_records_read_back_from_a_store(registry: Registry, probe: Any) -> None:
    w = wf(
        registry, "  - {id: a, type: probe}\n  - {id: b, type: probe}\n  - {id: c, type: probe}\n"
    )
    stored = {
        "a": StepRecord("skipped", {"reason": "x"}),  # type: ignore[arg-type]
        "b.request": {"job_id": "J1"},  # not a remote step here: a request key still waits
        "unrelated": {"x": 1},
    }
    status = ENGINE.status(w, stored)
    assert (status.state, status.waiting) == ("waiting", ("b",))
    assert ENGINE.run(w, DOC, stored).next_steps() == []
