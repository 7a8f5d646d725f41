"""agent/workflow/steps/classify.py with the real document-type model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.errors import StepError
from agent.inference.onnx import TextClassifier
from agent.settings import REPO_ROOT
from agent.workflow.steps import StepContext

Step = Callable[[str, dict[str, Any], StepContext], dict[str, Any]]
DEMO = REPO_ROOT / "deploy" / "demo" / "documents"


def test_labels_a_text(
    step: Step, context: Callable[..., StepContext], classifier: TextClassifier
) -> None:
    text = (DEMO / "invoice_kestrel_pumps.txt").read_text()
    out = step("classify", {}, context(text=text, classifiers=[classifier]))
    assert out["label"] == "invoice"
    assert 0 < out["confidence"] <= 1
    assert out["model"] == f"{classifier.name}@{classifier.version}"


def test_text_from_an_expression_and_model_by_name(
    step: Step, context: Callable[..., StepContext], classifier: TextClassifier
) -> None:
    memo = (DEMO / "incident_forklift_near_miss.txt").read_text()
    ctx = context(text="unused", scope={"other": {"body": memo}}, classifiers=[classifier])
    out = step("classify", {"text": "other.body", "model": classifier.name}, ctx)
    assert out["label"] == "incident_report"


def test_errors(
    step: Step, context: Callable[..., StepContext], classifier: TextClassifier
) -> None:
    with pytest.raises(StepError, match="no classifier is loaded"):
        step("classify", {}, context(text="x"))
    with pytest.raises(StepError, match="no classifier named 'licence'"):
        step("classify", {"model": "licence"}, context(text="x", classifiers=[classifier]))
    with pytest.raises(StepError, match="no text to work on"):
        step("classify", {}, context(classifiers=[classifier]))
    with pytest.raises(StepError, match="gave int, not a string"):
        step("classify", {"text": "1"}, context(classifiers=[classifier]))


def test_model_dir_fixture_is_the_agent_model(model_dir: Path) -> None:
    assert (model_dir / "manifest.json").is_file()
