"""Ingest of agent messages from JetStream.

Durable pull consumers on DWC_EVENTS and DWC_JOBS; each message is applied in one
database transaction and acked only after the commit. The envelope id is recorded in
``events``, so a redelivered message changes nothing. A message that fails to decode
or validate becomes a ``DeadLetter`` row with the reason and is acked; nothing is
silently dropped, and no bad message stops the consumer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from nats.aio.msg import Msg
from sqlalchemy.orm import Session

from agent.errors import ProtocolError
from agent.logs import kv
from agent.protocol import AGENT_ID_RE, SUBJECT_PREFIX, Envelope, Kind, require
from agent.sync.link import NatsLink
from agent.sync.pull import consume_forever
from coordinator.store import Agent, Database, DeadLetter, Document, Event, Job

log = logging.getLogger("coordinator.ingest")

MAX_NAME = 512


def subject_agent(subject: str) -> str:
    """The agent id token of ``dwc.v1.agent.<id>....`` or ``dwc.v1.hb.<id>``."""
    parts = subject.split(".")
    if subject.startswith(f"{SUBJECT_PREFIX}.agent.") and len(parts) >= 4:
        return parts[3]
    if subject.startswith(f"{SUBJECT_PREFIX}.hb.") and len(parts) == 4:
        return parts[3]
    raise ProtocolError(f"subject {subject!r} names no agent")


def _touch_agent(
    s: Session, agent_id: str, now: float, status: dict[str, Any] | None = None
) -> None:
    agent = s.get(Agent, agent_id)
    if agent is None:
        s.add(Agent(id=agent_id, first_seen=now, last_seen=now, last_status=status))
    else:
        agent.last_seen = now
        if status is not None:
            agent.last_status = status


class Ingest:
    def __init__(self, db: Database, link: NatsLink, *, on_job: Callable[[str], None]) -> None:
        self.db = db
        self.link = link
        self.on_job = on_job
        self.applied = 0
        self.duplicates = 0
        self.dead_letters = 0

    # --- apply (sync, one transaction each) -------------------------------------------------
    def apply(self, subject: str, data: bytes) -> tuple[str, str | None]:
        """Apply one message. Returns (outcome, job id to dispatch or None)."""
        env = Envelope.decode(data)
        agent_id = subject_agent(subject)
        if env.agent != agent_id or not AGENT_ID_RE.match(agent_id):
            raise ProtocolError(
                f"envelope agent {env.agent!r} does not match subject agent {agent_id!r}"
            )
        now = time.time()
        with self.db.session() as s:
            if s.get(Event, env.id) is not None:
                return "duplicate", None
            s.add(Event(id=env.id, agent_id=env.agent, kind=env.kind, ts=env.ts, received_at=now))
            _touch_agent(s, env.agent, now)
            s.flush()
            if env.kind == Kind.DOCUMENT_PROCESSED:
                self._document(s, env, now)
                return "applied", None
            if env.kind == Kind.JOB_REQUEST:
                return "applied", self._job(s, env, now)
            raise ProtocolError(f"unknown message kind {env.kind!r}")

    @staticmethod
    def _document(s: Session, env: Envelope, now: float) -> None:
        b = env.body
        doc_id = require(b, "document_id", str)
        confidence = b.get("confidence")
        if confidence is not None and (
            not isinstance(confidence, int | float) or isinstance(confidence, bool)
        ):
            raise ProtocolError("body field 'confidence' must be a number")
        doc = s.get(Document, doc_id)
        if doc is not None and doc.agent_id != env.agent:
            raise ProtocolError(
                f"document {doc_id} belongs to agent {doc.agent_id!r}, not {env.agent!r}"
            )
        if doc is None:
            doc = Document(id=doc_id, agent_id=env.agent, created_at=now)
            s.add(doc)
        doc.run_id = require(b, "run_id", str)
        doc.content_id = require(b, "content_id", str)[:80]
        doc.name = require(b, "name", str)[:MAX_NAME]
        doc.media_type = b.get("media_type") if isinstance(b.get("media_type"), str) else None
        doc.size = require(b, "size", int)
        doc.label = b.get("label") if isinstance(b.get("label"), str) else None
        doc.confidence = float(confidence) if confidence is not None else None
        doc.model = b.get("model") if isinstance(b.get("model"), str) else None
        doc.workflow = require(b, "workflow", str)
        doc.version = require(b, "version", str)
        doc.received_at = float(require(b, "received_at", (int, float)))
        doc.updated_at = now
        if isinstance(b.get("summary"), str):
            # The agent reused a summary of the same content; no job comes for this one.
            doc.summary = b["summary"]
        # The job result may have been computed before this event arrived.
        job = (
            s.query(Job)
            .filter(
                Job.document_id == doc_id, Job.status == "succeeded", Job.type == "ai.summarize"
            )
            .first()
        )
        if job is not None and job.output and isinstance(job.output.get("summary"), str):
            doc.summary = job.output["summary"]

    @staticmethod
    def _job(s: Session, env: Envelope, now: float) -> str:
        b = env.body
        job_id = require(b, "job_id", str)
        payload = require(b, "input", dict)
        if s.get(Job, job_id) is not None:
            raise ProtocolError(f"job {job_id} already exists under another message id")
        s.add(
            Job(
                id=job_id,
                agent_id=env.agent,
                run_id=require(b, "run_id", str),
                document_id=b.get("document_id") if isinstance(b.get("document_id"), str) else None,
                type=require(b, "type", str),
                status="queued",
                input=payload,
                attempts=0,
                created_at=now,
            )
        )
        return job_id

    def dead_letter(self, source: str, reason: str, payload: bytes | None) -> None:
        with self.db.session() as s:
            s.add(
                DeadLetter(
                    source=source[:256], reason=reason, payload=payload, received_at=time.time()
                )
            )

    def heartbeat(self, subject: str, data: bytes) -> None:
        env = Envelope.decode(data)
        agent_id = subject_agent(subject)
        if env.agent != agent_id:
            raise ProtocolError(
                f"heartbeat agent {env.agent!r} does not match subject agent {agent_id!r}"
            )
        with self.db.session() as s:
            _touch_agent(s, agent_id, time.time(), env.body)

    # --- consumers ---------------------------------------------------------------------------
    async def handle(self, msg: Msg) -> None:
        try:
            outcome, job_id = await asyncio.to_thread(self.apply, msg.subject, msg.data)
        except ProtocolError as e:
            await asyncio.to_thread(self.dead_letter, f"nats:{msg.subject}", str(e), msg.data)
            self.dead_letters += 1
            log.warning("ingest.dead_letter", extra=kv(subject=msg.subject, reason=str(e)))
            await msg.ack()
            return
        await msg.ack()
        if outcome == "duplicate":
            self.duplicates += 1
        else:
            self.applied += 1
        if job_id is not None:
            self.on_job(job_id)

    async def heartbeats(self) -> None:
        await self.link.wait_online()
        assert self.link.nc is not None

        async def on_msg(msg: Msg) -> None:
            try:
                await asyncio.to_thread(self.heartbeat, msg.subject, msg.data)
            except ProtocolError as e:
                log.warning("ingest.bad_heartbeat", extra=kv(subject=msg.subject, reason=str(e)))

        await self.link.nc.subscribe(f"{SUBJECT_PREFIX}.hb.*", cb=on_msg)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            for stream, subject, durable in (
                ("DWC_EVENTS", f"{SUBJECT_PREFIX}.agent.*.evt.>", "coordinator-events"),
                ("DWC_JOBS", f"{SUBJECT_PREFIX}.agent.*.job", "coordinator-jobs"),
            ):
                tg.create_task(
                    consume_forever(
                        self.link,
                        stream=stream,
                        subject=subject,
                        durable=durable,
                        handle=self.handle,
                        batch=128,
                        max_ack_pending=4096,
                    )
                )
            tg.create_task(self.heartbeats())
