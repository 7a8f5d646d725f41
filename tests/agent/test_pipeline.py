"""The intake pipeline (agent/pipeline.py) over a real store and the built model."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from agent.errors import DocumentError
from agent.inference.onnx import TextClassifier
from agent.pipeline import IntakePipeline
from agent.store import DocStatus, Store

INVOICE = b"Invoice INV-2291. Freight charges EUR 1,240.00, VAT 21%, total due within 30 days."


class Wired:
    """A store on its own thread and a pipeline, as the daemon wires them."""

    def __init__(self, tmp_path: Path, model_dir: Path) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.store = self.pool.submit(Store, tmp_path / "agent.db").result()
        self.notified = 0
        self.pipeline = IntakePipeline(
            self.store,
            self.db,
            TextClassifier(model_dir),
            agent_id="gw-test",
            max_document_bytes=4096,
            max_remote_text_bytes=1024,
            on_outbox=self._notify,
        )
        self.folder = tmp_path / "processing"
        self.folder.mkdir()

    def _notify(self) -> None:
        self.notified += 1

    async def db(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(
            self.pool, functools.partial(fn, *args, **kwargs)
        )

    def claimed(self, name: str, data: bytes) -> Path:
        path = self.folder / f"01HZZZZZZZZZZZZZZZZZZZZZZZ__{name}"
        path.write_bytes(data)
        return path

    def close(self) -> None:
        self.pool.submit(self.store.close).result()
        self.pool.shutdown()


@pytest.fixture
async def wired(tmp_path: Path, model_dir: Path) -> AsyncIterator[Wired]:
    w = Wired(tmp_path, model_dir)
    yield w
    w.close()


async def test_each_local_step_is_committed_and_the_document_waits(wired: Wired) -> None:
    path = wired.claimed("invoice.txt", INVOICE)
    doc_id = await wired.pipeline.register(
        path, name="invoice.txt", source="inbox", received_at=1.0
    )
    outcome = await wired.pipeline.process(doc_id, path, "invoice.txt")
    assert outcome.status == DocStatus.WAITING
    run_id = wired.store.run_for_document(doc_id)["id"]
    steps = wired.store.step_results(run_id)
    assert sorted(steps) == ["classify", "extract", "summarize.request"]
    assert steps["classify"]["label"] == "invoice"
    assert wired.store.document(doc_id)["status"] == DocStatus.WAITING
    assert wired.store.outbox_stats()[0] == 2
    assert wired.notified == 1


async def test_a_document_past_processing_is_left_as_it_is(wired: Wired) -> None:
    path = wired.claimed("invoice.txt", INVOICE)
    doc_id = await wired.pipeline.register(
        path, name="invoice.txt", source="inbox", received_at=1.0
    )
    await wired.pipeline.process(doc_id, path, "invoice.txt")
    path.unlink()  # a waiting document is not read again
    again = await wired.pipeline.process(doc_id, path, "invoice.txt")
    assert (again.status, again.error) == (DocStatus.WAITING, None)
    assert wired.store.outbox_stats()[0] == 2

    other = wired.claimed("memo.txt", INVOICE + b" Copy.")
    failed_id = await wired.pipeline.register(
        other, name="memo.txt", source="inbox", received_at=2.0
    )
    wired.store.fail_document(failed_id, "gave up")
    failed = await wired.pipeline.process(failed_id, other, "memo.txt")
    assert (failed.status, failed.error) == (DocStatus.FAILED, "gave up")


async def test_a_file_over_the_limit_is_registered_unread_and_refused(wired: Wired) -> None:
    path = wired.claimed("big.txt", b"x" * 5000)
    doc_id = await wired.pipeline.register(path, name="big.txt", source="inbox", received_at=1.0)
    assert wired.store.document(doc_id)["content_id"] == "(not read: over the size limit)"
    with pytest.raises(DocumentError, match="over the profile's max_document_bytes=4096"):
        await wired.pipeline.process(doc_id, path, "big.txt")
    assert wired.store.step_results(wired.store.run_for_document(doc_id)["id"]) == {}


async def test_an_unreadable_document_fails_before_any_step(wired: Wired) -> None:
    path = wired.claimed("binary.txt", b"\x00\x01\x02 not text")
    doc_id = await wired.pipeline.register(path, name="binary.txt", source="inbox", received_at=1.0)
    with pytest.raises(DocumentError, match="binary content"):
        await wired.pipeline.process(doc_id, path, "binary.txt")
    assert wired.store.step_results(wired.store.run_for_document(doc_id)["id"]) == {}
