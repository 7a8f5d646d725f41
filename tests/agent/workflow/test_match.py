"""agent/workflow/match.py: picking the workflow for a document."""

from __future__ import annotations

import pytest

from agent.errors import WorkflowError
from agent.workflow import Document, Workflow, WorkflowSet, parse_workflow


def wf(name: str, match: str, version: str = "1.0.0") -> Workflow:
    return parse_workflow(
        f"name: {name}\nversion: {version}\nmatch: {match}\nsteps: [{{id: a, type: extract}}]"
    )


WORKFLOWS = WorkflowSet(
    [
        wf("catch-all", "{}"),
        wf("text", "{content_type: text/*}"),
        wf(
            "invoices", "{glob: ['invoice*', 'INV-*'], content_type: [text/plain, application/pdf]}"
        ),
        wf("scanner", "{source: scanner}"),
        wf("scanner-pdf", "{source: scanner, content_type: application/pdf}"),
        wf("json-a", "{content_type: application/json}"),
        wf("json-b", "{content_type: application/json}"),
    ]
)


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (Document("notes.md", b""), "text"),
        (Document("invoice-7.txt", b""), "invoices"),
        (Document("INV-7.pdf", b""), "invoices"),
        (Document("dir/invoice-7.txt", b""), "invoices"),  # the glob sees the file name
        (Document("invoice-7.md", b""), "text"),  # glob matches, content type does not
        (Document("Invoice-7.txt", b""), "text"),  # globs are case-sensitive
        (Document("x.bin", b"", source="scanner"), "scanner"),
        (Document("x.pdf", b"", source="scanner"), "scanner-pdf"),
        (Document("x", b"", content_type="application/pdf; v=1", source="scanner"), "scanner-pdf"),
        (Document("x.bin", b""), "catch-all"),
        (Document("x.json", b""), "json-a"),  # a tie goes to the first
        (Document("x", b"", content_type="TEXT/HTML"), "text"),
    ],
)
def test_most_specific_wins(doc: Document, expected: str) -> None:
    chosen = WORKFLOWS.match(doc)
    assert chosen is not None
    assert chosen.name == expected


def test_no_match() -> None:
    only = WorkflowSet([wf("text", "{content_type: text/*}")])
    assert only.match(Document("x.bin", b"")) is None


def test_versions_are_pinned() -> None:
    s = WorkflowSet([wf("a", "{}", "1.0.0"), wf("a", "{}", "1.1.0")])
    assert s.get("a", "1.1.0").version == "1.1.0"
    assert len(s) == 2
    assert [w.version for w in s] == ["1.0.0", "1.1.0"]
    with pytest.raises(KeyError, match=r"a@2.0.0 is not active"):
        s.get("a", "2.0.0")
    with pytest.raises(WorkflowError, match="already active"):
        s.add(wf("a", "{}", "1.0.0"))
