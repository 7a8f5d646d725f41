"""Ingest of agent messages from JetStream.

Durable pull consumers on DWC_EVENTS and DWC_JOBS; each message is applied in one
database transaction and acked only after the commit. The envelope id is recorded in
``events``, so a redelivered message changes nothing. A message that fails to decode
or validate becomes a ``DeadLetter`` row with the reason and is acked; nothing is
silently dropped, and no bad message stops the consumer.

Validation covers what the database would refuse, on either backend, before anything
is written: a string longer than its column (PostgreSQL enforces ``String(n)``, SQLite
does not), a NUL character (PostgreSQL refuses it in text), a float that is not finite
(SQLite stores NaN as NULL), an integer out of range, a JSON value with NaN or bytes.
Otherwise such a message would fail at commit, never be acked, and come back forever.
A ``DataError`` the checks missed is dead-lettered too: it depends on the message, not
on the database's state, so retrying cannot help. Other database errors (unreachable,
locked, a lost race) nak the message, so JetStream delivers it again a little later.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from nats.aio.msg import Msg
from sqlalchemy import Column, inspect
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DataError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Session

from agent.errors import ProtocolError
from agent.logs import kv
from agent.protocol import AGENT_ID_RE, SUBJECT_PREFIX, Envelope, Kind, require
from agent.sync.link import NatsLink
from agent.sync.pull import consume_forever
from coordinator.store import Agent, Database, DeadLetter, Document, Event, Job

log = logging.getLogger("coordinator.ingest")

MAX_NAME = 512
RETRY_DELAY = 2.0  # seconds before a message the database could not take comes back
MAX_BIGINT = (1 << 63) - 1
KINDS = (Kind.DOCUMENT_PROCESSED, Kind.JOB_REQUEST)


def _column(model: type[DeclarativeBase], name: str) -> Column[Any]:
    return inspect(model).columns[name]


def _fit(value: str, model: type[DeclarativeBase], column: str, what: str) -> str:
    """``value`` if it can be stored in ``model.column``; ProtocolError naming ``what``
    if it is longer than the column or holds a NUL character."""
    limit = getattr(_column(model, column).type, "length", None)
    if limit is not None and len(value) > limit:
        raise ProtocolError(f"{what} is {len(value)} characters long, over the limit of {limit}")
    if "\x00" in value:
        raise ProtocolError(f"{what} contains a NUL character")
    return value


def _finite(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise ProtocolError(f"{what} is {value}, not a finite number")
    return float(value)


def _json_value(value: dict[str, Any], what: str) -> dict[str, Any]:
    """``value`` if it can be stored in a JSON column on every backend."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ProtocolError(f"{what} cannot be stored as JSON: {e}") from None
    return value


def _optional(
    b: dict[str, Any], name: str, model: type[DeclarativeBase], column: str
) -> str | None:
    """An optional string field: None when absent or not a string."""
    value = b.get(name)
    return _fit(value, model, column, f"body field {name!r}") if isinstance(value, str) else None


def _required(b: dict[str, Any], name: str, model: type[DeclarativeBase], column: str) -> str:
    return _fit(require(b, name, str), model, column, f"body field {name!r}")


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
    """Create the agent or update when it was last seen, in one upsert: an event and a job
    request from a new agent arrive on two consumers at once, and a plain insert from
    each would fail one of them on the primary key."""
    dialect = s.get_bind().dialect.name
    if dialect not in _UPSERT:
        agent = s.get(Agent, agent_id)
        if agent is None:
            s.add(Agent(id=agent_id, first_seen=now, last_seen=now, last_status=status))
        else:
            agent.last_seen = now
            if status is not None:
                agent.last_status = status
        return
    stmt = _UPSERT[dialect](Agent).values(
        id=agent_id, first_seen=now, last_seen=now, last_status=status
    )
    update = {"last_seen": stmt.excluded.last_seen}
    if status is not None:
        update["last_status"] = stmt.excluded.last_status
    s.execute(stmt.on_conflict_do_update(index_elements=[Agent.id], set_=update))


_UPSERT: dict[str, Callable[..., Any]] = {"postgresql": pg_insert, "sqlite": sqlite_insert}


class Ingest:
    def __init__(self, db: Database, link: NatsLink, *, on_job: Callable[[str], None]) -> None:
        self.db = db
        self.link = link
        self.on_job = on_job
        self.applied = 0
        self.duplicates = 0
        self.dead_letters = 0
        self.retries = 0

    # --- apply (sync, one transaction each) -------------------------------------------------
    def apply(self, subject: str, data: bytes) -> tuple[str, str | None]:
        """Apply one message. Returns (outcome, job id to dispatch or None)."""
        env = Envelope.decode(data)
        agent_id = subject_agent(subject)
        if env.agent != agent_id or not AGENT_ID_RE.match(agent_id):
            raise ProtocolError(
                f"envelope agent {env.agent!r} does not match subject agent {agent_id!r}"
            )
        if env.kind not in KINDS:
            raise ProtocolError(f"unknown message kind {env.kind[:64]!r}")
        _fit(env.id, Event, "id", "envelope field 'id'")
        ts = _finite(env.ts, "envelope field 'ts'")
        now = time.time()
        with self.db.session() as s:
            if s.get(Event, env.id) is not None:
                return "duplicate", None
            s.add(Event(id=env.id, agent_id=env.agent, kind=env.kind, ts=ts, received_at=now))
            _touch_agent(s, env.agent, now)
            s.flush()
            if env.kind == Kind.DOCUMENT_PROCESSED:
                self._document(s, env, now)
                return "applied", None
            return "applied", self._job(s, env, now)

    @staticmethod
    def _document(s: Session, env: Envelope, now: float) -> None:
        b = env.body
        doc_id = _required(b, "document_id", Document, "id")
        confidence = b.get("confidence")
        if confidence is not None and (
            not isinstance(confidence, int | float) or isinstance(confidence, bool)
        ):
            raise ProtocolError("body field 'confidence' must be a number")
        size = require(b, "size", int)
        if not 0 <= size <= MAX_BIGINT:
            raise ProtocolError(f"body field 'size' is {size}, out of range")
        doc = s.get(Document, doc_id)
        if doc is not None and doc.agent_id != env.agent:
            raise ProtocolError(
                f"document {doc_id} belongs to agent {doc.agent_id!r}, not {env.agent!r}"
            )
        if doc is None:
            doc = Document(id=doc_id, agent_id=env.agent, created_at=now)
            s.add(doc)
        doc.run_id = _required(b, "run_id", Document, "run_id")
        # Content ids and names are cut to fit rather than refused: neither is a key.
        doc.content_id = _fit(
            require(b, "content_id", str)[:80], Document, "content_id", "body field 'content_id'"
        )
        doc.name = _fit(require(b, "name", str)[:MAX_NAME], Document, "name", "body field 'name'")
        doc.media_type = _optional(b, "media_type", Document, "media_type")
        doc.size = size
        doc.label = _optional(b, "label", Document, "label")
        doc.confidence = (
            _finite(confidence, "body field 'confidence'") if confidence is not None else None
        )
        doc.model = _optional(b, "model", Document, "model")
        doc.workflow = _required(b, "workflow", Document, "workflow")
        doc.version = _required(b, "version", Document, "version")
        doc.received_at = _finite(
            require(b, "received_at", (int, float)), "body field 'received_at'"
        )
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
        job_id = _required(b, "job_id", Job, "id")
        payload = _json_value(require(b, "input", dict), "body field 'input'")
        run_id = _required(b, "run_id", Job, "run_id")
        document_id = _optional(b, "document_id", Job, "document_id")
        job_type = _required(b, "type", Job, "type")
        if s.get(Job, job_id) is not None:
            raise ProtocolError(f"job {job_id} already exists under another message id")
        s.add(
            Job(
                id=job_id,
                agent_id=env.agent,
                run_id=run_id,
                document_id=document_id,
                type=job_type,
                status="queued",
                input=payload,
                attempts=0,
                created_at=now,
            )
        )
        return job_id

    def dead_letter(self, source: str, reason: str, payload: bytes | None) -> None:
        """Record a message that cannot be applied. Its text is made storable here (cut,
        NULs escaped), since a dead letter that fails to store would stop the consumer."""
        with self.db.session() as s:
            s.add(
                DeadLetter(
                    source=_storable(source)[:256],
                    reason=_storable(reason),
                    payload=payload,
                    received_at=time.time(),
                )
            )

    def heartbeat(self, subject: str, data: bytes) -> None:
        env = Envelope.decode(data)
        agent_id = subject_agent(subject)
        if env.agent != agent_id or not AGENT_ID_RE.match(agent_id):
            raise ProtocolError(
                f"heartbeat agent {env.agent!r} does not match subject agent {agent_id!r}"
            )
        status = _json_value(env.body, "heartbeat body")
        with self.db.session() as s:
            _touch_agent(s, agent_id, time.time(), status)

    # --- consumers ---------------------------------------------------------------------------
    async def handle(self, msg: Msg) -> None:
        try:
            outcome, job_id = await asyncio.to_thread(self.apply, msg.subject, msg.data)
        except (ProtocolError, DataError) as e:
            reason = str(e) if isinstance(e, ProtocolError) else _data_error(e)
            await asyncio.to_thread(self.dead_letter, f"nats:{msg.subject}", reason, msg.data)
            self.dead_letters += 1
            log.warning("ingest.dead_letter", extra=kv(subject=msg.subject, reason=reason))
            await msg.ack()
            return
        except SQLAlchemyError as e:
            # The database is down or busy: the message is fine, so have it redelivered
            # later instead of letting the error end the consumer.
            self.retries += 1
            log.warning("ingest.retry_later", extra=kv(subject=msg.subject, error=_one_line(e)))
            await msg.nak(delay=RETRY_DELAY)
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


def _storable(text: str) -> str:
    return text.replace("\x00", "\\x00")


def _one_line(e: SQLAlchemyError) -> str:
    """The driver's message, first line only: without SQLAlchemy's SQL and parameters
    (which may hold a message's content)."""
    orig = getattr(e, "orig", None) or e
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__


def _data_error(e: DataError) -> str:
    return f"the database refused the message: {_one_line(e)}"
