"""The intake workflow every document goes through (``intake`` version 1):

1. ``extract``  text from the file (agent.extract);
2. ``classify`` content id and features with dwc_core, label with the ONNX model;
3. ``summarize.request`` publish ``document.processed`` and an ``ai.summarize`` job
   request (one transaction with the step result, through the outbox);
4. ``summarize`` is committed when the coordinator's result arrives (CommandConsumer).

Each step's result is committed before the next starts; a step found committed is not
run again. Versioned, spec-driven workflows replace this fixed chain with the workflow
engine; it keeps the same step-commit contract.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dwc_core
from agent.errors import DocumentError
from agent.extract import extract_text, media_type_for
from agent.inference.onnx import TextClassifier
from agent.logs import kv
from agent.protocol import Envelope, Kind, command_subject, event_subject, job_subject, new_id
from agent.store import DocStatus, Store

log = logging.getLogger("agent.pipeline")

WORKFLOW = "intake"
VERSION = "1"
SUMMARY_SENTENCES = 3

Db = Callable[..., Awaitable[Any]]


def summary_key(content_id: str) -> str:
    """Cache key of a remote summary of the given content."""
    return f"ai.summarize:{content_id}"


@dataclass(frozen=True)
class Outcome:
    document_id: str
    status: str
    error: str | None = None


class IntakePipeline:
    def __init__(
        self,
        store: Store,
        db: Db,
        classifier: TextClassifier,
        *,
        agent_id: str,
        max_document_bytes: int,
        max_remote_text_bytes: int,
        on_outbox: Callable[[], None],
        cache: dwc_core.Cache | None = None,
    ) -> None:
        self.store = store
        self.db = db
        self.classifier = classifier
        self.agent_id = agent_id
        self.max_document_bytes = max_document_bytes
        self.max_remote_text_bytes = max_remote_text_bytes
        self.on_outbox = on_outbox
        self.cache = cache

    async def register(self, claimed: Path, *, name: str, source: str, received_at: float) -> str:
        """Commit a claimed file as a document with a run; returns the document id.
        If it was registered before a crash, returns the existing id."""
        existing = await self.db(self.store.find_by_claim, str(claimed))
        if existing is not None:
            return str(existing["id"])
        size, content_id = await asyncio.to_thread(self._size_and_content_id, claimed)
        doc_id, run_id = new_id(), new_id()
        await self.db(
            self.store.add_document,
            doc_id=doc_id,
            run_id=run_id,
            content_id=content_id,
            name=name,
            source=source,
            media_type=media_type_for(name),
            size=size,
            claim_path=str(claimed),
            workflow=WORKFLOW,
            version=VERSION,
            received_at=received_at,
        )
        log.info(
            "document.received", extra=kv(doc=doc_id, name=name, size=size, content_id=content_id)
        )
        return doc_id

    # Blocking parts are grouped so each costs one round trip to a thread: pinned to one
    # core, a round trip costs about 0.1 ms, as much as a SQLite commit
    # (docs/benchmarks.md, "Agent pipeline").
    def _size_and_content_id(self, claimed: Path) -> tuple[int, str]:
        size = claimed.stat().st_size
        if size > self.max_document_bytes:
            return size, "(not read: over the size limit)"
        return size, dwc_core.content_id(claimed.read_bytes())

    def _text(self, claimed: Path, name: str) -> tuple[str, str]:
        size = claimed.stat().st_size
        if size > self.max_document_bytes:
            raise DocumentError(
                f"{size} bytes is over the profile's max_document_bytes={self.max_document_bytes}"
            )
        return extract_text(name, claimed.read_bytes())

    def _state(self, doc_id: str) -> tuple[sqlite3.Row, str, dict[str, dict[str, Any]]]:
        """The document, its run's id and the run's committed steps (on the store's thread)."""
        doc = self.store.document(doc_id)
        run_id = str(self.store.run_for_document(doc_id)["id"])
        return doc, run_id, self.store.step_results(run_id)

    async def process(self, doc_id: str, claimed: Path, name: str) -> Outcome:
        """Run the local steps of a registered document, skipping committed ones. A
        document that is no longer processing (waiting, done or failed) is left as it is;
        the outcome gives its status. Raises DocumentError when the file cannot be read
        as text."""
        doc, run_id, done = await self.db(self._state, doc_id)
        if doc["status"] != DocStatus.PROCESSING:
            return Outcome(doc_id, doc["status"], doc["error"])
        text, media_type = await asyncio.to_thread(self._text, claimed, name)

        if "extract" not in done:
            out = {"media_type": media_type, "chars": len(text)}
            await self.db(self.store.commit_step, run_id, "extract", out)

        # content_id, size and received_at are fixed at registration.
        content_id = doc["content_id"]
        model = f"{self.classifier.name}@{self.classifier.version}"
        if "classify" in done:
            label, confidence = done["classify"]["label"], done["classify"]["confidence"]
        else:
            # Model outputs are cached by model and content id: the same bytes get the
            # same label without running the model again.
            key = f"classify:{model}:{content_id}"
            cached = self.cache.get(key) if self.cache is not None else None
            if cached is None:
                (pred,) = await asyncio.to_thread(self.classifier.predict, [text])
                cached = (pred.label, round(pred.confidence, 6))
                if self.cache is not None:
                    self.cache.set(key, cached, weight=256)
            label, confidence = cached
            out = {"label": label, "confidence": confidence, "model": model}
            await self.db(
                self.store.commit_step,
                run_id,
                "classify",
                out,
                doc_update={"label": label, "confidence": confidence},
            )

        if "summarize.request" not in done and "summarize" not in done:
            # A summary already computed for the same content (a duplicate document)
            # completes the run here, without a remote job.
            summary = self.cache.get(summary_key(content_id)) if self.cache is not None else None
            job_id = new_id()
            event = Envelope(
                kind=Kind.DOCUMENT_PROCESSED,
                agent=self.agent_id,
                body={
                    "document_id": doc_id,
                    "run_id": run_id,
                    "content_id": content_id,
                    "name": name,
                    "media_type": media_type,
                    "size": doc["size"],
                    "label": label,
                    "confidence": confidence,
                    "model": f"{self.classifier.name}@{self.classifier.version}",
                    "workflow": WORKFLOW,
                    "version": VERSION,
                    "received_at": doc["received_at"],
                    **({"summary": summary["summary"]} if summary else {}),
                },
            )
            event_row = (
                event.id,
                event_subject(self.agent_id, event.kind),
                event.kind,
                event.encode(),
            )
            if summary is not None:
                await self.db(
                    self.store.commit_step,
                    run_id,
                    "summarize",
                    {**summary, "reused": True},
                    doc_update={"summary": summary["summary"]},
                    outbox=[event_row],
                    finish=True,
                )
                self.on_outbox()
                log.info("document.summary_reused", extra=kv(doc=doc_id, label=label))
                return Outcome(doc_id, DocStatus.DONE)
            remote_text = text.encode()[: self.max_remote_text_bytes].decode("utf-8", "ignore")
            job = Envelope(
                kind=Kind.JOB_REQUEST,
                agent=self.agent_id,
                body={
                    "job_id": job_id,
                    "run_id": run_id,
                    "document_id": doc_id,
                    "type": "ai.summarize",
                    "input": {"text": remote_text, "max_sentences": SUMMARY_SENTENCES},
                    "reply_to": command_subject(self.agent_id),
                },
            )
            await self.db(
                self.store.commit_step,
                run_id,
                "summarize.request",
                {"job_id": job_id},
                doc_update={"status": DocStatus.WAITING},
                outbox=[event_row, (job.id, job_subject(self.agent_id), job.kind, job.encode())],
                job=(job_id, "ai.summarize"),
            )
            self.on_outbox()
            log.info(
                "document.classified",
                extra=kv(doc=doc_id, label=label, confidence=confidence, job=job_id),
            )
        return Outcome(doc_id, DocStatus.WAITING)
