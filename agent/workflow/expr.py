"""A small, safe expression language for ``when`` conditions and ``transform`` steps.

Grammar (lowest precedence first)::

    expr       := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := operand (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" "in") operand)?
    operand    := literal | list | call | reference | "(" expr ")"
    literal    := string | ["-"] number | "true" | "false" | "null"
    list       := "[" [expr ("," expr)*] "]"
    call       := NAME "(" [expr ("," expr)*] ")"
    reference  := NAME ("." NAME)*

A source is tokenized and parsed by hand into a tree of frozen dataclasses, then that
tree is walked by ``evaluate``: nothing is ever handed to Python's ``eval`` or ``ast``,
so an expression can only read the values it is given and call the functions listed in
``FUNCTIONS``. Length and nesting are bounded (``MAX_CHARS``, ``MAX_DEPTH``), and there
are no loops, so evaluation always ends quickly.

Every failure, at parse or evaluation time, is an ``ExpressionError`` naming the column.
Semantics are documented in docs/workflows.md ("The expression language").
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from agent.errors import ExpressionError

__all__ = [
    "FUNCTIONS",
    "MAX_CHARS",
    "MAX_DEPTH",
    "Expression",
    "compile_expression",
    "evaluate",
    "truthy",
]

MAX_CHARS: Final = 2000
MAX_DEPTH: Final = 32
MAX_LIST_ITEMS: Final = 256

KEYWORDS: Final = frozenset({"and", "or", "not", "in", "true", "false", "null"})

# --- tokens ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # "name", "str", "num", "op", "kw", "end"
    text: str
    value: Any
    pos: int  # 1-based column


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")
_OPS = ("==", "!=", "<=", ">=", "<", ">", "(", ")", "[", "]", ",", ".", "-")
_DIGITS = frozenset("0123456789")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}


def _tokens(src: str) -> Iterator[Token]:
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c in " \t\r\n":
            i += 1
            continue
        start = i + 1
        if c in "\"'":
            quote, i, chars = c, i + 1, []
            while True:
                if i >= n:
                    raise ExpressionError("unterminated string", start)
                ch = src[i]
                if ch == quote:
                    i += 1
                    break
                if ch == "\\":
                    if i + 1 >= n or src[i + 1] not in _ESCAPES:
                        raise ExpressionError("unknown escape in string", i + 1)
                    chars.append(_ESCAPES[src[i + 1]])
                    i += 2
                    continue
                chars.append(ch)
                i += 1
            yield Token("str", src[start - 1 : i], "".join(chars), start)
            continue
        if c in _DIGITS or (c == "." and i + 1 < n and src[i + 1] in _DIGITS):
            m = _NUMBER.match(src, i)
            assert m is not None
            text = m.group()
            i = m.end()
            if i < n and (src[i].isalnum() or src[i] == "_"):
                raise ExpressionError(f"invalid number {text + src[i]!r}", start)
            value: int | float
            if any(ch in text for ch in ".eE"):
                value = float(text)
                if not math.isfinite(value):
                    raise ExpressionError(f"number {text!r} is out of range", start)
            else:
                if len(text) > 18:
                    raise ExpressionError(f"integer {text!r} is too long", start)
                value = int(text)
            yield Token("num", text, value, start)
            continue
        m = _NAME.match(src, i)
        if m:
            text = m.group()
            i = m.end()
            yield Token("kw" if text in KEYWORDS else "name", text, text, start)
            continue
        for op in _OPS:
            if src.startswith(op, i):
                i += len(op)
                yield Token("op", op, op, start)
                break
        else:
            if c == "=":
                raise ExpressionError("'=' is not an operator; compare with '=='", start)
            if c in "&|!":
                raise ExpressionError(f"{c!r} is not an operator; use 'and', 'or', 'not'", start)
            raise ExpressionError(f"unexpected character {c!r}", start)
    yield Token("end", "", None, n + 1)


# --- the tree ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    value: Any
    pos: int


@dataclass(frozen=True)
class Ref:
    path: tuple[str, ...]
    pos: int


@dataclass(frozen=True)
class ListExpr:
    items: tuple[Node, ...]
    pos: int


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Node, ...]
    pos: int


@dataclass(frozen=True)
class Not:
    operand: Node
    pos: int


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    operands: tuple[Node, ...]
    pos: int


@dataclass(frozen=True)
class Compare:
    op: str  # "==", "!=", "<", "<=", ">", ">=", "in", "not in"
    left: Node
    right: Node
    pos: int


Node = Literal | Ref | ListExpr | Call | Not | BoolOp | Compare

_COMPARISONS: Final = frozenset({"==", "!=", "<", "<=", ">", ">="})


class _Parser:
    def __init__(self, src: str) -> None:
        self.toks = list(_tokens(src))
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def _next(self) -> Token:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def _is(self, kind: str, text: str | None = None) -> bool:
        t = self.tok
        return t.kind == kind and (text is None or t.text == text)

    def _expect(self, text: str, what: str) -> Token:
        if not self._is("op", text):
            raise ExpressionError(f"expected {what}, found {_describe(self.tok)}", self.tok.pos)
        return self._next()

    def _enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"expression nested deeper than {MAX_DEPTH} levels", pos)

    def parse(self) -> Node:
        node = self.expr()
        if not self._is("end"):
            raise ExpressionError(
                f"unexpected {_describe(self.tok)} after a complete expression", self.tok.pos
            )
        return node

    def expr(self) -> Node:
        self._enter(self.tok.pos)
        try:
            return self._or()
        finally:
            self.depth -= 1

    def _or(self) -> Node:
        first = self._and()
        operands = [first]
        while self._is("kw", "or"):
            self._next()
            operands.append(self._and())
        return first if len(operands) == 1 else BoolOp("or", tuple(operands), _pos(first))

    def _and(self) -> Node:
        first = self._not()
        operands = [first]
        while self._is("kw", "and"):
            self._next()
            operands.append(self._not())
        return first if len(operands) == 1 else BoolOp("and", tuple(operands), _pos(first))

    def _not(self) -> Node:
        if self._is("kw", "not"):
            tok = self._next()
            self._enter(tok.pos)
            try:
                return Not(self._not(), tok.pos)
            finally:
                self.depth -= 1
        return self._comparison()

    def _comparison(self) -> Node:
        left = self._operand()
        op = None
        t = op_tok = self.tok
        if (t.kind == "op" and t.text in _COMPARISONS) or self._is("kw", "in"):
            op = self._next().text
        elif self._is("kw", "not") and self.toks[self.i + 1].text == "in":
            self.i += 2
            op = "not in"
        if op is None:
            return left
        right = self._operand()
        t = self.tok
        if (t.kind == "op" and t.text in _COMPARISONS) or self._is("kw", "in"):
            raise ExpressionError(
                "comparisons cannot be chained; join them with 'and'", self.tok.pos
            )
        return Compare(op, left, right, op_tok.pos)

    def _operand(self) -> Node:
        t = self.tok
        if t.kind == "str":
            self._next()
            return Literal(t.value, t.pos)
        if t.kind == "num":
            self._next()
            return Literal(t.value, t.pos)
        if self._is("op", "-"):
            self._next()
            if self.tok.kind != "num":
                raise ExpressionError("'-' must be followed by a number", t.pos)
            return Literal(-self._next().value, t.pos)
        if t.kind == "kw" and t.text in ("true", "false", "null"):
            self._next()
            return Literal({"true": True, "false": False, "null": None}[t.text], t.pos)
        if self._is("op", "("):
            self._next()
            node = self.expr()
            self._expect(")", "')'")
            return node
        if self._is("op", "["):
            self._next()
            items = self._items("]")
            if len(items) > MAX_LIST_ITEMS:
                raise ExpressionError(f"list longer than {MAX_LIST_ITEMS} items", t.pos)
            return ListExpr(items, t.pos)
        if t.kind == "name":
            self._next()
            if self._is("op", "("):
                if t.text not in FUNCTIONS:
                    known = ", ".join(sorted(FUNCTIONS))
                    raise ExpressionError(f"unknown function {t.text!r} (known: {known})", t.pos)
                self._next()
                args = self._items(")")
                arity = _ARITY[t.text]
                if len(args) != arity:
                    raise ExpressionError(
                        f"{t.text}() takes {arity} argument{'s' if arity != 1 else ''}, got {len(args)}",
                        t.pos,
                    )
                return Call(t.text, args, t.pos)
            path = [t.text]
            while self._is("op", "."):
                self._next()
                part = self.tok
                if part.kind not in ("name", "kw"):
                    raise ExpressionError(
                        f"expected a field name after '.', found {_describe(part)}", part.pos
                    )
                self._next()
                path.append(part.text)
            return Ref(tuple(path), t.pos)
        raise ExpressionError(f"expected a value, found {_describe(t)}", t.pos)

    def _items(self, close: str) -> tuple[Node, ...]:
        items: list[Node] = []
        if self._is("op", close):
            self._next()
            return ()
        while True:
            items.append(self.expr())
            if self._is("op", ","):
                self._next()
                continue
            self._expect(close, f"',' or {close!r}")
            return tuple(items)


def _describe(tok: Token) -> str:
    if tok.kind == "end":
        return "the end"
    if tok.kind == "str":
        return "a string"
    if tok.kind == "num":
        return f"number {tok.text}"
    return repr(tok.text)


def _pos(node: Node) -> int:
    return node.pos


# --- compiled expressions -----------------------------------------------------------------


@dataclass(frozen=True)
class Expression:
    """A parsed expression. ``refs`` are the dotted references it reads, each as a tuple
    of names (``("classify", "label")``), in order of appearance, without duplicates."""

    source: str
    tree: Node
    refs: tuple[tuple[str, ...], ...]

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        return evaluate(self.tree, scope)

    def test(self, scope: Mapping[str, Any]) -> bool:
        """Evaluate and apply ``truthy`` (what a ``when`` does)."""
        return truthy(evaluate(self.tree, scope))


def compile_expression(source: str) -> Expression:
    """Parse ``source``; raises ExpressionError naming the column of the first problem."""
    if not isinstance(source, str):
        raise ExpressionError(f"an expression must be a string, not {type(source).__name__}")
    if len(source) > MAX_CHARS:
        raise ExpressionError(f"expression is {len(source)} characters, over {MAX_CHARS}")
    if not source.strip():
        raise ExpressionError("expression is empty")
    tree = _Parser(source).parse()
    refs: list[tuple[str, ...]] = []
    _collect_refs(tree, refs)
    return Expression(source, tree, tuple(dict.fromkeys(refs)))


def _collect_refs(node: Node, out: list[tuple[str, ...]]) -> None:
    if isinstance(node, Ref):
        out.append(node.path)
    elif isinstance(node, ListExpr | Call):
        for child in node.args if isinstance(node, Call) else node.items:
            _collect_refs(child, out)
    elif isinstance(node, Not):
        _collect_refs(node.operand, out)
    elif isinstance(node, BoolOp):
        for child in node.operands:
            _collect_refs(child, out)
    elif isinstance(node, Compare):
        _collect_refs(node.left, out)
        _collect_refs(node.right, out)


# --- evaluation ----------------------------------------------------------------------------


def truthy(value: Any) -> bool:
    """null, false, 0, 0.0, "" and empty lists/maps are false; everything else is true."""
    if value is None or value is False:
        return False
    if isinstance(value, int | float | str | list | tuple | dict):
        return bool(value)
    return True


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, Mapping):
        return "map"
    return type(value).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(a: Any, b: Any) -> bool:
    """Equality without Python's cross-type surprises: true != 1, "1" != 1."""
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if _type_name(a) != _type_name(b):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _contains(container: Any, item: Any, pos: int) -> bool:
    if isinstance(container, str):
        if not isinstance(item, str):
            raise ExpressionError(
                f"'in' a string needs a string on the left, not {_type_name(item)}", pos
            )
        return item in container
    if isinstance(container, list | tuple):
        return any(_equal(item, x) for x in container)
    if isinstance(container, Mapping):
        return isinstance(item, str) and item in container
    if container is None:
        return False
    raise ExpressionError(f"'in' needs a string, list or map, not {_type_name(container)}", pos)


def _order(op: str, a: Any, b: Any, pos: int) -> bool:
    if a is None or b is None:
        return False  # a missing output is neither greater nor smaller than anything
    if not ((_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str))):
        raise ExpressionError(f"cannot compare {_type_name(a)} {op} {_type_name(b)}", pos)
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def _string_arg(fn: str, value: Any, pos: int) -> str:
    if not isinstance(value, str):
        raise ExpressionError(f"{fn}() needs a string, not {_type_name(value)}", pos)
    return value


def _fn_lower(pos: int, s: Any) -> Any:
    return None if s is None else _string_arg("lower", s, pos).lower()


def _fn_upper(pos: int, s: Any) -> Any:
    return None if s is None else _string_arg("upper", s, pos).upper()


def _fn_len(pos: int, v: Any) -> Any:
    if v is None:
        return 0
    if isinstance(v, str | list | tuple | Mapping):
        return len(v)
    raise ExpressionError(f"len() needs a string, list or map, not {_type_name(v)}", pos)


def _fn_contains(pos: int, haystack: Any, needle: Any) -> Any:
    return _contains(haystack, needle, pos)


def _fn_startswith(pos: int, s: Any, prefix: Any) -> Any:
    if s is None:
        return False
    return _string_arg("startswith", s, pos).startswith(_string_arg("startswith", prefix, pos))


FUNCTIONS: Final[dict[str, Callable[..., Any]]] = {
    "lower": _fn_lower,
    "upper": _fn_upper,
    "len": _fn_len,
    "contains": _fn_contains,
    "startswith": _fn_startswith,
}
_ARITY: Final = {"lower": 1, "upper": 1, "len": 1, "contains": 2, "startswith": 2}


def resolve(path: tuple[str, ...], scope: Mapping[str, Any]) -> Any:
    """The value at a dotted path; null where any part is missing or not a map."""
    value: Any = scope
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def evaluate(node: Node, scope: Mapping[str, Any]) -> Any:
    """Evaluate a parsed tree against ``scope`` (a map of names to JSON-like values)."""
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Ref):
        return resolve(node.path, scope)
    if isinstance(node, ListExpr):
        return [evaluate(item, scope) for item in node.items]
    if isinstance(node, Call):
        return FUNCTIONS[node.name](node.pos, *(evaluate(a, scope) for a in node.args))
    if isinstance(node, Not):
        return not truthy(evaluate(node.operand, scope))
    if isinstance(node, BoolOp):
        if node.op == "and":
            return all(truthy(evaluate(o, scope)) for o in node.operands)
        return any(truthy(evaluate(o, scope)) for o in node.operands)
    if isinstance(node, Compare):
        left, right = evaluate(node.left, scope), evaluate(node.right, scope)
        if node.op == "==":
            return _equal(left, right)
        if node.op == "!=":
            return not _equal(left, right)
        if node.op == "in":
            return _contains(right, left, node.pos)
        if node.op == "not in":
            return not _contains(right, left, node.pos)
        return _order(node.op, left, right, node.pos)
    raise ExpressionError(f"unknown node {type(node).__name__}")  # pragma: no cover
