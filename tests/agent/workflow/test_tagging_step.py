"""agent/workflow/steps/tagging.py: tag and route."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.workflow.steps import StepContext

Step = Callable[[str, dict[str, Any], StepContext], dict[str, Any]]
SCOPE = {"classify": {"label": "invoice", "confidence": 0.4}, "pii": {"count": 2}}


def test_tags(step: Step, context: Callable[..., StepContext]) -> None:
    params = {
        "tags": ["intake", "pii"],
        "rules": [
            {"when": "pii.count > 0", "tags": ["pii", "sensitive"]},
            {"when": "classify.confidence < 0.5", "tags": ["needs-review"]},
            {"when": "classify.label == 'memo'", "tags": ["memo"]},
        ],
    }
    out = step("tag", params, context(scope=SCOPE))
    assert out == {"tags": ["intake", "pii", "sensitive", "needs-review"]}


def test_route_first_rule_wins(step: Step, context: Callable[..., StepContext]) -> None:
    params = {
        "rules": [
            {"when": "classify.label == 'memo'", "to": "archive"},
            {"when": "classify.label == 'invoice'", "to": "accounts-payable"},
            {"when": "pii.count > 0", "to": "privacy"},
        ],
        "default": "archive",
    }
    assert step("route", params, context(scope=SCOPE)) == {"route": "accounts-payable", "rule": 1}


def test_route_default_and_none(step: Step, context: Callable[..., StepContext]) -> None:
    rules = [{"when": "classify.label == 'memo'", "to": "archive"}]
    assert step("route", {"rules": rules, "default": "inbox"}, context(scope=SCOPE)) == {
        "route": "inbox",
        "rule": None,
    }
    assert step("route", {"rules": rules}, context(scope=SCOPE)) == {"route": None, "rule": None}
