"""Versioned, spec-driven workflows (docs/workflows.md).

- ``spec``: load and validate YAML/JSON specs into ``Workflow`` objects;
- ``expr``: the safe expression language of ``when`` and ``transform``;
- ``steps``: the step types and their registry;
- ``engine``: runs a workflow on a document, one committed step at a time;
- ``match``: picks the workflow for a document among the active ones.

The engine is a library: it never touches the store; its caller commits each outcome.
"""

from __future__ import annotations

from importlib import resources

from agent.workflow.document import Document
from agent.workflow.engine import (
    Engine,
    JobRequest,
    Outcome,
    RunStatus,
    Status,
    StepRecord,
    WorkflowRun,
)
from agent.workflow.expr import Expression, compile_expression
from agent.workflow.match import WorkflowSet
from agent.workflow.spec import Workflow, load_workflow, parse_workflow, validate_workflow
from agent.workflow.steps import DEFAULT_REGISTRY, Registry, default_registry

__all__ = [
    "DEFAULT_REGISTRY",
    "Document",
    "Engine",
    "Expression",
    "JobRequest",
    "Outcome",
    "Registry",
    "RunStatus",
    "Status",
    "StepRecord",
    "Workflow",
    "WorkflowRun",
    "WorkflowSet",
    "builtin_workflows",
    "compile_expression",
    "default_registry",
    "load_workflow",
    "parse_workflow",
    "validate_workflow",
]


def builtin_workflows() -> list[Workflow]:
    """The example specs shipped in ``agent/workflow/builtin/``, by file name."""
    folder = resources.files(__package__).joinpath("builtin")
    return [
        parse_workflow(f.read_bytes(), format="yaml", origin=f"builtin/{f.name}")
        for f in sorted(folder.iterdir(), key=lambda f: f.name)
        if f.name.endswith(".yaml")
    ]
