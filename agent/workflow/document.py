"""The document a workflow run works on, as the engine and its steps see it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["DOCUMENT_FIELDS", "Document"]

# What expressions can read as ``document.<field>`` (``metadata`` is a map).
DOCUMENT_FIELDS: Final = ("name", "source", "content_type", "size", "metadata")


@dataclass(frozen=True)
class Document:
    """``data`` is the raw content; ``text`` is optional text the caller already has
    (steps that need text use it when no earlier step produced any). ``metadata`` must
    hold JSON-like values: expressions can read it."""

    name: str
    data: bytes
    source: str = ""
    content_type: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    text: str | None = None

    def fields(self) -> dict[str, Any]:
        """The document as the expression scope's ``document`` map."""
        return {
            "name": self.name,
            "source": self.source,
            "content_type": self.content_type,
            "size": len(self.data),
            "metadata": dict(self.metadata),
        }
