"""``hash``: the content id and the keccak256 leaf that anchoring puts in a Merkle tree.

``content_id`` is ``dwc_core.content_id`` (``"b3:"`` + the BLAKE3 digest in hex) of the
document's bytes (``of: content``, the default: the same id the agent stores for the
document) or of the UTF-8 text (``of: text``). ``leaf`` is ``dwc_core.keccak256`` of the
32 raw digest bytes that content id names (not of the content, not of the id's text),
as ``0x`` + 64 hex digits: anyone holding the content id can recompute it, and the
input to keccak is always 32 bytes.
"""

from __future__ import annotations

from typing import Any, Literal

import dwc_core
from agent.workflow.steps.base import ExprStr, Params, StepContext, StepType

__all__ = ["HASH", "HashParams", "leaf_of"]


class HashParams(Params):
    of: Literal["content", "text"] = "content"
    text: ExprStr | None = None
    """With ``of: text``: expression giving the text; default: the nearest upstream text."""

    def expressions(self) -> list[tuple[tuple[str | int, ...], str]]:
        return [(("text",), self.text)] if self.text is not None else []


def leaf_of(content_id: str) -> str:
    digest = bytes.fromhex(content_id.removeprefix("b3:"))
    return "0x" + dwc_core.keccak256(digest).hex()


def run(ctx: StepContext, p: HashParams) -> dict[str, Any]:
    data: bytes | str = ctx.document.data if p.of == "content" else ctx.text(p.text)
    content_id = dwc_core.content_id(data)
    return {"content_id": content_id, "leaf": leaf_of(content_id), "of": p.of}


HASH = StepType("hash", HashParams, run, "content id (BLAKE3) and keccak256 anchoring leaf")
