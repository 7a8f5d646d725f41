"""agent/workflow/steps/extract.py and agent.extract.extract_pdf_text: text of every
supported type, PDFs included, and bad input refused with a clear error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agent.errors import AgentError, DocumentError, StepError
from agent.extract import extract_pdf_text, is_pdf
from agent.workflow import Document
from agent.workflow.steps import StepContext

Step = Callable[[str, dict[str, Any], StepContext], dict[str, Any]]
Ctx = Callable[..., StepContext]


def extract(step: Step, context: Ctx, doc: Document, **params: Any) -> dict[str, Any]:
    return step("extract", params, context(doc))


def test_text_types(step: Step, context: Ctx) -> None:
    out = extract(step, context, Document("a.md", b"# Title\n\n- one\n"))
    assert out == {"text": "Title\none", "chars": 9, "media_type": "text/markdown"}
    html = Document("page", b"<p>Hello <b>there</b></p>", content_type="text/html")
    assert extract(step, context, html)["text"] == "Hello there"  # typed by content type


def test_pdf(step: Step, context: Ctx, pdf: Callable[..., bytes]) -> None:
    out = extract(step, context, Document("scan.pdf", pdf(["Invoice 42", "Total (EUR) 12.00"])))
    assert out == {
        "text": "Invoice 42\nTotal (EUR) 12.00",
        "chars": 28,
        "media_type": "application/pdf",
        "pages": 2,
    }
    # compressed streams, and found by its header without a .pdf name
    data = pdf(["compressed page"], compress=True)
    assert is_pdf("upload.bin", data)
    assert extract(step, context, Document("upload.bin", data))["text"] == "compressed page"


def test_pdf_bomb_is_refused(pdf: Callable[..., bytes]) -> None:
    # one page whose content stream inflates from ~8 KB to 8 MiB
    bomb = pdf([], raw_streams=[b"BT (" + b" " * (8 << 20) + b") Tj ET"])
    assert len(bomb) < 100_000
    with pytest.raises(DocumentError, match="PDF refused: a decoding limit was reached"):
        extract_pdf_text(bomb, max_stream_bytes=1 << 20)


def test_pdf_limits(step: Step, context: Ctx, pdf: Callable[..., bytes]) -> None:
    many = Document("many.pdf", pdf(["page"] * 6))
    with pytest.raises(DocumentError, match="PDF has 6 pages, over the limit of 5"):
        extract(step, context, many, max_pages=5)
    long = Document("long.pdf", pdf(["x" * 400, "y" * 400]))
    with pytest.raises(DocumentError, match="over the limit of 500 characters \\(at page 2\\)"):
        extract(step, context, long, max_chars=500)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"%PDF-1.4\ngarbage", "unreadable PDF"),
        (b"not a pdf at all", "no %PDF- header"),
    ],
)
def test_bad_pdfs(data: bytes, words: str) -> None:
    with pytest.raises(DocumentError, match=words) as info:
        extract_pdf_text(data)
    assert "\n" not in str(info.value)


def test_pdf_without_text(pdf: Callable[..., bytes]) -> None:
    with pytest.raises(DocumentError, match="no text layer"):
        extract_pdf_text(pdf([], raw_streams=[b"0 0 m 100 100 l S"]))


def test_size_and_length_limits(step: Step, context: Ctx) -> None:
    with pytest.raises(StepError, match="over max_bytes=10"):
        extract(step, context, Document("a.txt", b"x" * 11), max_bytes=10)
    with pytest.raises(StepError, match="over max_chars=5"):
        extract(step, context, Document("a.txt", b"abcdefgh"), max_chars=5)


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("a.bin", b"\x00\x01", "unsupported file type"),
        ("a.txt", b"ab\x00cd", "binary content"),
        ("a.txt", b"\xff\xfe\xfa", "not valid UTF-8"),
        ("a.json", b"{", "invalid JSON"),
    ],
)
def test_bad_input_is_a_permanent_error(
    step: Step, context: Ctx, name: str, data: bytes, words: str
) -> None:
    with pytest.raises(AgentError, match=words):
        extract(step, context, Document(name, data))
