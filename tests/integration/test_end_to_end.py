"""One real path through every layer: nats-server, the coordinator (uvicorn + Ray), and
an agent process, driven by the same code as `dwc demo`."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select

import dwc_core
from coordinator.demo import AGENT_ID, DEFAULT_DOCUMENTS, run_demo
from coordinator.store import Database, Document, Job

pytestmark = pytest.mark.integration

LOCAL_STEPS = ("extract", "classify", "summarize.request")


@pytest.mark.timeout(300)
def test_demo_processes_every_sample_document(tmp_path: Path, model_dir: Path) -> None:
    out = io.StringIO()
    result = run_demo(tmp_path, timeout=180, out=out)
    report = out.getvalue()
    assert result.ok, report
    assert "result         OK" in report

    samples = {p.name: p for p in DEFAULT_DOCUMENTS.iterdir() if p.name != "labels.json"}
    assert len(samples) >= 20
    labels = json.loads((model_dir / "manifest.json").read_text())["labels"]

    # The agent's SQLite store: every document done, labelled, summarised, hashed.
    agent = sqlite3.connect(tmp_path / "agent" / "agent.db")
    agent.row_factory = sqlite3.Row
    rows = {r["name"]: r for r in agent.execute("SELECT * FROM documents")}
    assert set(rows) == set(samples)
    for name, row in rows.items():
        assert row["status"] == "done", (name, row["error"])
        assert row["label"] in labels
        assert 0.0 < row["confidence"] <= 1.0
        assert row["summary"], name
        assert row["content_id"] == dwc_core.content_id(samples[name].read_bytes())
        steps = [
            s["step"]
            for s in agent.execute(
                "SELECT step FROM step_results sr JOIN runs r ON r.id = sr.run_id WHERE r.document_id = ?",
                (row["id"],),
            )
        ]
        assert sorted(steps) == sorted([*LOCAL_STEPS, "summarize"]), (name, steps)
    assert agent.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0
    assert agent.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 0
    assert {r["status"] for r in agent.execute("SELECT status FROM jobs")} == {"succeeded"}

    # The files: claimed and moved to done/, nothing left behind or lost.
    data = tmp_path / "agent"
    assert list((data / "inbox").iterdir()) == []
    assert list((data / "processing").iterdir()) == []
    done = sorted(p.name.split("__", 1)[1] for p in (data / "done").iterdir())
    assert done == sorted(samples)

    # The coordinator's store holds the same documents, labels and summaries.
    db = Database(f"sqlite:///{tmp_path / 'coordinator' / 'coordinator.db'}")
    with db.session() as s:
        docs = {d.name: d for d in s.scalars(select(Document))}
        jobs = list(s.scalars(select(Job)))
    db.close()
    assert set(docs) == set(samples)
    for name, doc in docs.items():
        assert doc.agent_id == AGENT_ID
        assert doc.id == rows[name]["id"]
        assert doc.label == rows[name]["label"]
        assert doc.summary == rows[name]["summary"]
        assert doc.content_id == rows[name]["content_id"]
    assert len(jobs) == len(samples)
    assert all(j.status == "succeeded" and j.result_published_at is not None for j in jobs)
    assert all(j.output and j.output["provider"] == "local" for j in jobs)
