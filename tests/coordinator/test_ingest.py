"""coordinator/ingest.py: applying agent messages to the coordinator's store."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from agent.errors import ProtocolError, UnsupportedVersionError
from agent.protocol import (
    PROTOCOL_VERSION,
    Envelope,
    Kind,
    command_subject,
    event_subject,
    heartbeat_subject,
    job_subject,
    new_id,
)
from coordinator.ingest import Ingest, _touch_agent, subject_agent
from coordinator.store import Agent, Database, DeadLetter, Document, Event, Job

AGENT = "gw-1"
DOC_SUBJECT = event_subject(AGENT, Kind.DOCUMENT_PROCESSED)
JOB_SUBJECT = job_subject(AGENT)


@pytest.fixture
def db(database: Database) -> Database:
    """The store at head, on SQLite and on PostgreSQL (tests/coordinator/conftest.py)."""
    return database


@pytest.fixture
def ingest(db: Database) -> Ingest:
    return Ingest(db, link=None, on_job=lambda job_id: None)  # type: ignore[arg-type]


def _doc_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "document_id": "D1",
        "run_id": "R1",
        "content_id": "blake3:abc",
        "name": "invoice.txt",
        "media_type": "text/plain",
        "size": 1234,
        "label": "invoice",
        "confidence": 0.93,
        "model": "doctype@1",
        "workflow": "intake",
        "version": "1",
        "received_at": 1_700_000_000.5,
    }
    body.update(overrides)
    return body


def _job_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "job_id": "J1",
        "run_id": "R1",
        "document_id": "D1",
        "type": "ai.summarize",
        "input": {"text": "Some text.", "max_sentences": 3},
        "reply_to": command_subject(AGENT),
    }
    body.update(overrides)
    return body


def _env(kind: str, body: dict[str, Any], agent: str = AGENT, **kw: Any) -> bytes:
    return Envelope(kind=kind, agent=agent, body=body, **kw).encode()


def _count(db: Database, model: type) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def _protocol_error(ingest: Ingest, subject: str, data: bytes) -> str:
    with pytest.raises(ProtocolError) as info:
        ingest.apply(subject, data)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- subject_agent ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("subject", "agent"),
    [
        (event_subject("gw-1", Kind.DOCUMENT_PROCESSED), "gw-1"),
        (job_subject("gw_2"), "gw_2"),
        (heartbeat_subject("gw-3"), "gw-3"),
    ],
)
def test_subject_agent(subject: str, agent: str) -> None:
    assert subject_agent(subject) == agent


@pytest.mark.parametrize(
    "subject",
    [
        command_subject("gw-1"),
        "dwc.v1.agent",
        "dwc.v1.hb",
        "dwc.v1.hb.gw-1.extra",
        "dwc.v2.agent.gw-1.job",
        "other.subject",
        "",
    ],
)
def test_subject_agent_refuses_subjects_without_an_agent(subject: str) -> None:
    with pytest.raises(ProtocolError, match="names no agent"):
        subject_agent(subject)


# --- document.processed -----------------------------------------------------------------
def test_document_processed_creates_a_document(ingest: Ingest, db: Database) -> None:
    data = _env(Kind.DOCUMENT_PROCESSED, _doc_body())
    assert ingest.apply(DOC_SUBJECT, data) == ("applied", None)
    with db.session() as s:
        doc = s.get(Document, "D1")
        assert doc is not None
        assert doc.agent_id == AGENT
        assert (doc.run_id, doc.content_id, doc.name) == ("R1", "blake3:abc", "invoice.txt")
        assert (doc.media_type, doc.size, doc.label) == ("text/plain", 1234, "invoice")
        assert doc.confidence == pytest.approx(0.93)
        assert (doc.model, doc.workflow, doc.version) == ("doctype@1", "intake", "1")
        assert doc.received_at == 1_700_000_000.5
        assert doc.summary is None
        agent = s.get(Agent, AGENT)
        assert agent is not None
        assert agent.first_seen == agent.last_seen
        event = s.scalars(select(Event)).one()
        assert (event.agent_id, event.kind) == (AGENT, Kind.DOCUMENT_PROCESSED)


def test_the_same_bytes_again_are_a_duplicate(ingest: Ingest, db: Database) -> None:
    data = _env(Kind.DOCUMENT_PROCESSED, _doc_body())
    assert ingest.apply(DOC_SUBJECT, data) == ("applied", None)
    with db.session() as s:
        updated = s.get(Document, "D1").updated_at
    assert ingest.apply(DOC_SUBJECT, data) == ("duplicate", None)
    assert _count(db, Event) == 1
    assert _count(db, Document) == 1
    with db.session() as s:
        assert s.get(Document, "D1").updated_at == updated


def test_a_later_event_for_the_same_document_updates_it(ingest: Ingest, db: Database) -> None:
    ingest.apply(DOC_SUBJECT, _env(Kind.DOCUMENT_PROCESSED, _doc_body()))
    ingest.apply(DOC_SUBJECT, _env(Kind.DOCUMENT_PROCESSED, _doc_body(label="letter")))
    assert _count(db, Event) == 2
    with db.session() as s:
        assert s.get(Document, "D1").label == "letter"


def test_optional_fields_may_be_missing_or_odd(ingest: Ingest, db: Database) -> None:
    body = _doc_body(media_type=None, label=7, model=None)
    del body["confidence"]
    ingest.apply(DOC_SUBJECT, _env(Kind.DOCUMENT_PROCESSED, body))
    with db.session() as s:
        doc = s.get(Document, "D1")
        assert (doc.media_type, doc.label, doc.confidence, doc.model) == (None, None, None, None)


def test_long_names_are_cut(ingest: Ingest, db: Database) -> None:
    body = _doc_body(name="n" * 2000, content_id="c" * 200)
    ingest.apply(DOC_SUBJECT, _env(Kind.DOCUMENT_PROCESSED, body))
    with db.session() as s:
        doc = s.get(Document, "D1")
        assert len(doc.name) == 512
        assert len(doc.content_id) == 80


def test_a_document_of_another_agent_is_refused(ingest: Ingest, db: Database) -> None:
    ingest.apply(DOC_SUBJECT, _env(Kind.DOCUMENT_PROCESSED, _doc_body()))
    other = event_subject("gw-2", Kind.DOCUMENT_PROCESSED)
    message = _protocol_error(
        ingest, other, _env(Kind.DOCUMENT_PROCESSED, _doc_body(label="x"), agent="gw-2")
    )
    assert "belongs to agent 'gw-1'" in message
    assert _count(db, Event) == 1
    with db.session() as s:
        assert s.get(Document, "D1").label == "invoice"
        assert s.get(Agent, "gw-2") is None


def test_a_summary_computed_first_is_picked_up(ingest: Ingest, db: Database) -> None:
    ingest.apply(JOB_SUBJECT, _env(Kind.JOB_REQUEST, _job_body()))
    with db.session() as s:
        job = s.get(Job, "J1")
        job.status = "succeeded"
        job.output = {"summary": "Short.", "sentences": 1, "provider": "local"}
    ingest.apply(DOC_SUBJECT, _env(Kind.DOCUMENT_PROCESSED, _doc_body()))
    with db.session() as s:
        assert s.get(Document, "D1").summary == "Short."


@pytest.mark.parametrize(
    "field", ["document_id", "run_id", "content_id", "name", "size", "workflow", "version",
              "received_at"],
)  # fmt: skip
def test_missing_document_field_is_named(ingest: Ingest, db: Database, field: str) -> None:
    body = _doc_body()
    del body[field]
    message = _protocol_error(ingest, DOC_SUBJECT, _env(Kind.DOCUMENT_PROCESSED, body))
    assert message == f"body has no {field!r} field"
    assert _count(db, Event) == 0
    assert _count(db, Document) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("document_id", 1),
        ("run_id", None),
        ("name", b"bytes"),
        ("size", "1234"),
        ("size", 12.5),
        ("size", True),
        ("received_at", "yesterday"),
        ("received_at", False),
        ("confidence", "high"),
        ("confidence", True),
        ("confidence", [0.5]),
    ],
)
def test_wrong_typed_document_field_is_named(
    ingest: Ingest, db: Database, field: str, value: Any
) -> None:
    body = _doc_body(**{field: value})
    message = _protocol_error(ingest, DOC_SUBJECT, _env(Kind.DOCUMENT_PROCESSED, body))
    assert f"body field {field!r}" in message
    assert _count(db, Event) == 0
    assert _count(db, Document) == 0


# --- job.request --------------------------------------------------------------------------
def test_job_request_queues_a_job(ingest: Ingest, db: Database) -> None:
    outcome = ingest.apply(JOB_SUBJECT, _env(Kind.JOB_REQUEST, _job_body()))
    assert outcome == ("applied", "J1")
    with db.session() as s:
        job = s.get(Job, "J1")
        assert job is not None
        assert (job.agent_id, job.run_id, job.document_id) == (AGENT, "R1", "D1")
        assert (job.type, job.status, job.attempts) == ("ai.summarize", "queued", 0)
        assert job.input == {"text": "Some text.", "max_sentences": 3}
        assert job.output is None


def test_job_request_redelivered_is_a_duplicate(ingest: Ingest, db: Database) -> None:
    data = _env(Kind.JOB_REQUEST, _job_body())
    assert ingest.apply(JOB_SUBJECT, data) == ("applied", "J1")
    assert ingest.apply(JOB_SUBJECT, data) == ("duplicate", None)
    assert _count(db, Job) == 1


def test_same_job_under_another_message_id_is_refused(ingest: Ingest, db: Database) -> None:
    ingest.apply(JOB_SUBJECT, _env(Kind.JOB_REQUEST, _job_body()))
    message = _protocol_error(ingest, JOB_SUBJECT, _env(Kind.JOB_REQUEST, _job_body()))
    assert "job J1 already exists" in message
    assert _count(db, Event) == 1


@pytest.mark.parametrize("field", ["job_id", "input", "run_id", "type"])
def test_missing_job_field_is_named(ingest: Ingest, db: Database, field: str) -> None:
    body = _job_body()
    del body[field]
    assert _protocol_error(ingest, JOB_SUBJECT, _env(Kind.JOB_REQUEST, body)) == (
        f"body has no {field!r} field"
    )
    assert _count(db, Job) == 0
    assert _count(db, Event) == 0


@pytest.mark.parametrize(
    ("field", "value"), [("job_id", 5), ("input", "text"), ("run_id", 1.5), ("type", None)]
)
def test_wrong_typed_job_field_is_named(
    ingest: Ingest, db: Database, field: str, value: Any
) -> None:
    body = _job_body(**{field: value})
    assert f"body field {field!r}" in _protocol_error(
        ingest, JOB_SUBJECT, _env(Kind.JOB_REQUEST, body)
    )
    assert _count(db, Job) == 0


# --- envelope and subject checks -------------------------------------------------------
def test_envelope_agent_must_match_the_subject(ingest: Ingest, db: Database) -> None:
    data = _env(Kind.DOCUMENT_PROCESSED, _doc_body(), agent="gw-2")
    message = _protocol_error(ingest, DOC_SUBJECT, data)
    assert message == "envelope agent 'gw-2' does not match subject agent 'gw-1'"
    assert _count(db, Event) == 0
    assert _count(db, Agent) == 0


def test_invalid_agent_id_in_subject_is_refused(ingest: Ingest, db: Database) -> None:
    subject = "dwc.v1.agent.bad*id.job"
    data = _env(Kind.JOB_REQUEST, _job_body(), agent="bad*id")
    assert "does not match" in _protocol_error(ingest, subject, data)
    assert _count(db, Agent) == 0


def test_unknown_kind_commits_nothing(ingest: Ingest, db: Database) -> None:
    env_id = new_id()
    data = _env("document.exploded", {}, id=env_id)
    assert _protocol_error(ingest, DOC_SUBJECT, data) == "unknown message kind 'document.exploded'"
    with db.session() as s:
        assert s.get(Event, env_id) is None
        assert s.get(Agent, AGENT) is None


def test_undecodable_message(ingest: Ingest, db: Database) -> None:
    assert _protocol_error(ingest, DOC_SUBJECT, b"\xc1").startswith("not a msgpack message")
    assert _count(db, Event) == 0


def test_newer_protocol_version(ingest: Ingest) -> None:
    data = _env(Kind.DOCUMENT_PROCESSED, _doc_body(), v=PROTOCOL_VERSION + 1)
    with pytest.raises(UnsupportedVersionError):
        ingest.apply(DOC_SUBJECT, data)


# --- dead letters and heartbeats --------------------------------------------------------
def test_dead_letter_writes_a_row(ingest: Ingest, db: Database) -> None:
    ingest.dead_letter("nats:" + DOC_SUBJECT, "envelope has no 'v' field", b"\x80")
    ingest.dead_letter("x" * 1000, "no payload", None)
    with db.session() as s:
        rows = s.scalars(select(DeadLetter).order_by(DeadLetter.seq)).all()
        assert [(r.source, r.reason, r.payload) for r in rows] == [
            ("nats:" + DOC_SUBJECT, "envelope has no 'v' field", b"\x80"),
            ("x" * 256, "no payload", None),
        ]
        assert rows[0].received_at > 0


def test_heartbeat_creates_then_updates_the_agent(ingest: Ingest, db: Database) -> None:
    subject = heartbeat_subject(AGENT)
    ingest.heartbeat(subject, _env(Kind.HEARTBEAT, {"queued": 1}))
    with db.session() as s:
        agent = s.get(Agent, AGENT)
        assert agent.last_status == {"queued": 1}
        first_seen = agent.first_seen
        agent.last_seen = 0.0  # so the update is visible without waiting
    ingest.heartbeat(subject, _env(Kind.HEARTBEAT, {"queued": 2}))
    with db.session() as s:
        agent = s.get(Agent, AGENT)
        assert agent.last_status == {"queued": 2}
        assert agent.first_seen == first_seen
        assert agent.last_seen >= first_seen
    assert _count(db, Event) == 0  # heartbeats are not ledgered


def test_heartbeat_from_another_agent_is_refused(ingest: Ingest, db: Database) -> None:
    with pytest.raises(ProtocolError, match="heartbeat agent 'gw-2' does not match"):
        ingest.heartbeat(heartbeat_subject(AGENT), _env(Kind.HEARTBEAT, {}, agent="gw-2"))
    assert _count(db, Agent) == 0


def test_a_message_keeps_the_agent_status(ingest: Ingest, db: Database) -> None:
    ingest.heartbeat(heartbeat_subject(AGENT), _env(Kind.HEARTBEAT, {"queued": 1}))
    ingest.apply(DOC_SUBJECT, _env(Kind.DOCUMENT_PROCESSED, _doc_body()))
    with db.session() as s:
        assert s.get(Agent, AGENT).last_status == {"queued": 1}


# --- what a database would refuse: refused first, on both backends ----------------------
# PostgreSQL enforces String(n) and refuses NUL characters and NaN in JSON; SQLite stores
# NaN as NULL. Each of these must be a ProtocolError (a dead letter), never a database
# error at commit (a message that is never acked and comes back forever).
@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("document_id", "D" * 33, "over the limit of 32"),
        ("run_id", "R" * 33, "over the limit of 32"),
        ("version", "9" * 33, "over the limit of 32"),
        ("workflow", "w" * 129, "over the limit of 128"),
        ("label", "l" * 65, "over the limit of 64"),
        ("media_type", "m" * 65, "over the limit of 64"),
        ("model", "m" * 129, "over the limit of 128"),
        ("name", "invoice\x00.txt", "NUL"),
        ("label", "in\x00voice", "NUL"),
        ("size", -1, "out of range"),
        ("size", 1 << 63, "out of range"),
        ("size", (1 << 64) - 1, "out of range"),
        ("received_at", float("nan"), "not a finite number"),
        ("received_at", float("inf"), "not a finite number"),
        ("confidence", float("nan"), "not a finite number"),
    ],
    ids=lambda v: repr(v)[:20] if not isinstance(v, str) else v[:20],
)
def test_a_document_field_the_database_would_refuse(
    ingest: Ingest, db: Database, field: str, value: Any, needle: str
) -> None:
    message = _protocol_error(
        ingest, DOC_SUBJECT, _env(Kind.DOCUMENT_PROCESSED, _doc_body(**{field: value}))
    )
    assert repr(field) in message
    assert needle in message
    assert _count(db, Event) == 0
    assert _count(db, Document) == 0


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("job_id", "J" * 33, "over the limit of 32"),
        ("run_id", "R" * 33, "over the limit of 32"),
        ("document_id", "D" * 33, "over the limit of 32"),
        ("type", "t" * 65, "over the limit of 64"),
        ("type", "ai.\x00", "NUL"),
        ("input", {"x": float("nan")}, "cannot be stored as JSON"),
        ("input", {"x": b"bytes"}, "cannot be stored as JSON"),
    ],
    ids=lambda v: repr(v)[:20] if not isinstance(v, str) else v[:20],
)
def test_a_job_field_the_database_would_refuse(
    ingest: Ingest, db: Database, field: str, value: Any, needle: str
) -> None:
    message = _protocol_error(
        ingest, JOB_SUBJECT, _env(Kind.JOB_REQUEST, _job_body(**{field: value}))
    )
    assert repr(field) in message
    assert needle in message
    assert _count(db, Job) == 0
    assert _count(db, Event) == 0


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"id": "E" * 33}, "envelope field 'id' is 33 characters long, over the limit of 32"),
        ({"id": "01J\x00"}, "envelope field 'id' contains a NUL character"),
        ({"ts": float("nan")}, "envelope field 'ts' is nan, not a finite number"),
        ({"kind": "k" * 100}, "unknown message kind"),
    ],
    ids=["long-id", "nul-id", "nan-ts", "long-kind"],
)
def test_an_envelope_the_database_would_refuse(
    ingest: Ingest, db: Database, kw: dict[str, Any], needle: str
) -> None:
    kw = dict(kw)  # the parameter is shared by both backends' runs
    kind = kw.pop("kind", Kind.DOCUMENT_PROCESSED)
    message = _protocol_error(ingest, DOC_SUBJECT, _env(kind, _doc_body(), **kw))
    assert needle in message
    assert _count(db, Event) == 0


def test_values_at_the_limits_are_stored_as_sent(ingest: Ingest, db: Database) -> None:
    """The longest values that fit, multi-byte text (limits count characters), a size
    over 4 GiB, sub-microsecond times and JSON with a NUL escape and non-ASCII keys."""
    env_id = "E" * 32
    body = _doc_body(
        document_id="D" * 32,
        run_id="R" * 32,
        version="9" * 32,
        workflow="w" * 128,
        label="ü" * 64,
        media_type="m" * 64,
        model="🙂" * 128,
        name="名" * 512,
        size=(1 << 63) - 1,
        received_at=1_732_525_678.123_456_7,
        confidence=0.1 + 0.2,
    )
    assert ingest.apply(DOC_SUBJECT, _env(Kind.DOCUMENT_PROCESSED, body, id=env_id, ts=1e-7))
    payload = {"text": "a\x00b", "ключ": [1.5, -(1 << 63), None, True], "nested": {"x": {}}}
    job = _job_body(job_id="J" * 32, document_id="D" * 32, type="t" * 64, input=payload)
    assert ingest.apply(JOB_SUBJECT, _env(Kind.JOB_REQUEST, job))[1] == "J" * 32
    with db.session() as s:
        doc = s.get(Document, "D" * 32)
        assert doc is not None
        assert (doc.label, doc.model, doc.name) == ("ü" * 64, "🙂" * 128, "名" * 512)
        assert doc.size == (1 << 63) - 1
        assert doc.received_at == 1_732_525_678.123_456_7  # exact: a double on both backends
        assert doc.confidence == 0.1 + 0.2
        assert s.get(Event, env_id).ts == 1e-7
        assert s.get(Job, "J" * 32).input == payload


def test_a_heartbeat_the_database_would_refuse(ingest: Ingest, db: Database) -> None:
    with pytest.raises(ProtocolError, match="heartbeat body cannot be stored as JSON"):
        ingest.heartbeat(heartbeat_subject(AGENT), _env(Kind.HEARTBEAT, {"load": float("nan")}))
    long_agent = "a" * 65
    with pytest.raises(ProtocolError, match="does not match"):
        ingest.heartbeat(heartbeat_subject(long_agent), _env(Kind.HEARTBEAT, {}, agent=long_agent))
    assert _count(db, Agent) == 0


def test_a_dead_letter_with_a_nul_is_stored(ingest: Ingest, db: Database) -> None:
    ingest.dead_letter("nats:a\x00b", "reason \x00", b"\x00\xff")
    with db.session() as s:
        row = s.scalars(select(DeadLetter)).one()
        assert (row.source, row.reason, row.payload) == (
            "nats:a\\x00b",
            "reason \\x00",
            b"\x00\xff",
        )


def test_a_new_agent_seen_by_two_consumers_at_once(ingest: Ingest, db: Database) -> None:
    """The events and the jobs consumer both meet a new agent: the second insert waits
    for the first transaction and must then update the row, not fail on the key."""
    outcome: list[object] = []

    def job_request() -> None:
        try:
            outcome.append(ingest.apply(JOB_SUBJECT, _env(Kind.JOB_REQUEST, _job_body())))
        except Exception as e:
            outcome.append(e)

    with db.session() as s:
        _touch_agent(s, AGENT, 1.0)
        s.flush()
        other = threading.Thread(target=job_request)
        other.start()
        time.sleep(0.5)  # let the other transaction reach its insert and wait on this one
    other.join(timeout=30)
    assert outcome == [("applied", "J1")]
    with db.session() as s:
        agent = s.get(Agent, AGENT)
        assert agent.first_seen == 1.0
        assert agent.last_seen > 1.0


# --- handle: ack, dead letter or retry ---------------------------------------------------
class FakeMsg:
    def __init__(self, subject: str, data: bytes) -> None:
        self.subject, self.data = subject, data
        self.acked = 0
        self.naks: list[float | None] = []

    async def ack(self) -> None:
        self.acked += 1

    async def nak(self, delay: float | None = None) -> None:
        self.naks.append(delay)


async def test_handle_acks_after_applying(ingest: Ingest, db: Database) -> None:
    jobs: list[str] = []
    ingest.on_job = jobs.append
    msg = FakeMsg(JOB_SUBJECT, _env(Kind.JOB_REQUEST, _job_body()))
    await ingest.handle(msg)  # type: ignore[arg-type]
    assert (msg.acked, msg.naks, jobs) == (1, [], ["J1"])
    assert (ingest.applied, ingest.dead_letters) == (1, 0)


async def test_handle_dead_letters_a_bad_message_and_acks(ingest: Ingest, db: Database) -> None:
    msg = FakeMsg(DOC_SUBJECT, _env(Kind.DOCUMENT_PROCESSED, _doc_body(document_id="D" * 40)))
    await ingest.handle(msg)  # type: ignore[arg-type]
    assert (msg.acked, msg.naks, ingest.dead_letters) == (1, [], 1)
    with db.session() as s:
        row = s.scalars(select(DeadLetter)).one()
        assert row.source == "nats:" + DOC_SUBJECT
        assert "'document_id' is 40 characters long" in row.reason
        assert row.payload == msg.data


async def test_handle_dead_letters_a_data_error_it_did_not_foresee(
    ingest: Ingest, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DataError depends on the message, so retrying cannot help: dead letter, ack."""
    from sqlalchemy.exc import DataError

    def refuse(subject: str, data: bytes) -> tuple[str, str | None]:
        raise DataError("INSERT ...", {"secret": "x"}, Exception("value too long\nDETAIL: ..."))

    monkeypatch.setattr(ingest, "apply", refuse)
    msg = FakeMsg(DOC_SUBJECT, b"payload")
    await ingest.handle(msg)  # type: ignore[arg-type]
    assert (msg.acked, msg.naks) == (1, [])
    with db.session() as s:
        row = s.scalars(select(DeadLetter)).one()
        assert row.reason == "the database refused the message: value too long"


async def test_handle_leaves_a_message_for_later_when_the_database_is_down(
    ingest: Ingest, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    def down(subject: str, data: bytes) -> tuple[str, str | None]:
        raise OperationalError("SELECT 1", None, Exception("connection refused"))

    monkeypatch.setattr(ingest, "apply", down)
    msg = FakeMsg(DOC_SUBJECT, _env(Kind.DOCUMENT_PROCESSED, _doc_body()))
    await ingest.handle(msg)  # type: ignore[arg-type]
    assert msg.acked == 0
    assert msg.naks == [pytest.approx(2.0)]
    assert (ingest.retries, ingest.dead_letters) == (1, 0)
    assert _count(db, DeadLetter) == 0
