"""Workflow specs: loading (YAML or JSON, size- and depth-limited) and validation.

A spec is validated in two passes that both always run, so one ``SpecError`` lists every
problem, each with its path inside the spec (``steps[2].needs[0]: unknown step
'clasify'``):

1. structure, by pydantic in strict mode (types, ranges, unknown keys refused);
2. meaning, on whatever parts are well-formed: step types, each step's ``with`` against
   its type's parameters model, duplicate ids, ``needs`` that name unknown steps,
   cycles (named), ``on_failure`` routes, and the expressions in ``when`` and in
   parameters (they must parse and may only read the document and the outputs of the
   step's ancestors).

Hostile input is refused before it costs much: a spec over ``MAX_SPEC_BYTES`` is not
read, YAML is parsed with a safe loader only (libyaml's ``CSafeLoader`` where PyYAML
has it, else ``SafeLoader``; never Python objects), and the parsed
node graph is measured before it is built, so aliases that would expand past
``MAX_SPEC_NODES`` values (a "billion laughs") or nesting past ``MAX_SPEC_DEPTH`` are
refused. The format is documented in docs/workflows.md.
"""

from __future__ import annotations

import difflib
import functools
import heapq
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from agent.errors import ExpressionError, SpecError
from agent.workflow.document import DOCUMENT_FIELDS
from agent.workflow.expr import FUNCTIONS, KEYWORDS, Expression
from agent.workflow.steps import DEFAULT_REGISTRY, Params, Registry, StepType
from agent.workflow.steps.base import compiled

__all__ = [
    "MAX_SPEC_BYTES",
    "MAX_SPEC_DEPTH",
    "MAX_SPEC_NODES",
    "MAX_STEPS",
    "MatchSpec",
    "OnFailure",
    "Step",
    "StepSpec",
    "Workflow",
    "WorkflowSpec",
    "load_workflow",
    "parse_workflow",
    "validate_workflow",
]

MAX_SPEC_BYTES: Final = 1 << 20
MAX_SPEC_DEPTH: Final = 32
MAX_SPEC_NODES: Final = 50_000
MAX_STEPS: Final = 256

_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# semver.org's pattern
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/(\*|[a-z0-9][a-z0-9!#$&^_.+-]*)$")
_ON_FAILURE = re.compile(r"^(fail|continue|route:([A-Za-z_][A-Za-z0-9_]{0,63}))$")

# Names a step id cannot take: the document's namespace and the language's keywords.
RESERVED_IDS: Final = frozenset({"document", *KEYWORDS})


def _matching(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Id = Annotated[
    str, _matching(_ID, "a step id (a letter or _, then letters, digits or _; at most 64)")
]
ContentType = Annotated[str, _matching(_CONTENT_TYPE, "a content type like text/plain or text/*")]
Glob = Annotated[str, Field(min_length=1, max_length=256)]
Criteria = Annotated[
    Annotated[list[Glob], Field(min_length=1, max_length=64)] | None, BeforeValidator(_as_list)
]
ContentTypes = Annotated[
    Annotated[list[ContentType], Field(min_length=1, max_length=64)] | None,
    BeforeValidator(_as_list),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class MatchSpec(_Strict):
    """Which documents a workflow takes: every criterion given must hold; a criterion
    holds when any of its values does. No criteria: every document."""

    source: Criteria = None
    glob: Criteria = None
    content_type: ContentTypes = None

    def specificity(self) -> int:
        return sum(c is not None for c in (self.source, self.glob, self.content_type))


class StepSpec(_Strict):
    id: Id
    type: str = Field(min_length=1, max_length=64)
    needs: list[str] | None = Field(None, max_length=64)
    when: str | None = None
    timeout: float = Field(30.0, gt=0, le=86_400)
    retries: int = Field(0, ge=0, le=10)
    on_failure: Annotated[
        str, _matching(_ON_FAILURE, "'fail', 'continue' or 'route:<step id>'")
    ] = "fail"
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    description: str | None = None


class WorkflowSpec(_Strict):
    name: Annotated[
        str, _matching(_NAME, "a workflow name (letters, digits, '_', '.', '-'; at most 64)")
    ]
    version: Annotated[str, _matching(_SEMVER, "a semantic version like 1.2.0")]
    description: str | None = None
    match: MatchSpec = MatchSpec()
    steps: list[StepSpec] = Field(min_length=1, max_length=MAX_STEPS)


# --- the validated workflow ---------------------------------------------------------------


@dataclass(frozen=True)
class OnFailure:
    action: Literal["fail", "continue", "route"]
    target: str | None = None

    @classmethod
    def parse(cls, text: str) -> OnFailure:
        if text.startswith("route:"):
            return cls("route", text.removeprefix("route:"))
        return cls("continue" if text == "continue" else "fail")


@dataclass(frozen=True)
class Step:
    id: str
    index: int  # position in the spec
    type: str
    step_type: StepType
    params: Params
    needs: tuple[str, ...]
    when: Expression | None
    timeout: float
    retries: int
    on_failure: OnFailure
    handler: bool  # a route target: runs only when a failure is routed to it

    @property
    def remote(self) -> bool:
        return self.step_type.remote


@dataclass(frozen=True)
class Workflow:
    """A validated spec, ready for the engine. ``order`` is the run order: topological,
    ties broken by position in the spec. ``ancestors[id]`` is every step ``id`` needs,
    directly or through others; ``routers[h]`` the steps whose failures route to ``h``."""

    spec: WorkflowSpec
    steps: tuple[Step, ...]
    order: tuple[str, ...]
    ancestors: Mapping[str, frozenset[str]]
    routers: Mapping[str, tuple[str, ...]]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> str:
        return self.spec.version

    @property
    def match(self) -> MatchSpec:
        return self.spec.match

    @property
    def key(self) -> str:
        return f"{self.spec.name}@{self.spec.version}"

    @functools.cached_property
    def _by_id(self) -> dict[str, Step]:
        return {s.id: s for s in self.steps}

    def step(self, step_id: str) -> Step:
        """The step with that id; KeyError if there is none."""
        return self._by_id[step_id]


# --- problems ---------------------------------------------------------------------------------

Path_ = tuple[str | int, ...]


def format_path(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _allowed_keys(model: type[BaseModel]) -> str:
    return ", ".join(f.alias or name for name, f in model.model_fields.items())


def _pydantic_problems(
    e: ValidationError, prefix: Path_, models: dict[int, type[BaseModel]] | None = None
) -> list[tuple[Path_, str]]:
    """Pydantic's errors as (path, message). ``models`` maps a path length (after the
    prefix) to the model whose unknown keys are reported at that depth."""
    out: list[tuple[Path_, str]] = []
    for err in e.errors(include_url=False):
        loc = tuple(err["loc"])
        msg = str(err["msg"])
        kind = err["type"]
        if kind == "extra_forbidden":
            model = (models or {}).get(len(loc))
            msg = "unknown key" + (f" (allowed: {_allowed_keys(model)})" if model else "")
        elif kind == "missing":
            msg = "required"
        elif msg.startswith("Value error, "):
            msg = msg.removeprefix("Value error, ")
        out.append((prefix + loc, msg))
    return out


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --- validation --------------------------------------------------------------------------------


class _Checker:
    def __init__(self, data: Any, registry: Registry) -> None:
        self.data = data
        self.registry = registry
        self.problems: list[tuple[Path_, str]] = []

    def add(self, path: Path_, msg: str) -> None:
        self.problems.append((path, msg))

    def run(self) -> Workflow | None:
        data = self.data
        spec: WorkflowSpec | None = None
        try:
            spec = WorkflowSpec.model_validate(data)
        except ValidationError as e:
            # unknown keys: top level (1), in match (2), in a step (3)
            models: dict[int, type[BaseModel]] = {1: WorkflowSpec, 3: StepSpec}
            for path, msg in _pydantic_problems(e, (), models):
                if path[:1] == ("match",) and msg.startswith("unknown key"):
                    msg = f"unknown key (allowed: {_allowed_keys(MatchSpec)})"
                self.add(path, msg)
        raw_steps = data.get("steps") if isinstance(data, dict) else None
        if not isinstance(raw_steps, list):
            return None
        steps = [s if isinstance(s, dict) else {} for s in raw_steps]
        result = self._check_steps(steps)
        if spec is None or self.problems or result is None:
            return None
        step_types, params, needs, order, ancestors, routers = result
        built = []
        for i, s in enumerate(spec.steps):
            built.append(
                Step(
                    id=s.id,
                    index=i,
                    type=s.type,
                    step_type=step_types[i],
                    params=params[i],
                    needs=tuple(needs[i]),
                    when=compiled(s.when) if s.when is not None else None,
                    timeout=s.timeout,
                    retries=s.retries,
                    on_failure=OnFailure.parse(s.on_failure),
                    handler=s.id in routers,
                )
            )
        return Workflow(spec, tuple(built), tuple(order), ancestors, routers)

    def _check_steps(self, steps: list[dict[str, Any]]) -> Any:
        # ids
        ids: dict[int, str] = {}
        first: dict[str, int] = {}
        for i, raw in enumerate(steps):
            sid = raw.get("id")
            if not isinstance(sid, str) or not _ID.match(sid):
                continue
            if sid in RESERVED_IDS:
                self.add(("steps", i, "id"), f"{sid!r} is reserved (expressions use it)")
            elif sid in first:
                self.add(
                    ("steps", i, "id"), f"duplicate id {sid!r} (first used by steps[{first[sid]}])"
                )
            else:
                first[sid] = i
                ids[i] = sid
        known = set(first)

        # types and parameters
        step_types: dict[int, StepType] = {}
        params: dict[int, Params] = {}
        for i, raw in enumerate(steps):
            type_name = raw.get("type")
            if not isinstance(type_name, str) or not type_name:
                continue
            st = self.registry.get(type_name)
            if st is None:
                names = self.registry.names()
                self.add(
                    ("steps", i, "type"),
                    f"unknown step type {type_name!r}{_suggest(type_name, names)}"
                    f" (known: {self.registry.describe_known()})",
                )
                continue
            step_types[i] = st
            with_ = raw.get("with", {})
            if not isinstance(with_, dict):
                continue  # reported by the structural pass
            try:
                params[i] = st.params.model_validate(with_)
            except ValidationError as e:
                for path, msg in _pydantic_problems(e, ("steps", i, "with"), {1: st.params}):
                    self.add(path, msg)

        # failure routes
        routers: dict[str, list[str]] = {}
        route_of: dict[int, str] = {}
        for i, raw in enumerate(steps):
            of = raw.get("on_failure")
            m = _ON_FAILURE.match(of) if isinstance(of, str) else None
            if not m or not m.group(2):
                continue
            target = m.group(2)
            if target not in known:
                self.add(
                    ("steps", i, "on_failure"),
                    f"unknown step {target!r}{_suggest(target, known)}",
                )
            elif target == ids.get(i):
                self.add(("steps", i, "on_failure"), "a step cannot route its failure to itself")
            elif i in ids:
                routers.setdefault(target, []).append(ids[i])
                route_of[i] = target

        # needs: explicit, or the previous step that is not a failure handler
        needs: dict[int, list[str]] = {}
        explicit: dict[int, dict[str, int]] = {}
        previous: str | None = None
        for i, raw in enumerate(steps):
            sid = ids.get(i)
            handler = sid is not None and sid in routers
            given = raw.get("needs")
            entries: list[str] = []
            if isinstance(given, list):
                explicit[i] = {}
                for j, n in enumerate(given):
                    if not isinstance(n, str):
                        continue
                    if n not in known:
                        self.add(
                            ("steps", i, "needs", j), f"unknown step {n!r}{_suggest(n, known)}"
                        )
                    elif n == sid:
                        self.add(("steps", i, "needs", j), "a step cannot need itself")
                    elif n in explicit[i]:
                        self.add(("steps", i, "needs", j), f"{n!r} is listed twice")
                    else:
                        explicit[i][n] = j
                        entries.append(n)
            elif given is None and not handler and previous is not None:
                entries = [previous]
            needs[i] = entries
            if sid is not None and not handler:
                previous = sid

        # cycles, then the run order and ancestors
        index_of = {sid: i for i, sid in ids.items()}
        graph = {sid: [n for n in needs.get(i, []) if n in index_of] for i, sid in ids.items()}
        cyclic = self._cycles(graph, index_of, explicit)
        order = [] if cyclic else _topological(graph, index_of)
        ancestors: dict[str, frozenset[str]] | None = None if cyclic else {}
        for sid in order:
            assert ancestors is not None
            acc: set[str] = set()
            for n in graph[sid]:
                acc.add(n)
                acc |= ancestors[n]
            ancestors[sid] = frozenset(acc)
        for i, target in route_of.items():
            if ancestors is not None and target in ancestors[ids[i]]:
                self.add(
                    ("steps", i, "on_failure"),
                    f"route target {target!r} is among the needs of {ids[i]!r}, so it could never run",
                )

        # expressions: they parse, and read only the document and ancestors' outputs
        for i, raw in enumerate(steps):
            sid = ids.get(i)
            when = raw.get("when")
            if isinstance(when, str):
                try:
                    self._check_refs(compiled(when), sid, known, ancestors, ("steps", i, "when"))
                except ExpressionError as e:
                    self.add(("steps", i, "when"), str(e))
            if i in params:
                for rel, src in params[i].expressions():
                    self._check_refs(
                        compiled(src), sid, known, ancestors, ("steps", i, "with", *rel)
                    )
        if self.problems or ancestors is None:
            return None
        n = len(steps)
        return (
            [step_types[i] for i in range(n)],
            [params[i] for i in range(n)],
            [needs[i] for i in range(n)],
            order,
            ancestors,
            {h: tuple(r) for h, r in routers.items()},
        )

    def _cycles(
        self,
        graph: dict[str, list[str]],
        index_of: dict[str, int],
        explicit: dict[int, dict[str, int]],
    ) -> bool:
        """Report each cycle once, at the ``needs`` entry that closes it."""
        state: dict[str, int] = {}  # 1: on the stack, 2: done
        stack: list[str] = []
        seen: set[frozenset[str]] = set()

        def visit(sid: str) -> None:
            state[sid] = 1
            stack.append(sid)
            for n in graph[sid]:
                if state.get(n) == 1:
                    cycle = [*stack[stack.index(n) :], n]
                    members = frozenset(cycle)
                    if members not in seen:
                        seen.add(members)
                        i = index_of[sid]
                        j = explicit.get(i, {}).get(n)
                        path: Path_ = ("steps", i, "needs") + ((j,) if j is not None else ())
                        self.add(path, f"cycle {' -> '.join(cycle)} (each step needs the next)")
                elif n not in state:
                    visit(n)
            stack.pop()
            state[sid] = 2

        for sid in sorted(graph, key=index_of.__getitem__):
            if sid not in state:
                visit(sid)
        return bool(seen)

    def _check_refs(
        self,
        expr: Expression,
        sid: str | None,
        known: set[str],
        ancestors: Mapping[str, frozenset[str]] | None,
        path: Path_,
    ) -> None:
        """Each reference must be ``document.<field>`` or an ancestor's output (when
        the graph has a cycle, only that the step exists is checked)."""
        for ref in expr.refs:
            head = ref[0]
            if head == "document":
                if len(ref) > 1 and ref[1] not in DOCUMENT_FIELDS:
                    self.add(
                        path,
                        f"document has no field {ref[1]!r} (fields: {', '.join(DOCUMENT_FIELDS)})",
                    )
            elif head not in known:
                if head in FUNCTIONS:
                    hint = f" ({head} is a function: call it as {head}(...))"
                else:
                    hint = _suggest(head, [*known, "document"])
                self.add(path, f"references unknown step {head!r}{hint}")
            elif sid is None or ancestors is None:
                continue
            elif head == sid:
                self.add(path, f"references the output of its own step {sid!r}")
            elif head not in ancestors.get(sid, frozenset()):
                self.add(
                    path,
                    f"references step {head!r}, which is not among the needs of {sid!r}"
                    " (directly or through other steps), so its output may not exist yet",
                )


def _topological(graph: dict[str, list[str]], index_of: dict[str, int]) -> list[str]:
    """Kahn's algorithm; among ready steps the earliest in the spec goes first."""
    waiting = {sid: len(set(ns)) for sid, ns in graph.items()}
    dependents: dict[str, list[str]] = {sid: [] for sid in graph}
    for sid, ns in graph.items():
        for n in set(ns):
            dependents[n].append(sid)
    ready = [(index_of[s], s) for s, c in waiting.items() if c == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, sid = heapq.heappop(ready)
        order.append(sid)
        for d in dependents[sid]:
            waiting[d] -= 1
            if waiting[d] == 0:
                heapq.heappush(ready, (index_of[d], d))
    return order


def validate_workflow(
    data: Any, *, registry: Registry | None = None, origin: str | None = None
) -> Workflow:
    """Validate an already parsed spec (a dict). Raises SpecError listing every problem."""
    where = f" {origin}" if origin else ""
    if not isinstance(data, dict):
        raise SpecError(
            f"workflow spec{where} is invalid: it must be a map with name, version, match"
            f" and steps, not {type(data).__name__}"
        )
    checker = _Checker(data, registry or DEFAULT_REGISTRY)
    workflow = checker.run()
    if workflow is not None:
        return workflow
    rank = {k: n for n, k in enumerate(("name", "version", "description", "match", "steps"))}

    def key(p: tuple[Path_, str]) -> tuple[int, int]:
        path = p[0]
        first = rank.get(path[0], 99) if path and isinstance(path[0], str) else 99
        second = path[1] if len(path) > 1 and isinstance(path[1], int) else -1
        return first, second

    problems = sorted(dict.fromkeys(checker.problems), key=key)
    name = data.get("name")
    label = f"{where} ({name!r})" if isinstance(name, str) and name else where
    n = len(problems)
    raise SpecError(
        f"workflow spec{label} is invalid: {n} problem{'s' if n != 1 else ''}",
        [(format_path(path), msg) for path, msg in problems],
    )


# --- parsing ----------------------------------------------------------------------------------


def _refuse(origin: str, why: str) -> SpecError:
    return SpecError(f"workflow spec {origin} refused: {why}")


# libyaml's safe loader when PyYAML has it (PyPI wheels do): fast, and it caps nesting
# itself; the pure-Python one otherwise. Both build plain data only.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _measure(node: yaml.Node, origin: str) -> None:
    """Refuse a node graph that would expand past MAX_SPEC_NODES values, nest deeper
    than MAX_SPEC_DEPTH, recurse through an alias, or repeat a key in one map."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(n: yaml.Node, depth: int) -> int:
        if depth > MAX_SPEC_DEPTH:
            raise _refuse(origin, f"nested deeper than {MAX_SPEC_DEPTH} levels")
        key = id(n)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise _refuse(origin, "a YAML alias refers to itself")
        active.add(key)
        total = 1
        if isinstance(n, yaml.SequenceNode):
            for child in n.value:
                total += size(child, depth + 1)
                if total > MAX_SPEC_NODES:
                    break
        elif isinstance(n, yaml.MappingNode):
            keys: set[str] = set()
            for k, v in n.value:
                if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                    if k.value in keys:
                        line = k.start_mark.line + 1
                        raise SpecError(
                            f"workflow spec {origin} is invalid: duplicate key {k.value!r} at line {line}"
                        )
                    keys.add(k.value)
                total += size(k, depth + 1) + size(v, depth + 1)
                if total > MAX_SPEC_NODES:
                    break
        active.discard(key)
        if total > MAX_SPEC_NODES:
            raise _refuse(
                origin, f"it expands to more than {MAX_SPEC_NODES} values (YAML aliases?)"
            )
        sizes[key] = total
        return total

    size(node, 0)


def _parse_yaml(text: str, origin: str) -> Any:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise SpecError(f"workflow spec {origin} is empty")
        _measure(node, origin)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise SpecError(
            f"workflow spec {origin} is not valid YAML: {e.problem or e.context}{where}"
        ) from None
    except yaml.YAMLError as e:
        raise SpecError(f"workflow spec {origin} is not valid YAML: {e}".splitlines()[0]) from None
    except RecursionError:
        raise _refuse(origin, "nested too deeply") from None
    finally:
        loader.dispose()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _parse_json(text: str, origin: str) -> Any:
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as e:
        raise SpecError(
            f"workflow spec {origin} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}"
        ) from None
    except ValueError as e:
        raise SpecError(f"workflow spec {origin} is invalid: {e}") from None
    except RecursionError:
        raise _refuse(origin, "nested too deeply") from None
    count = 0
    todo: list[tuple[Any, int]] = [(data, 0)]
    while todo:
        value, depth = todo.pop()
        count += 1
        if depth > MAX_SPEC_DEPTH:
            raise _refuse(origin, f"nested deeper than {MAX_SPEC_DEPTH} levels")
        if count > MAX_SPEC_NODES:
            raise _refuse(origin, f"it has more than {MAX_SPEC_NODES} values")
        if isinstance(value, dict):
            todo.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            todo.extend((v, depth + 1) for v in value)
    return data


def parse_workflow(
    source: str | bytes,
    *,
    format: Literal["yaml", "json"] | None = None,
    origin: str = "<string>",
    registry: Registry | None = None,
) -> Workflow:
    """Parse and validate a spec from text. ``format`` None: JSON if the text starts
    with ``{``, else YAML. Raises SpecError."""
    if len(source) > MAX_SPEC_BYTES:
        raise _refuse(origin, f"{len(source)} bytes is over the {MAX_SPEC_BYTES}-byte limit")
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise SpecError(
                f"workflow spec {origin} is not UTF-8 (invalid byte at offset {e.start})"
            ) from None
    if format is None:
        format = "json" if source.lstrip().startswith("{") else "yaml"
    data = _parse_json(source, origin) if format == "json" else _parse_yaml(source, origin)
    return validate_workflow(data, registry=registry, origin=origin)


def load_workflow(path: str | Path, *, registry: Registry | None = None) -> Workflow:
    """Load and validate a spec file (``.json``: JSON; anything else: YAML). The size is
    checked before the file is read. Raises SpecError."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise _refuse(str(p), f"{size} bytes is over the {MAX_SPEC_BYTES}-byte limit")
        with p.open("rb") as f:
            data = f.read(MAX_SPEC_BYTES + 1)
    except OSError as e:
        raise SpecError(f"workflow spec {p}: cannot read it: {e.strerror or e}") from None
    fmt: Literal["yaml", "json"] = "json" if p.suffix.lower() == ".json" else "yaml"
    return parse_workflow(data, format=fmt, origin=str(p), registry=registry)
