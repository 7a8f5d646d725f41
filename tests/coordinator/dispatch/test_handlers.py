"""coordinator/dispatch/handlers.py: job handlers by job type."""

from __future__ import annotations

from typing import Any

import pytest

from coordinator.dispatch.handlers import HANDLERS, run_handler

TEXT = (
    "Pumps move water through the plant every day. "
    "The plant has three pumps and two tanks. "
    "Each pump is checked by the plant engineer weekly."
)


def test_ai_summarize() -> None:
    out = run_handler("ai.summarize", {"text": TEXT, "max_sentences": 2})
    assert out["provider"] == "local"
    assert out["sentences"] == 2
    assert isinstance(out["summary"], str)
    assert out["summary"]


def test_ai_summarize_defaults_to_three_sentences() -> None:
    assert run_handler("ai.summarize", {"text": TEXT})["sentences"] == 3


def test_known_types() -> None:
    assert set(HANDLERS) == {"ai.summarize"}


@pytest.mark.parametrize("job_type", ["ai.translate", "", "AI.SUMMARIZE"])
def test_unknown_job_type_is_named(job_type: str) -> None:
    with pytest.raises(ValueError, match="unknown job type") as info:
        run_handler(job_type, {"text": TEXT})
    message = str(info.value)
    assert f"unknown job type {job_type!r}" in message
    assert "ai.summarize" in message  # lists the known ones


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "input.text"),
        ({"text": None}, "input.text"),
        ({"text": b"bytes"}, "input.text"),
        ({"text": ["a"]}, "input.text"),
        ({"text": TEXT, "max_sentences": "3"}, "input.max_sentences"),
        ({"text": TEXT, "max_sentences": 2.0}, "input.max_sentences"),
        ({"text": TEXT, "max_sentences": True}, "input.max_sentences"),
        ({"text": TEXT, "max_sentences": None}, "input.max_sentences"),
        ({"text": TEXT, "max_sentences": 0}, "max_sentences"),
        ({"text": TEXT, "max_sentences": 100}, "max_sentences"),
    ],
)
def test_bad_input_is_a_value_error(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        run_handler("ai.summarize", payload)
