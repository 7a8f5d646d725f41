"""Job handlers by job type. Each takes the job's ``input`` map and returns its
``output`` map, or raises ValueError for input it cannot work with. They run inside Ray
workers, so they import only what they need."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def _ai_summarize(payload: dict[str, Any]) -> dict[str, Any]:
    from coordinator.ai.local import summarize

    text = payload.get("text")
    if not isinstance(text, str):
        raise ValueError("input.text must be a string")
    max_sentences = payload.get("max_sentences", 3)
    if not isinstance(max_sentences, int) or isinstance(max_sentences, bool):
        raise ValueError("input.max_sentences must be an integer")
    return summarize(text, max_sentences=max_sentences)


HANDLERS: dict[str, Handler] = {
    "ai.summarize": _ai_summarize,
}


def run_handler(job_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    handler = HANDLERS.get(job_type)
    if handler is None:
        raise ValueError(f"unknown job type {job_type!r} (known: {', '.join(sorted(HANDLERS))})")
    return handler(payload)
