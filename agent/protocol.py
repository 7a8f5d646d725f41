"""The wire protocol between agents and the coordinator (docs/protocol.md is the contract).

Everything on the wire is a msgpack *envelope* ``{v, id, agent, kind, ts, body}``:

- ``v``: protocol major version (int). A newer major is refused with a clear reason;
- ``id``: a sortable unique id (ULID: 48-bit milliseconds + 80 random bits, Crockford
  base32), also sent as ``Nats-Msg-Id`` so JetStream drops duplicates;
- ``agent``: the sending or addressed agent's id; ``kind``: the message kind;
- ``ts``: sender's clock, unix seconds (float); ``body``: a map, per kind.

Unknown top-level fields are kept (``Envelope.extra``) and ignored. The coordinator
imports this module; it must stay free of agent internals.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from typing import Any, Final

import msgpack

from agent.errors import ProtocolError, UnsupportedVersionError

PROTOCOL_VERSION: Final = 1
MAX_MESSAGE_BYTES: Final = 1 << 20  # NATS' default max_payload

AGENT_ID_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

# --- subjects and streams -----------------------------------------------------------
SUBJECT_PREFIX: Final = f"dwc.v{PROTOCOL_VERSION}"


def event_subject(agent_id: str, kind: str) -> str:
    """agent -> coordinator events (stream DWC_EVENTS)."""
    return f"{SUBJECT_PREFIX}.agent.{agent_id}.evt.{kind}"


def job_subject(agent_id: str) -> str:
    """agent -> coordinator job requests (stream DWC_JOBS)."""
    return f"{SUBJECT_PREFIX}.agent.{agent_id}.job"


def command_subject(agent_id: str) -> str:
    """coordinator -> agent commands, job results, rollouts (stream DWC_CMD)."""
    return f"{SUBJECT_PREFIX}.cmd.{agent_id}"


def heartbeat_subject(agent_id: str) -> str:
    """agent heartbeats, core NATS (no stream)."""
    return f"{SUBJECT_PREFIX}.hb.{agent_id}"


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    max_age_seconds: float = 7 * 24 * 3600
    duplicate_window_seconds: float = 120.0


STREAMS: Final = (
    StreamSpec("DWC_EVENTS", (f"{SUBJECT_PREFIX}.agent.*.evt.>",)),
    StreamSpec("DWC_JOBS", (f"{SUBJECT_PREFIX}.agent.*.job",)),
    StreamSpec("DWC_CMD", (f"{SUBJECT_PREFIX}.cmd.*",)),
)


def agent_consumer_name(agent_id: str) -> str:
    """The durable consumer on DWC_CMD through which one agent receives its commands."""
    return f"agent-{agent_id}"


# --- message kinds --------------------------------------------------------------------
class Kind:
    DOCUMENT_PROCESSED: Final = "document.processed"
    JOB_REQUEST: Final = "job.request"
    JOB_RESULT: Final = "job.result"
    HEARTBEAT: Final = "heartbeat"


# --- ids ---------------------------------------------------------------------------------
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(now: float | None = None) -> str:
    """A ULID: 26 characters, lexicographically sortable by creation time (ms)."""
    ms = int((time.time() if now is None else now) * 1000)
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


# --- the envelope ----------------------------------------------------------------------
_REQUIRED: Final[dict[str, type | tuple[type, ...]]] = {
    "v": int,
    "id": str,
    "agent": str,
    "kind": str,
    "ts": (int, float),
    "body": dict,
}


@dataclass(frozen=True)
class Envelope:
    kind: str
    agent: str
    body: dict[str, Any]
    id: str = field(default_factory=new_id)
    ts: float = field(default_factory=time.time)
    v: int = PROTOCOL_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def encode(self) -> bytes:
        data = msgpack.packb(
            {
                **self.extra,
                "v": self.v,
                "id": self.id,
                "agent": self.agent,
                "kind": self.kind,
                "ts": self.ts,
                "body": self.body,
            },
            use_bin_type=True,
        )
        if len(data) > MAX_MESSAGE_BYTES:
            raise ProtocolError(
                f"{self.kind} message is {len(data)} bytes, over the {MAX_MESSAGE_BYTES}-byte limit"
            )
        return data

    @classmethod
    def decode(cls, data: bytes) -> Envelope:
        """Decode and validate; raises ProtocolError (or UnsupportedVersionError) with
        a one-line reason."""
        if len(data) > MAX_MESSAGE_BYTES:
            raise ProtocolError(
                f"message is {len(data)} bytes, over the {MAX_MESSAGE_BYTES}-byte limit"
            )
        try:
            raw = msgpack.unpackb(data, raw=False, strict_map_key=True)
        except Exception as e:  # msgpack raises several unrelated types
            raise ProtocolError(f"not a msgpack message: {type(e).__name__}: {e}") from None
        if not isinstance(raw, dict):
            raise ProtocolError(f"envelope is a msgpack {type(raw).__name__}, expected a map")
        for name, typ in _REQUIRED.items():
            if name not in raw:
                raise ProtocolError(f"envelope has no {name!r} field")
            if not isinstance(raw[name], typ) or isinstance(raw[name], bool):
                raise ProtocolError(
                    f"envelope field {name!r} is {type(raw[name]).__name__}, expected {_type_name(typ)}"
                )
        if raw["v"] > PROTOCOL_VERSION:
            raise UnsupportedVersionError(
                f"protocol version {raw['v']} is newer than this side's {PROTOCOL_VERSION}"
            )
        if raw["v"] < 1:
            raise ProtocolError(f"protocol version {raw['v']} is not valid")
        extra = {k: v for k, v in raw.items() if k not in _REQUIRED}
        return cls(
            kind=raw["kind"],
            agent=raw["agent"],
            body=raw["body"],
            id=raw["id"],
            ts=float(raw["ts"]),
            v=raw["v"],
            extra=extra,
        )


def _type_name(typ: type | tuple[type, ...]) -> str:
    if isinstance(typ, tuple):
        return " or ".join(t.__name__ for t in typ)
    return typ.__name__


def require(body: dict[str, Any], name: str, typ: type | tuple[type, ...]) -> Any:
    """Fetch a required body field of the given type, or raise ProtocolError naming it."""
    if name not in body:
        raise ProtocolError(f"body has no {name!r} field")
    value = body[name]
    if not isinstance(value, typ) or (isinstance(value, bool) and typ is not bool):
        raise ProtocolError(
            f"body field {name!r} is {type(value).__name__}, expected {_type_name(typ)}"
        )
    return value
