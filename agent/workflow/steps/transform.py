"""``transform``: build a map of fields from expressions and a fixed set of field
operations. The step's output is that map, so later steps read ``<id>.<field>``.

``fields`` (field -> expression) are evaluated first, in the order given; then ``ops``
run in order on the map being built:

=========  ==========================  ==================================================
op         keys                        effect
=========  ==========================  ==================================================
set        field, value                set a field to a literal value
default    field, value                set it only if it is missing or null
eval       field, expr                 set it to an expression's value
rename     field, to                   move a field (missing: nothing happens)
delete     field                       remove a field (missing: nothing happens)
lower      field                       lower-case a string field (null stays null)
upper      field                       upper-case a string field (null stays null)
strip      field                       trim white space at both ends (null stays null)
truncate   field, max_chars            cut a string field to at most max_chars
=========  ==========================  ==================================================
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from agent.errors import StepError
from agent.workflow.steps.base import ExprStr, Params, StepContext, StepType

__all__ = ["TRANSFORM", "TransformParams"]

FieldName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
OpName = Literal[
    "set", "default", "eval", "rename", "delete", "lower", "upper", "strip", "truncate"
]

_KEYS: dict[str, set[str]] = {
    "set": {"value"},
    "default": {"value"},
    "eval": {"expr"},
    "rename": {"to"},
    "delete": set(),
    "lower": set(),
    "upper": set(),
    "strip": set(),
    "truncate": {"max_chars"},
}


class Op(Params):
    op: OpName
    field: FieldName
    value: Any = None
    expr: ExprStr | None = None
    to: FieldName | None = None
    max_chars: int | None = Field(None, ge=0, le=100_000_000)

    @model_validator(mode="after")
    def _keys_of_op(self) -> Op:
        given = self.model_fields_set - {"op", "field"}
        needed = _KEYS[self.op]
        missing, extra = sorted(needed - given), sorted(given - needed)
        if missing:
            raise ValueError(f"op {self.op!r} needs {', '.join(missing)}")
        if extra:
            raise ValueError(f"op {self.op!r} does not take {', '.join(extra)}")
        return self


class TransformParams(Params):
    fields: dict[FieldName, ExprStr] = Field(default_factory=dict, max_length=256)
    ops: list[Op] = Field(default_factory=list, max_length=256)

    @model_validator(mode="after")
    def _something(self) -> TransformParams:
        if not self.fields and not self.ops:
            raise ValueError("give 'fields', 'ops' or both")
        return self

    def expressions(self) -> list[tuple[tuple[str | int, ...], str]]:
        found: list[tuple[tuple[str | int, ...], str]] = [
            (("fields", name), src) for name, src in self.fields.items()
        ]
        found += [(("ops", i, "expr"), op.expr) for i, op in enumerate(self.ops) if op.expr]
        return found


def _string_op(out: dict[str, Any], op: Op, fn: Any) -> None:
    value = out.get(op.field)
    if value is None:
        return
    if not isinstance(value, str):
        raise StepError(f"{op.op}: field {op.field!r} is {type(value).__name__}, not a string")
    out[op.field] = fn(value)


def run(ctx: StepContext, p: TransformParams) -> dict[str, Any]:
    out: dict[str, Any] = {name: ctx.evaluate(src) for name, src in p.fields.items()}
    for op in p.ops:
        if op.op == "set":
            out[op.field] = op.value
        elif op.op == "default":
            if out.get(op.field) is None:
                out[op.field] = op.value
        elif op.op == "eval":
            assert op.expr is not None
            out[op.field] = ctx.evaluate(op.expr)
        elif op.op == "rename":
            assert op.to is not None
            if op.field in out:
                out[op.to] = out.pop(op.field)
        elif op.op == "delete":
            out.pop(op.field, None)
        elif op.op == "lower":
            _string_op(out, op, str.lower)
        elif op.op == "upper":
            _string_op(out, op, str.upper)
        elif op.op == "strip":
            _string_op(out, op, str.strip)
        elif op.op == "truncate":
            _string_op(out, op, lambda s, n=op.max_chars or 0: s[:n])
    return out


TRANSFORM = StepType("transform", TransformParams, run, "build fields from expressions and ops")
