"""agent/protocol.py: the envelope codec, ids and subjects."""

from __future__ import annotations

import string
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.errors import ProtocolError, UnsupportedVersionError
from agent.protocol import (
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    STREAMS,
    Envelope,
    Kind,
    agent_consumer_name,
    command_subject,
    event_subject,
    heartbeat_subject,
    job_subject,
    new_id,
    require,
)

CROCKFORD = set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def _raw(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "v": PROTOCOL_VERSION,
        "id": "01HZZZZZZZZZZZZZZZZZZZZZZZ",
        "agent": "gw-1",
        "kind": Kind.HEARTBEAT,
        "ts": 1_700_000_000.5,
        "body": {"ok": True},
    }
    raw.update(overrides)
    return raw


def _pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def _decode_error(data: bytes) -> str:
    with pytest.raises(ProtocolError) as info:
        Envelope.decode(data)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- round trip -----------------------------------------------------------------------
def test_round_trip_keeps_every_field() -> None:
    env = Envelope(
        kind=Kind.DOCUMENT_PROCESSED,
        agent="gw-1",
        body={"document_id": "D1", "nested": {"list": [1, 2.5, "x", None]}, "raw": b"\x00\xff"},
        ts=1_700_000_000.25,
    )
    back = Envelope.decode(env.encode())
    assert back == env
    assert back.v == PROTOCOL_VERSION
    assert back.extra == {}


def test_integer_ts_decodes_as_float() -> None:
    env = Envelope.decode(_pack(_raw(ts=1_700_000_000)))
    assert env.ts == 1_700_000_000.0
    assert isinstance(env.ts, float)


def test_unknown_top_level_fields_are_kept_and_re_encoded() -> None:
    data = _pack(_raw(trace={"span": "abc"}, priority=3))
    env = Envelope.decode(data)
    assert env.extra == {"trace": {"span": "abc"}, "priority": 3}
    again = msgpack.unpackb(env.encode(), raw=False)
    assert again["trace"] == {"span": "abc"}
    assert again["priority"] == 3
    assert Envelope.decode(env.encode()) == env


def test_extra_cannot_override_the_named_fields() -> None:
    env = Envelope(kind="k", agent="gw-1", body={}, extra={"kind": "spoofed", "x": 1})
    raw = msgpack.unpackb(env.encode(), raw=False)
    assert raw["kind"] == "k"
    assert raw["x"] == 1


# --- versions ---------------------------------------------------------------------------
def test_newer_major_version_is_unsupported() -> None:
    with pytest.raises(UnsupportedVersionError, match=r"version 2 is newer"):
        Envelope.decode(_pack(_raw(v=PROTOCOL_VERSION + 1)))


@pytest.mark.parametrize("v", [0, -1])
def test_version_below_one_is_invalid(v: int) -> None:
    message = _decode_error(_pack(_raw(v=v)))
    assert "not valid" in message
    with pytest.raises(ProtocolError) as info:
        Envelope.decode(_pack(_raw(v=v)))
    assert not isinstance(info.value, UnsupportedVersionError)


# --- malformed input ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",  # never used in msgpack
        b"\x92\x01",  # array of 2 with one element: truncated
        b"\x81\xa1",  # map with a truncated key
        b"\x01\x02",  # trailing bytes after an int
        b"not msgpack at all, just some text",
    ],
    ids=["empty", "reserved-byte", "truncated-array", "truncated-map", "extra-data", "text"],
)
def test_garbage_bytes_are_not_msgpack(data: bytes) -> None:
    assert _decode_error(data).startswith("not a msgpack message")


def test_non_string_map_keys_are_refused() -> None:
    assert _decode_error(_pack({1: 2})).startswith("not a msgpack message")


@pytest.mark.parametrize(
    ("value", "type_name"),
    [([1, 2, 3], "list"), (42, "int"), ("text", "str"), (None, "NoneType")],
)
def test_non_map_envelopes_are_refused(value: Any, type_name: str) -> None:
    message = _decode_error(_pack(value))
    assert message == f"envelope is a msgpack {type_name}, expected a map"


@pytest.mark.parametrize("name", ["v", "id", "agent", "kind", "ts", "body"])
def test_each_missing_required_field_is_named(name: str) -> None:
    raw = _raw()
    del raw[name]
    assert _decode_error(_pack(raw)) == f"envelope has no {name!r} field"


@pytest.mark.parametrize(
    ("name", "value", "got"),
    [
        ("v", "1", "str"),
        ("v", 1.0, "float"),
        ("v", True, "bool"),
        ("id", 7, "int"),
        ("agent", None, "NoneType"),
        ("kind", b"heartbeat", "bytes"),
        ("ts", "now", "str"),
        ("ts", False, "bool"),
        ("body", [1], "list"),
        ("body", "x", "str"),
    ],
)
def test_wrong_field_types_are_named(name: str, value: Any, got: str) -> None:
    message = _decode_error(_pack(_raw(**{name: value})))
    assert message.startswith(f"envelope field {name!r} is {got}, expected ")


def test_oversized_message_is_refused_on_decode() -> None:
    data = _pack(_raw(body={"blob": b"x" * MAX_MESSAGE_BYTES}))
    assert len(data) > MAX_MESSAGE_BYTES
    message = _decode_error(data)
    assert f"{len(data)} bytes" in message
    assert str(MAX_MESSAGE_BYTES) in message


def test_oversized_message_is_refused_on_encode() -> None:
    env = Envelope(kind="big", agent="gw-1", body={"blob": b"x" * MAX_MESSAGE_BYTES})
    with pytest.raises(ProtocolError, match=r"^big message is \d+ bytes, over the") as info:
        env.encode()
    assert "\n" not in str(info.value)


def test_message_just_under_the_limit_round_trips() -> None:
    env = Envelope(kind="k", agent="gw-1", body={"blob": b""}, id="X", ts=1.0)
    overhead = len(env.encode())
    # bin32 header for large blobs is 5 bytes instead of bin8's 2
    blob = b"x" * (MAX_MESSAGE_BYTES - overhead - 3)
    big = Envelope(kind="k", agent="gw-1", body={"blob": blob}, id="X", ts=1.0)
    data = big.encode()
    assert len(data) == MAX_MESSAGE_BYTES
    assert Envelope.decode(data) == big


# --- fuzzing: decode only ever raises ProtocolError ---------------------------------------
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | st.binary(max_size=20)
)
_keys = st.sampled_from(["v", "id", "agent", "kind", "ts", "body", "x"]) | st.text(max_size=4)
_values = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_keys, children, max_size=3),
    max_leaves=6,
)
# One value of every msgpack type (and some edge values), so that each field meets each type.
_EACH_TYPE: list[Any] = [
    None, True, False, 0, -1, 2, 2**63, 2**64 - 1, 1.5, float("nan"), float("inf"), "", "1",
    "text", b"", b"x", [], [1], {}, {"a": 1},
]  # fmt: skip
_one_of_each_type = st.sampled_from(_EACH_TYPE)
_valid_fields: dict[str, st.SearchStrategy[Any]] = {
    "v": st.just(PROTOCOL_VERSION),
    "id": st.text(max_size=30),
    "agent": st.text(max_size=10),
    "kind": st.sampled_from([Kind.HEARTBEAT, Kind.JOB_RESULT]) | st.text(max_size=10),
    "ts": st.floats() | st.integers(min_value=-(2**63), max_value=2**64 - 1),
    "body": st.dictionaries(_keys, _values, max_size=3),
}


@st.composite
def _near_envelopes(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly well-formed envelopes with a field or two wrong, missing or extra."""
    raw = {name: draw(strategy) for name, strategy in _valid_fields.items()}
    for name in draw(st.lists(st.sampled_from(sorted(_valid_fields)), max_size=2)):
        if draw(st.integers(0, 3)) == 3:
            raw.pop(name, None)
        else:
            raw[name] = draw(_one_of_each_type | _values)
    raw.update(draw(st.dictionaries(st.text(max_size=6), _values, max_size=2)))
    return raw


_FUZZ = settings(max_examples=100, deadline=None, database=None)


def _decode_or_protocol_error(data: bytes) -> None:
    try:
        env = Envelope.decode(data)
    except ProtocolError as e:
        message = str(e)
    else:
        assert isinstance(env, Envelope)
        return
    assert "\n" not in message


@_FUZZ
@given(st.binary(max_size=256))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    _decode_or_protocol_error(data)


@settings(_FUZZ, max_examples=50)  # mostly maps without the required fields: cheap paths
@given(st.dictionaries(_keys, _values, max_size=8))
def test_fuzz_arbitrary_msgpack_maps(raw: dict[str, Any]) -> None:
    _decode_or_protocol_error(_pack(raw))


@_FUZZ
@given(_near_envelopes())
def test_fuzz_near_envelopes(raw: dict[str, Any]) -> None:
    _decode_or_protocol_error(_pack(raw))


@_FUZZ
@given(_values)
def test_fuzz_arbitrary_msgpack_values(value: Any) -> None:
    _decode_or_protocol_error(_pack(value))


def test_every_field_with_every_type() -> None:
    # Exhaustive companion of the fuzzing above: each field meets a value of each type.
    for name in ("v", "id", "agent", "kind", "ts", "body"):
        for value in _EACH_TYPE:
            _decode_or_protocol_error(_pack(_raw(**{name: value})))


# --- ids --------------------------------------------------------------------------------
def test_new_id_is_26_crockford_chars() -> None:
    value = new_id()
    assert len(value) == 26
    assert set(value) <= CROCKFORD


def test_new_ids_are_unique() -> None:
    ids = [new_id(now=1_700_000_000.0) for _ in range(5000)]
    assert len(set(ids)) == len(ids)


def test_new_ids_sort_by_time() -> None:
    times = [0.0, 0.002, 1.0, 1_700_000_000.0, 1_700_000_000.01, 1_700_000_001.5, 2**47 / 1000]
    ids = [new_id(now=t) for t in times]
    assert sorted(ids) == ids
    assert all(len(i) == 26 for i in ids)


def test_new_id_time_prefix_is_the_millisecond_timestamp() -> None:
    ms = 1_700_000_000_123
    prefix = new_id(now=ms / 1000)[:10]
    value = 0
    for ch in prefix:
        value = value * 32 + "0123456789ABCDEFGHJKMNPQRSTVWXYZ".index(ch)
    assert value == ms


# --- require --------------------------------------------------------------------------
def test_require_returns_the_value() -> None:
    assert require({"n": 3}, "n", int) == 3
    assert require({"x": 2.5}, "x", (int, float)) == 2.5
    assert require({"flag": True}, "flag", bool) is True


def test_require_missing_field() -> None:
    with pytest.raises(ProtocolError, match=r"^body has no 'size' field$"):
        require({}, "size", int)


@pytest.mark.parametrize(
    ("value", "typ", "expected"),
    [
        ("3", int, "body field 'n' is str, expected int"),
        (True, int, "body field 'n' is bool, expected int"),
        (False, (int, float), "body field 'n' is bool, expected int or float"),
        (None, str, "body field 'n' is NoneType, expected str"),
    ],
)
def test_require_wrong_type(value: Any, typ: Any, expected: str) -> None:
    with pytest.raises(ProtocolError) as info:
        require({"n": value}, "n", typ)
    assert str(info.value) == expected


# --- subjects ---------------------------------------------------------------------------
def test_subject_helpers() -> None:
    assert (
        event_subject("gw-1", Kind.DOCUMENT_PROCESSED) == "dwc.v1.agent.gw-1.evt.document.processed"
    )
    assert job_subject("gw-1") == "dwc.v1.agent.gw-1.job"
    assert command_subject("gw-1") == "dwc.v1.cmd.gw-1"
    assert heartbeat_subject("gw-1") == "dwc.v1.hb.gw-1"
    assert agent_consumer_name("gw-1") == "agent-gw-1"


def _matches(pattern: str, subject: str) -> bool:
    p, s = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(p) == len(s)


@pytest.mark.parametrize(
    ("subject", "stream"),
    [
        (event_subject("gw-1", Kind.DOCUMENT_PROCESSED), "DWC_EVENTS"),
        (job_subject("gw-1"), "DWC_JOBS"),
        (command_subject("gw-1"), "DWC_CMD"),
    ],
)
def test_each_subject_lands_in_exactly_one_stream(subject: str, stream: str) -> None:
    owners = [s.name for s in STREAMS if any(_matches(p, subject) for p in s.subjects)]
    assert owners == [stream]


def test_heartbeats_are_in_no_stream() -> None:
    subject = heartbeat_subject("gw-1")
    assert not any(_matches(p, subject) for s in STREAMS for p in s.subjects)


def test_agent_ids_in_subjects_are_single_tokens() -> None:
    allowed = set(string.ascii_letters + string.digits + "-_")
    for agent in ("gw-1", "GW_2", "a"):
        assert set(agent) <= allowed
        assert command_subject(agent).split(".")[-1] == agent
