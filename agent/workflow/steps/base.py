"""What every step type shares: its parameters model, the context it runs with, and the
registry that maps a type name to (parameters model, implementation).

A local step's ``run`` is a plain function ``(StepContext, params) -> output``: it is
CPU work that the engine runs in a worker thread (``asyncio.to_thread``) under the
step's timeout, so it must not touch the event loop or shared mutable state. Its output
is a JSON-like dict (it is committed as the step's result). A failure it cannot recover
from by retrying is raised as an ``AgentError`` (``StepError``, ``DocumentError``): the
engine fails such a step at once; any other exception counts as transient and is
retried up to the step's ``retries``.

Remote step types (``ai.*``, ``chain.*``, ``quantum.*``) have no ``run``: the engine
turns them into job requests (see ``agent/workflow/steps/remote.py``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Final, Protocol

from pydantic import AfterValidator, BaseModel, ConfigDict

from agent.errors import ExpressionError, StepError
from agent.workflow.document import Document
from agent.workflow.expr import Expression, compile_expression

if TYPE_CHECKING:  # onnxruntime is loaded only by whoever builds a classifier
    from agent.inference.onnx import Prediction

__all__ = [
    "REMOTE_PREFIXES",
    "Classifier",
    "ExprStr",
    "Params",
    "Registry",
    "Resources",
    "StepContext",
    "StepType",
    "compiled",
]

REMOTE_PREFIXES: Final = ("ai", "chain", "quantum")
_REMOTE_NAME = re.compile(r"^(ai|chain|quantum)\.[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


@functools.lru_cache(maxsize=2048)
def compiled(source: str) -> Expression:
    """``compile_expression`` with a cache: specs are validated once but their
    expressions are evaluated for every document."""
    return compile_expression(source)


def _check_expression(source: str) -> str:
    try:
        compiled(source)
    except ExpressionError as e:
        raise ValueError(str(e)) from None
    return source


# A string field holding an expression: a parse error is a validation error at its path.
ExprStr = Annotated[str, AfterValidator(_check_expression)]


class Params(BaseModel):
    """Base of every step type's parameters (the step's ``with`` map): strict, unknown
    keys refused, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    def expressions(self) -> Iterable[tuple[tuple[str | int, ...], str]]:
        """Every expression among the parameters, as (path inside ``with``, source), so
        spec validation can check what they reference."""
        return ()


class Classifier(Protocol):
    """What the ``classify`` step needs of a model (``agent.inference.onnx.TextClassifier``)."""

    name: str
    version: str

    def predict(self, texts: list[str]) -> list[Prediction]: ...


@dataclass(frozen=True)
class Resources:
    """What the engine hands to steps besides the document: models and limits."""

    classifiers: Sequence[Classifier] = ()
    # Strings in a remote job's input are cut to this many UTF-8 bytes (None: not cut).
    max_remote_text_bytes: int | None = None

    def classifier(self, name: str | None) -> Classifier:
        if not self.classifiers:
            raise StepError("no classifier is loaded on this agent")
        if name is None:
            return self.classifiers[0]
        for c in self.classifiers:
            if c.name == name:
                return c
        loaded = ", ".join(c.name for c in self.classifiers)
        raise StepError(f"no classifier named {name!r} is loaded (loaded: {loaded})")


@dataclass(frozen=True)
class StepContext:
    """``scope`` is what expressions see: ``document`` plus the records of the step's
    ancestors by id. ``upstream_text`` is the ``text`` output of the nearest ancestor
    that produced one (an ``extract`` or ``redact``), else the document's own text."""

    step_id: str
    document: Document
    scope: Mapping[str, Any]
    upstream_text: str | None
    resources: Resources = field(default_factory=Resources)

    def evaluate(self, source: str) -> Any:
        return compiled(source).evaluate(self.scope)

    def evaluate_test(self, source: str) -> bool:
        """Evaluate as a condition (``truthy`` of the value)."""
        return compiled(source).test(self.scope)

    def text(self, source: str | None = None) -> str:
        """The text a step works on: the value of ``source`` (an expression) when given,
        else ``upstream_text``. Raises StepError when there is none."""
        if source is not None:
            value = self.evaluate(source)
            if not isinstance(value, str):
                raise StepError(
                    f"text expression {source!r} gave {type(value).__name__}, not a string"
                )
            return value
        if self.upstream_text is None:
            raise StepError(
                "no text to work on: put an extract step among this step's needs,"
                " or set its 'text' parameter"
            )
        return self.upstream_text


Run = Callable[[StepContext, Any], dict[str, Any]]


@dataclass(frozen=True)
class StepType:
    name: str
    params: type[Params]
    run: Run | None  # None for remote types
    summary: str = ""

    @property
    def remote(self) -> bool:
        return self.run is None


class Registry:
    """Step type name -> StepType. Every name under ``ai.``, ``chain.`` and ``quantum.``
    resolves to the remote type (the coordinator decides which it can run)."""

    def __init__(self, types: Iterable[StepType] = (), *, remote: StepType | None = None) -> None:
        self._types: dict[str, StepType] = {}
        self._remote = remote
        for t in types:
            self.register(t)

    def register(self, step_type: StepType) -> None:
        if step_type.name in self._types or _REMOTE_NAME.match(step_type.name):
            raise ValueError(f"step type {step_type.name!r} is already defined")
        self._types[step_type.name] = step_type

    def get(self, name: str) -> StepType | None:
        found = self._types.get(name)
        if found is None and self._remote is not None and _REMOTE_NAME.match(name):
            return StepType(name, self._remote.params, None, self._remote.summary)
        return found

    def names(self) -> list[str]:
        return sorted(self._types)

    def copy(self) -> Registry:
        return Registry(self._types.values(), remote=self._remote)

    def describe_known(self) -> str:
        remote = ", ".join(f"{p}.*" for p in REMOTE_PREFIXES)
        return f"{', '.join(self.names())}; remote: {remote}"
