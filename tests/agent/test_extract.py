"""agent/extract.py: text extraction per document type."""

from __future__ import annotations

import json

import pytest

from agent.errors import DocumentError
from agent.extract import MEDIA_TYPES, extract_text, media_type_for

BOM = b"\xef\xbb\xbf"


def _error(name: str, data: bytes) -> str:
    with pytest.raises(DocumentError) as info:
        extract_text(name, data)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("a.txt", "text/plain"),
        ("a.TXT", "text/plain"),
        ("a.log", "text/plain"),
        ("a.csv", "text/csv"),
        ("a.md", "text/markdown"),
        ("a.htm", "text/html"),
        ("dir.v2/a.html", "text/html"),
        ("a.json", "application/json"),
        ("a.pdf", None),
        ("README", None),
        ("archive.tar.gz", None),
    ],
)
def test_media_type_for(name: str, media_type: str | None) -> None:
    assert media_type_for(name) == media_type


def test_plain_text_whitespace_is_normalised() -> None:
    text, media_type = extract_text("a.txt", b"  Hello   world \r\n\n\n\tsecond\tline  \n")
    assert text == "Hello world\nsecond line"
    assert media_type == "text/plain"


def test_markdown_lines_are_kept() -> None:
    text, media_type = extract_text("notes.md", b"# Title\n\n- item  one\n\n\nlast line\n")
    lines = text.splitlines()
    assert len(lines) == 3
    assert "Title" in lines[0]
    assert "item one" in lines[1]
    assert lines[2] == "last line"
    assert media_type == "text/markdown"


def test_non_ascii_text() -> None:
    text, _ = extract_text("a.txt", "Grüße, 東京 — ok".encode())
    assert text == "Grüße, 東京 — ok"


def test_bom_is_dropped() -> None:
    text, _ = extract_text("a.txt", BOM + b"hello")
    assert text == "hello"


def test_html_skips_script_style_and_head_and_decodes_entities() -> None:
    html = b"""<!doctype html>
<html><head><title>Page title</title><style>p { color: red }</style></head>
<body>
<script>var hidden = "nope";</script>
<h1>Report &amp; summary</h1><p>Price &lt; 5&nbsp;EUR &#8364; &eacute;t&eacute;</p>
<template><p>templated</p></template><noscript>enable js</noscript>
<ul><li>one</li><li>two</li></ul>
</body></html>"""
    text, media_type = extract_text("page.html", html)
    assert media_type == "text/html"
    assert text.splitlines() == ["Report & summary", "Price < 5 EUR € été", "one", "two"]
    for hidden in ("Page title", "color", "nope", "templated", "enable js"):
        assert hidden not in text


def test_html_block_tags_separate_lines() -> None:
    text, _ = extract_text("a.html", b"<div>a</div><div>b<br>c</div>inline <b>bold</b> end")
    assert text == "a\nb\nc\ninline bold end"


def test_html_without_closing_head_keeps_the_body() -> None:
    # </head> is optional in HTML; the body must not be skipped with the head.
    html = b"<html><head><title>T</title><body><p>Hello &amp; bye</p></body></html>"
    text, _ = extract_text("a.html", html)
    assert text == "Hello & bye"


def test_html_with_only_script_has_no_text() -> None:
    assert _error("a.html", b"<script>alert(1)</script>") == "document has no text"


def test_json_strings_in_document_order() -> None:
    doc = {
        "title": "First",
        "n": 3,
        "flag": True,
        "none": None,
        "items": [{"a": "Second", "b": ["Third", 4.5]}, "Fourth"],
        "last": {"deep": {"deeper": "Fifth"}},
    }
    text, media_type = extract_text("a.json", json.dumps(doc).encode())
    assert media_type == "application/json"
    assert text.splitlines() == ["First", "Second", "Third", "Fourth", "Fifth"]


def test_json_top_level_string() -> None:
    assert extract_text("a.json", b'"just this"')[0] == "just this"


def test_json_without_strings_has_no_text() -> None:
    assert _error("a.json", b'{"a": 1, "b": [true, null]}') == "document has no text"


def test_json_with_bom() -> None:
    assert extract_text("a.json", BOM + b'{"a": "x"}')[0] == "x"


def test_invalid_json_names_the_position() -> None:
    message = _error("a.json", b'{"a": "x",\n "b": }')
    assert message.startswith("invalid JSON: ")
    assert "line 2 column" in message


def test_json_at_the_depth_limit_is_read() -> None:
    doc = "[" * 64 + '"deep"' + "]" * 64
    assert extract_text("a.json", doc.encode())[0] == "deep"


@pytest.mark.parametrize("depth", [65, 2_000, 10_000])
def test_json_nested_too_deep_is_a_document_error(depth: int) -> None:
    doc = "[" * depth + '"deep"' + "]" * depth
    assert _error("a.json", doc.encode()) == "JSON nested deeper than 64 levels"


def test_deep_json_objects_are_a_document_error() -> None:
    depth = 10_000
    doc = '{"a":' * depth + "1" + "}" * depth
    assert _error("a.json", doc.encode()) == "JSON nested deeper than 64 levels"


@pytest.mark.parametrize("name", ["a.pdf", "a.docx", "noext"])
def test_unsupported_extension(name: str) -> None:
    message = _error(name, b"hello")
    assert message.startswith("unsupported file type")
    assert all(ext in message for ext in MEDIA_TYPES)


def test_unsupported_extension_is_checked_before_content() -> None:
    assert _error("a.bin", b"\x00\x01").startswith("unsupported file type '.bin'")
    assert "'(none)'" in _error("Makefile", b"all:")


def test_binary_content() -> None:
    assert _error("a.txt", b"text\x00more") == "binary content (NUL bytes) in a text document"


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (b"\xffabc", 0),
        (b"abc\xe9def", 3),
        (b"ok \xe2\x82", 3),  # truncated 3-byte sequence
        (BOM + b"ab\xffcd", 5),  # counted from the start of the file, BOM included
    ],
)
def test_invalid_utf8_names_the_offset(data: bytes, offset: int) -> None:
    assert _error("a.txt", data) == f"not valid UTF-8 (invalid byte at offset {offset})"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("a.txt", b""),
        ("a.txt", b" \n\t\r\n  "),
        ("a.md", BOM),
        ("a.html", b"<p>  </p><br>"),
        ("a.json", b'["", "  "]'),
    ],
)
def test_empty_or_whitespace_only_has_no_text(name: str, data: bytes) -> None:
    assert _error(name, data) == "document has no text"


def test_large_text_document() -> None:
    line = b"The quick brown fox jumps over the lazy dog. 0123456789\n"
    data = line * (5 * 1024 * 1024 // len(line) + 1)
    assert len(data) > 5 * 1024 * 1024
    text, media_type = extract_text("big.txt", data)
    assert media_type == "text/plain"
    assert text.count("\n") == data.count(b"\n") - 1
    assert text.startswith("The quick brown fox")
