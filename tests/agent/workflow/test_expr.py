"""agent/workflow/expr.py: the tokenizer, parser and evaluator of the expression language."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.errors import ExpressionError
from agent.workflow.expr import MAX_CHARS, MAX_DEPTH, compile_expression, truthy

SCOPE: dict[str, Any] = {
    "classify": {"label": "invoice", "confidence": 0.93, "model": "doctype@1.0.0"},
    "pii": {"count": 2, "kinds": {"email": 1, "iban": 1}},
    "tags": {"tags": ["intake", "pii"]},
    "document": {"name": "Invoice-42.TXT", "source": "inbox", "size": 1200, "metadata": {}},
}


def ev(src: str, scope: dict[str, Any] | None = None) -> Any:
    return compile_expression(src).evaluate(SCOPE if scope is None else scope)


@pytest.mark.parametrize(
    ("src", "value"),
    [
        ("1", 1),
        ("-2.5", -2.5),
        ("1e3", 1000.0),
        ('"a\\"b"', 'a"b'),
        ("'tab\\there'", "tab\there"),
        ("true", True),
        ("false", False),
        ("null", None),
        ("[1, 'a', null]", [1, "a", None]),
        ("[]", []),
        ("classify.label", "invoice"),
        ("classify.missing", None),
        ("nothing.at.all", None),
        ("classify.label.deeper", None),
        ("document.metadata", {}),
    ],
)
def test_literals_and_references(src: str, value: Any) -> None:
    assert ev(src) == value


@pytest.mark.parametrize(
    ("src", "value"),
    [
        ('classify.label == "invoice" and classify.confidence > 0.8', True),
        ('classify.label == "invoice" and classify.confidence > 0.95', False),
        ('classify.label == "memo" or pii.count >= 2', True),
        ("not pii.count", False),
        ("not not pii.count", True),
        ("pii.count == 2.0", True),
        ("pii.count != 2", False),
        ("1 < 2", True),
        ("2 <= 2", True),
        ("3 > 2", True),
        ("2 >= 3", False),
        ("'abc' < 'abd'", True),
        ('"pii" in tags.tags', True),
        ('"x" not in tags.tags', True),
        ('"voice" in classify.label', True),
        ('"email" in pii.kinds', True),
        ("classify.label in ['invoice', 'receipt']", True),
        ("1 in [1.0, 2]", True),
        ("true == 1", False),
        ('"1" == 1', False),
        ("null == null", True),
        ("classify.missing == null", True),
        ("[1, [2]] == [1, [2]]", True),
        ("(1 < 2) == true", True),
        ("not (1 < 2 and 2 < 1)", True),
        ("true or false and false", True),
        ("(true or false) and false", False),
        ("classify.missing > 0.5", False),
        ("classify.missing < 0.5", False),
        ("'a' in null", False),
    ],
)
def test_operators(src: str, value: bool) -> None:
    assert ev(src) is value


@pytest.mark.parametrize(
    ("src", "value"),
    [
        ("lower(document.name)", "invoice-42.txt"),
        ("upper('abc')", "ABC"),
        ("len(tags.tags)", 2),
        ("len(classify.label)", 7),
        ("len(null)", 0),
        ("contains(tags.tags, 'pii')", True),
        ("contains(classify.label, 'nv')", True),
        ("startswith(lower(document.name), 'invoice')", True),
        ("startswith(null, 'x')", False),
        ("lower(classify.missing)", None),
    ],
)
def test_functions(src: str, value: Any) -> None:
    assert ev(src) == value


def test_refs_are_collected_in_order_without_duplicates() -> None:
    e = compile_expression("a.x == 1 and lower(b.y) in [c, a.x] or document.name")
    assert e.refs == (("a", "x"), ("b", "y"), ("c",), ("document", "name"))


def test_keywords_may_be_field_names_after_a_dot() -> None:
    assert ev("x.in", {"x": {"in": 3}}) == 3


def test_truthiness() -> None:
    for v in (None, False, 0, 0.0, "", [], {}):
        assert not truthy(v)
    for v in (True, 1, -0.5, "x", [0], {"a": None}):
        assert truthy(v)
    assert compile_expression("pii.kinds").test(SCOPE) is True
    assert compile_expression("classify.missing").test(SCOPE) is False


def _error(src: str, scope: dict[str, Any] | None = None) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        ev(src, scope)
    return info.value


@pytest.mark.parametrize(
    ("src", "position", "words"),
    [
        ("classify.label ==", 18, "expected a value"),
        ("classify.label = 'x'", 16, "'=='"),
        ("a && b", 3, "'and'"),
        ("(1 < 2", 7, "expected ')'"),
        ("1 < 2 < 3", 7, "chained"),
        ("'open", 1, "unterminated string"),
        ("'bad \\q'", 6, "unknown escape"),
        ("12abc", 1, "invalid number"),
        ("a.", 3, "field name"),
        ("a b", 3, "after a complete expression"),
        ("eval('1')", 1, "unknown function 'eval'"),
        ("__import__('os')", 1, "unknown function"),
        ("lower()", 1, "takes 1 argument"),
        ("contains('a')", 1, "takes 2 arguments"),
        ("- x", 1, "followed by a number"),
        ("a @ b", 3, "unexpected character"),
        ("[1, 2", 6, "expected ',' or ']'"),
        ("9" * 30, 1, "too long"),
        ("1e999", 1, "out of range"),
    ],
)
def test_parse_errors_name_the_column(src: str, position: int, words: str) -> None:
    e = _error(src)
    assert e.position == position
    assert words in str(e)
    assert f"column {position}" in str(e)


@pytest.mark.parametrize(
    ("src", "words"),
    [
        ("classify.label < 1", "cannot compare string < number"),
        ("true > false", "cannot compare bool > bool"),
        ("1 in 5", "'in' needs a string, list or map"),
        ("1 in 'abc'", "needs a string on the left"),
        ("lower(1)", "lower() needs a string"),
        ("len(1)", "len() needs"),
        ("startswith('a', 1)", "startswith() needs a string"),
    ],
)
def test_evaluation_errors(src: str, words: str) -> None:
    e = _error(src)
    assert words in str(e)
    assert e.position is not None


def test_limits() -> None:
    assert "characters, over" in str(_error("1" + " " * MAX_CHARS))
    assert "empty" in str(_error("   "))
    deep = "(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1)
    assert "nested deeper" in str(_error(deep))
    ok = "(" * (MAX_DEPTH - 1) + "1" + ")" * (MAX_DEPTH - 1)
    assert ev(ok) == 1
    assert "nested deeper" in str(_error("not " * (MAX_DEPTH + 1) + "true"))
    assert "list longer" in str(_error("[" + ", ".join(["1"] * 300) + "]"))


def test_not_a_string() -> None:
    with pytest.raises(ExpressionError, match="must be a string"):
        compile_expression(42)  # type: ignore[arg-type]


# --- properties -----------------------------------------------------------------------------

_ALPHABET = st.sampled_from(
    [
        *list("abcxyz_.0123456789 ()[],'\"\\=!<>-+*/&|@#\n\t"),
        "and",
        "or",
        "not",
        "in",
        "true",
        "false",
        "null",
        "lower(",
        "len(",
        "contains(",
    ]
)

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from("abcxyz"), children, max_size=3)
    ),
    max_leaves=10,
)
_scopes = st.dictionaries(st.sampled_from(["a", "b", "x", "document"]), _json, max_size=4)


@settings(max_examples=200, deadline=None)
@given(st.lists(_ALPHABET, max_size=40).map("".join), _scopes)
def test_random_input_raises_only_expression_errors(src: str, scope: dict[str, Any]) -> None:
    with contextlib.suppress(ExpressionError):
        compile_expression(src).evaluate(scope)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60), _scopes)
def test_random_text_raises_only_expression_errors(src: str, scope: dict[str, Any]) -> None:
    with contextlib.suppress(ExpressionError):
        compile_expression(src).evaluate(scope)


_operand = st.sampled_from(
    ["a", "a.b", "x.a.c", "1", "2.5", "'s'", "null", "true", "[1, 'a']", "b"]
)


@st.composite
def _well_formed(draw: st.DrawFn, depth: int = 0) -> str:
    if depth > 3 or draw(st.booleans()):
        return draw(_operand)
    kind = draw(st.sampled_from(["cmp", "bool", "not", "call", "paren"]))
    left, right = draw(_well_formed(depth + 1)), draw(_well_formed(depth + 1))
    if kind == "cmp":
        op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in", "not in"]))
        return f"({left}) {op} ({right})"
    if kind == "bool":
        return f"{left} {draw(st.sampled_from(['and', 'or']))} {right}"
    if kind == "not":
        return f"not {left}"
    if kind == "call":
        fn = draw(st.sampled_from(["lower", "upper", "len"]))
        return f"{fn}({left})"
    return f"({left})"


@settings(max_examples=150, deadline=None)
@given(_well_formed(), _scopes)
def test_well_formed_expressions_parse_and_evaluate_or_raise_type_errors(
    src: str, scope: dict[str, Any]
) -> None:
    expr = compile_expression(src)  # never a parse error
    position: int | None = 0
    try:
        expr.evaluate(scope)
    except ExpressionError as e:
        position = e.position
    assert position is not None  # evaluation errors name a column too
