"""Text extraction for the document types the agent reads locally.

Supported: plain text (.txt, .text, .log, .csv), Markdown (.md), HTML (.html, .htm) and
JSON (.json: the string values, depth first), through ``extract_text``. PDF has its own
entry point, ``extract_pdf_text`` (pypdf, with page, size and decoding limits), used by
the workflow engine's ``extract`` step. Every failure is a DocumentError with a one-line
reason.
"""

from __future__ import annotations

import codecs
import io
import json
import re
from html.parser import HTMLParser
from pathlib import PurePath
from typing import Any

from agent.errors import DocumentError

MEDIA_TYPES = {
    ".txt": "text/plain",
    ".text": "text/plain",
    ".log": "text/plain",
    ".csv": "text/csv",
    ".md": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
    ".json": "application/json",
}

PDF_MEDIA_TYPE = "application/pdf"

_MAX_JSON_DEPTH = 64


def media_type_for(name: str) -> str | None:
    return MEDIA_TYPES.get(PurePath(name).suffix.lower())


class _TextOfHtml(HTMLParser):
    _SKIP = frozenset({"script", "style", "head", "template", "noscript"})
    _BLOCK = frozenset(
        {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "title", "td", "th"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self._skipping = 0  # </head> is optional: <body> ends whatever was skipped
        elif tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _json_strings(value: Any, out: list[str], depth: int = 0) -> None:
    if depth > _MAX_JSON_DEPTH:
        raise DocumentError(f"JSON nested deeper than {_MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for v in value.values():
            _json_strings(v, out, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _json_strings(v, out, depth + 1)


_MD_MARKUP = re.compile(
    r"^\s{0,3}(?:#{1,6}\s+|>\s?|[-*+]\s+(?=\S))|\*\*|__|`+|^\s*\|?[-:| ]{3,}\|?\s*$", re.MULTILINE
)


def _strip_markdown(text: str) -> str:
    """Drop Markdown markup that is not words: heading and quote marks, bullets,
    emphasis, code ticks, table rules and cell pipes."""
    text = _MD_MARKUP.sub("", text)
    return re.sub(r"\s*\|\s*", " ", text)


def _normalise_space(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def extract_text(name: str, data: bytes) -> tuple[str, str]:
    """Return ``(text, media_type)`` of a document, or raise DocumentError."""
    media_type = media_type_for(name)
    if media_type is None:
        supported = ", ".join(sorted(MEDIA_TYPES))
        raise DocumentError(
            f"unsupported file type {PurePath(name).suffix or '(none)'!r} (supported: {supported})"
        )
    if b"\x00" in data[:8192]:
        raise DocumentError("binary content (NUL bytes) in a text document")
    try:
        raw = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        # utf-8-sig reports offsets after the BOM; name the offset in the file
        offset = e.start + (len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0)
        raise DocumentError(f"not valid UTF-8 (invalid byte at offset {offset})") from None
    if media_type == "text/html":
        parser = _TextOfHtml()
        parser.feed(raw)
        parser.close()
        text = "".join(parser.parts)
    elif media_type == "application/json":
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError as e:
            raise DocumentError(
                f"invalid JSON: {e.msg} at line {e.lineno} column {e.colno}"
            ) from None
        except RecursionError:
            raise DocumentError(f"JSON nested deeper than {_MAX_JSON_DEPTH} levels") from None
        strings: list[str] = []
        _json_strings(parsed, strings)
        text = "\n".join(strings)
    elif media_type == "text/markdown":
        text = _strip_markdown(raw)
    else:
        text = raw
    text = _normalise_space(text)
    if not text:
        raise DocumentError("document has no text")
    return text, media_type


def is_pdf(name: str, data: bytes, content_type: str | None = None) -> bool:
    """A PDF by its content type, its ``.pdf`` suffix, or its ``%PDF-`` header."""
    return (
        content_type == PDF_MEDIA_TYPE
        or PurePath(name).suffix.lower() == ".pdf"
        or data[:1024].lstrip().startswith(b"%PDF-")
    )


def extract_pdf_text(
    data: bytes,
    *,
    max_pages: int = 200,
    max_chars: int = 2_000_000,
    max_stream_bytes: int = 32 << 20,
) -> tuple[str, int]:
    """Return ``(text, pages)`` of a PDF, or raise DocumentError.

    A PDF bomb is refused, not decoded: more than ``max_pages`` pages, more than
    ``max_chars`` characters of text, or any stream that decodes to more than
    ``max_stream_bytes`` (pypdf's own limits, set for this call only). Encrypted PDFs
    are read only if they open with the empty password; scans without a text layer
    have no text and are refused. CPU-bound: call it off the event loop."""
    try:
        import pypdf
        from pypdf.errors import LimitReachedError
    except ImportError:  # pragma: no cover - pypdf is a base dependency
        raise DocumentError("PDF support needs pypdf (pip install 'pypdf>=7.1,<8')") from None
    if not data[:1024].lstrip().startswith(b"%PDF-"):
        raise DocumentError("not a PDF (no %PDF- header)")
    limits: dict[str, Any] = {
        "maximum_declared_stream_length": max_stream_bytes,
        "array_based_stream_maximum_output_length": max_stream_bytes,
        "zlib_maximum_output_length": max_stream_bytes,
        "lzw_maximum_output_length": max_stream_bytes,
        "run_length_maximum_output_length": max_stream_bytes,
        "brotli_maximum_output_length": max_stream_bytes,
        "jbig2_maximum_output_length": max_stream_bytes,
        "image_maximum_buffer_size": max_stream_bytes,
        "stream_decoding_work_maximum_length": 4 * max_stream_bytes,
        "jbig2dec_binary": None,  # never run an outside program on input
    }
    parts: list[str] = []
    try:
        with pypdf.apply_configuration(**limits):
            reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted and not reader.decrypt(""):
                raise DocumentError("encrypted PDF (needs a password)")
            pages = len(reader.pages)
            if pages > max_pages:
                raise DocumentError(f"PDF has {pages} pages, over the limit of {max_pages}")
            total = 0
            for number, page in enumerate(reader.pages, start=1):
                text = page.extract_text() or ""
                total += len(text)
                if total > max_chars:
                    raise DocumentError(
                        f"PDF text is over the limit of {max_chars} characters (at page {number})"
                    )
                parts.append(text)
    except DocumentError:
        raise
    except LimitReachedError as e:
        raise DocumentError(f"PDF refused: a decoding limit was reached ({e})") from None
    except RecursionError:
        raise DocumentError("unreadable PDF: objects nested too deeply") from None
    except Exception as e:  # pypdf raises many types on malformed files
        raise DocumentError(f"unreadable PDF: {type(e).__name__}: {e}".splitlines()[0]) from None
    text = _normalise_space("\n".join(parts))
    if not text:
        raise DocumentError("PDF has no text layer (a scan?)")
    return text, pages
