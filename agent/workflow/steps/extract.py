"""``extract``: the document's text, by its type (txt, md, html, json through
``agent.extract.extract_text``; pdf through ``agent.extract.extract_pdf_text``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from agent.errors import StepError
from agent.extract import (
    MEDIA_TYPES,
    PDF_MEDIA_TYPE,
    extract_pdf_text,
    extract_text,
    is_pdf,
    media_type_for,
)
from agent.workflow.steps.base import Params, StepContext, StepType

__all__ = ["EXTRACT", "ExtractParams"]

_SUFFIX_OF = {media: suffix for suffix, media in reversed(MEDIA_TYPES.items())}


class ExtractParams(Params):
    max_bytes: int = Field(16 << 20, ge=1, le=1 << 30)
    """Documents larger than this are refused."""
    max_chars: int = Field(2_000_000, ge=1, le=100_000_000)
    """Text longer than this is refused (it is committed as the step's output)."""
    max_pages: int = Field(200, ge=1, le=100_000)
    """PDFs with more pages are refused."""
    max_stream_bytes: int = Field(32 << 20, ge=1024, le=1 << 30)
    """A PDF stream that decodes to more than this is refused (a decompression bomb)."""


def run(ctx: StepContext, p: ExtractParams) -> dict[str, Any]:
    doc = ctx.document
    if len(doc.data) > p.max_bytes:
        raise StepError(f"document is {len(doc.data)} bytes, over max_bytes={p.max_bytes}")
    out: dict[str, Any]
    if is_pdf(doc.name, doc.data, doc.content_type):
        text, pages = extract_pdf_text(
            doc.data,
            max_pages=p.max_pages,
            max_chars=p.max_chars,
            max_stream_bytes=p.max_stream_bytes,
        )
        out = {"media_type": PDF_MEDIA_TYPE, "pages": pages}
    else:
        name = doc.name
        if media_type_for(name) is None and doc.content_type in _SUFFIX_OF:
            name = f"document{_SUFFIX_OF[doc.content_type]}"  # typed by content type alone
        text, media_type = extract_text(name, doc.data)
        out = {"media_type": media_type}
    if len(text) > p.max_chars:
        raise StepError(f"text is {len(text)} characters, over max_chars={p.max_chars}")
    return {"text": text, "chars": len(text), **out}


EXTRACT = StepType("extract", ExtractParams, run, "text from txt, md, html, json and pdf")
