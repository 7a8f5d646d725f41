"""Which workflow a document goes through, among those active on the agent.

A workflow's ``match`` holds up to three criteria: ``source`` (the name of the source
that took the document in, exactly), ``glob`` (shell-style pattern on the document's
file name, case-sensitive) and ``content_type`` (``type/subtype`` or ``type/*``;
parameters such as ``; charset=utf-8`` are ignored). A workflow matches when every
criterion it gives holds, and a criterion holds when any of its values does. Among
the matching workflows the most specific wins (the one giving the most criteria); ties
go to the one listed first. A workflow without criteria matches everything.

A run pins the version it started with: look it up again with ``get(name, version)``,
not with ``match``, when resuming.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from fnmatch import fnmatchcase
from pathlib import PurePath

from agent.errors import WorkflowError
from agent.extract import PDF_MEDIA_TYPE, media_type_for
from agent.workflow.document import Document
from agent.workflow.spec import MatchSpec, Workflow

__all__ = ["WorkflowSet", "content_type_of", "matches"]


def content_type_of(document: Document) -> str | None:
    """The document's content type as given, else as its file name suggests."""
    if document.content_type:
        return document.content_type.split(";", 1)[0].strip().lower()
    if PurePath(document.name).suffix.lower() == ".pdf":
        return PDF_MEDIA_TYPE
    return media_type_for(document.name)


def _type_matches(pattern: str, content_type: str | None) -> bool:
    if content_type is None:
        return False
    if pattern.endswith("/*"):
        return content_type.startswith(pattern[:-1])
    return content_type == pattern


def matches(match: MatchSpec, document: Document) -> bool:
    if match.source is not None and document.source not in match.source:
        return False
    if match.glob is not None:
        name = PurePath(document.name).name
        if not any(fnmatchcase(name, g) for g in match.glob):
            return False
    if match.content_type is not None:
        ct = content_type_of(document)
        if not any(_type_matches(p, ct) for p in match.content_type):
            return False
    return True


class WorkflowSet:
    """The active workflows, in priority order (earlier wins ties)."""

    def __init__(self, workflows: Iterable[Workflow] = ()) -> None:
        self._workflows: list[Workflow] = []
        for wf in workflows:
            self.add(wf)

    def add(self, workflow: Workflow) -> None:
        if any(w.key == workflow.key for w in self._workflows):
            raise WorkflowError(f"workflow {workflow.key} is already active")
        self._workflows.append(workflow)

    def __iter__(self) -> Iterator[Workflow]:
        return iter(self._workflows)

    def __len__(self) -> int:
        return len(self._workflows)

    def get(self, name: str, version: str) -> Workflow:
        for w in self._workflows:
            if w.name == name and w.version == version:
                return w
        raise KeyError(f"workflow {name}@{version} is not active")

    def match(self, document: Document) -> Workflow | None:
        """The most specific matching workflow (ties: the earlier), or None."""
        best: Workflow | None = None
        for w in self._workflows:
            if matches(w.match, document) and (
                best is None or w.match.specificity() > best.match.specificity()
            ):
                best = w
        return best
