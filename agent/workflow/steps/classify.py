"""``classify``: the label of a text, from a classifier the engine was given (the ONNX
document-type model, ``agent.inference.onnx.TextClassifier``)."""

from __future__ import annotations

from typing import Any

from agent.workflow.steps.base import ExprStr, Params, StepContext, StepType

__all__ = ["CLASSIFY", "ClassifyParams"]


class ClassifyParams(Params):
    text: ExprStr | None = None
    """Expression giving the text; default: the nearest upstream text."""
    model: str | None = None
    """Name of the classifier (its manifest's ``name``); default: the engine's first."""

    def expressions(self) -> list[tuple[tuple[str | int, ...], str]]:
        return [(("text",), self.text)] if self.text is not None else []


def run(ctx: StepContext, p: ClassifyParams) -> dict[str, Any]:
    classifier = ctx.resources.classifier(p.model)
    (prediction,) = classifier.predict([ctx.text(p.text)])
    return {
        "label": prediction.label,
        "confidence": round(float(prediction.confidence), 6),
        "model": f"{classifier.name}@{classifier.version}",
    }


CLASSIFY = StepType("classify", ClassifyParams, run, "label a text with an ONNX classifier")
