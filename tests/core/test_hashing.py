"""dwc_core.content_id, blake3 and keccak256 against registry implementations."""

from __future__ import annotations

import blake3 as blake3_pypi
import pytest
from Crypto.Hash import keccak
from eth_hash.auto import keccak as eth_keccak
from hypothesis import given
from hypothesis import strategies as st

from dwc_core import blake3, content_id, keccak256


def test_known_vectors() -> None:
    assert content_id(b"") == "b3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
    assert keccak256(b"").hex() == (
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )


@given(st.binary(max_size=4096))
def test_blake3_matches_the_blake3_package(data: bytes) -> None:
    expected = blake3_pypi.blake3(data).digest()
    assert blake3(data) == expected
    assert content_id(data) == "b3:" + expected.hex()


@given(st.binary(max_size=4096))
def test_keccak256_matches_pycryptodome_and_eth_hash(data: bytes) -> None:
    expected = keccak.new(digest_bits=256, data=data).digest()
    assert keccak256(data) == expected
    assert eth_keccak(data) == expected


@given(st.text(max_size=200))
def test_str_is_hashed_as_utf8(text: str) -> None:
    raw = text.encode("utf-8", "surrogatepass")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            content_id(text)
        return
    assert content_id(text) == content_id(raw)
    assert keccak256(text) == keccak256(raw)
    assert blake3(text) == blake3(raw)


@pytest.mark.parametrize("size", [64 * 1024 - 1, 64 * 1024, (1 << 20) + 17, 3 << 20])
def test_large_inputs_take_the_detached_and_parallel_paths(size: int) -> None:
    data = bytes(i % 251 for i in range(size))
    assert blake3(data) == blake3_pypi.blake3(data).digest()
    assert keccak256(data) == keccak.new(digest_bits=256, data=data).digest()


def test_content_id_format() -> None:
    cid = content_id(b"document")
    assert cid.startswith("b3:")
    assert len(cid) == 3 + 64
    assert cid[3:] == cid[3:].lower()
    int(cid[3:], 16)


@pytest.mark.parametrize("bad", [None, 1, 1.5, bytearray(b"x"), memoryview(b"x"), ["a"]])
def test_other_types_are_refused(bad: object) -> None:
    for fn in (content_id, blake3, keccak256):
        with pytest.raises(TypeError, match="expected bytes or str"):
            fn(bad)  # type: ignore[arg-type]
