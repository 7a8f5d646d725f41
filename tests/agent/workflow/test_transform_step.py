"""agent/workflow/steps/transform.py: fields from expressions and field operations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agent.errors import StepError
from agent.workflow import Document
from agent.workflow.steps import StepContext

Step = Callable[[str, dict[str, Any], StepContext], dict[str, Any]]


def test_fields_then_ops(step: Step, context: Callable[..., StepContext]) -> None:
    ctx = context(
        Document("INV-42.txt", b"x", source="inbox", metadata={"customer": "  Acme  "}),
        scope={"classify": {"label": "invoice", "confidence": 0.9}},
    )
    params = {
        "fields": {
            "label": "upper(classify.label)",
            "sure": "classify.confidence > 0.8",
            "customer": "document.metadata.customer",
            "name": "lower(document.name)",
        },
        "ops": [
            {"op": "strip", "field": "customer"},
            {"op": "lower", "field": "customer"},
            {"op": "set", "field": "status", "value": "new"},
            {"op": "default", "field": "status", "value": "ignored"},
            {"op": "default", "field": "owner", "value": "ap"},
            {"op": "eval", "field": "is_pdf", "expr": "startswith(document.name, 'x')"},
            {"op": "rename", "field": "name", "to": "file"},
            {"op": "rename", "field": "missing", "to": "nothing"},
            {"op": "truncate", "field": "file", "max_chars": 6},
            {"op": "delete", "field": "sure"},
            {"op": "upper", "field": "absent"},
        ],
    }
    assert step("transform", params, ctx) == {
        "label": "INVOICE",
        "customer": "acme",
        "status": "new",
        "owner": "ap",
        "is_pdf": False,
        "file": "inv-42",
    }


def test_string_op_on_a_number(step: Step, context: Callable[..., StepContext]) -> None:
    with pytest.raises(StepError, match="lower: field 'n' is int, not a string"):
        step("transform", {"fields": {"n": "1"}, "ops": [{"op": "lower", "field": "n"}]}, context())
