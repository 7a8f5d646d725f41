"""Remote step types: ``ai.*``, ``chain.*``, ``quantum.*``.

They do not run on the agent. The engine turns such a step into a *job request* (the
step's type plus an input map) and reports the step as waiting; the caller commits the
request to the outbox as step ``<id>.request`` and, when the coordinator's result
arrives, commits it as step ``<id>`` (``agent/store.py``: ``commit_step`` and
``apply_job_result``). The run then resumes.

The input map is ``input`` (literal values) merged with ``input_from`` (field ->
expression over earlier outputs and the document). The step's ``timeout`` and
``retries`` travel with the request for the coordinator to apply: the agent does not
re-send a job.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from agent.workflow.steps.base import ExprStr, Params, StepContext, StepType

__all__ = ["REMOTE", "RemoteParams", "build_input"]

Key = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]


class RemoteParams(Params):
    input: dict[Key, Any] = Field(default_factory=dict, max_length=256)
    """Literal values of the job's input."""
    input_from: dict[Key, ExprStr] = Field(default_factory=dict, max_length=256)
    """Input fields computed from earlier outputs: field -> expression."""

    @model_validator(mode="after")
    def _disjoint(self) -> RemoteParams:
        both = sorted(set(self.input) & set(self.input_from))
        if both:
            raise ValueError(f"fields in both 'input' and 'input_from': {', '.join(both)}")
        return self

    def expressions(self) -> list[tuple[tuple[str | int, ...], str]]:
        return [(("input_from", k), src) for k, src in self.input_from.items()]


def _cut(value: Any, max_bytes: int) -> Any:
    if isinstance(value, str) and len(value) > max_bytes // 4:
        data = value.encode()
        if len(data) > max_bytes:
            return data[:max_bytes].decode("utf-8", "ignore")
    return value


def build_input(ctx: StepContext, p: RemoteParams) -> dict[str, Any]:
    """The job's input map. Top-level strings are cut to the engine's
    ``max_remote_text_bytes`` (whole characters) when it is set."""
    out = dict(p.input)
    for key, src in p.input_from.items():
        out[key] = ctx.evaluate(src)
    limit = ctx.resources.max_remote_text_bytes
    if limit is not None:
        out = {k: _cut(v, limit) for k, v in out.items()}
    return out


REMOTE = StepType(
    "remote", RemoteParams, None, "a job for the coordinator (ai.*, chain.*, quantum.*)"
)
