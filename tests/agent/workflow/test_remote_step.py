"""agent/workflow/steps/remote.py: the input map of a job request."""

from __future__ import annotations

from collections.abc import Callable

from agent.workflow.steps import StepContext
from agent.workflow.steps.remote import RemoteParams, build_input


def test_input_merges_literals_and_expressions(context: Callable[..., StepContext]) -> None:
    ctx = context(scope={"extract": {"text": "hello"}, "classify": {"label": "memo"}})
    params = RemoteParams.model_validate(
        {
            "input": {"max_sentences": 3, "style": {"x": [1]}},
            "input_from": {"text": "extract.text", "label": "classify.label", "none": "nope.x"},
        }
    )
    assert build_input(ctx, params) == {
        "max_sentences": 3,
        "style": {"x": [1]},
        "text": "hello",
        "label": "memo",
        "none": None,
    }


def test_strings_are_cut_to_whole_characters(context: Callable[..., StepContext]) -> None:
    ctx = context(scope={"extract": {"text": "ä" * 100}}, max_remote_text_bytes=9)
    params = RemoteParams.model_validate(
        {"input": {"n": 1}, "input_from": {"text": "extract.text"}}
    )
    assert build_input(ctx, params) == {"n": 1, "text": "ä" * 4}
