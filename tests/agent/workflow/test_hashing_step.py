"""agent/workflow/steps/hashing.py: content id and keccak256 anchoring leaf."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dwc_core
from agent.workflow import Document
from agent.workflow.steps import StepContext

Step = Callable[[str, dict[str, Any], StepContext], dict[str, Any]]


def test_content(step: Step, context: Callable[..., StepContext]) -> None:
    data = b"invoice 42\n"
    out = step("hash", {}, context(Document("a.txt", data)))
    assert out["content_id"] == dwc_core.content_id(data)
    # the leaf is keccak256 of the 32-byte BLAKE3 digest the content id names
    assert out["leaf"] == "0x" + dwc_core.keccak256(dwc_core.blake3(data)).hex()
    assert out["of"] == "content"


def test_text(step: Step, context: Callable[..., StepContext]) -> None:
    ctx = context(Document("a.txt", b"raw bytes"), text="Grüße")
    out = step("hash", {"of": "text"}, ctx)
    assert out["content_id"] == dwc_core.content_id("Grüße".encode())
    out2 = step("hash", {"of": "text", "text": "'Grüße'"}, ctx)
    assert out2["content_id"] == out["content_id"]


def test_known_vector(step: Step, context: Callable[..., StepContext]) -> None:
    out = step("hash", {}, context(Document("empty", b"")))
    # BLAKE3("") and keccak256 of its digest
    assert (
        out["content_id"] == "b3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
    )
    assert out["leaf"] == "0x" + dwc_core.keccak256(bytes.fromhex(out["content_id"][3:])).hex()
