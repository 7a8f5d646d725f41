"""agent/workflow/spec.py: loading and validating workflow specs; every problem is
reported, each with its path inside the spec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.errors import SpecError
from agent.workflow import builtin_workflows
from agent.workflow.spec import (
    MAX_SPEC_BYTES,
    MAX_SPEC_DEPTH,
    load_workflow,
    parse_workflow,
    validate_workflow,
)


def spec(*steps: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"name": "t", "version": "1.0.0", **top, "steps": list(steps)}


def problems(data: Any) -> dict[str, list[str]]:
    """path -> messages of the SpecError the spec raises."""
    with pytest.raises(SpecError) as info:
        validate_workflow(data)
    e = info.value
    assert "\n" not in e.summary
    assert str(e).splitlines()[0] == e.summary
    assert len(str(e).splitlines()) == 1 + len(e.problems)
    out: dict[str, list[str]] = {}
    for path, msg in e.problems:
        out.setdefault(path, []).append(msg)
    return out


def one(data: Any, path: str) -> str:
    found = problems(data)
    assert path in found, found
    return " | ".join(found[path])


EXTRACT = {"id": "extract", "type": "extract"}
CLASSIFY = {"id": "classify", "type": "classify"}


# --- valid specs ----------------------------------------------------------------------------


def test_a_plain_list_is_a_chain() -> None:
    wf = validate_workflow(
        spec(EXTRACT, CLASSIFY, {"id": "tag", "type": "tag", "with": {"tags": ["a"]}})
    )
    assert [s.needs for s in wf.steps] == [(), ("extract",), ("classify",)]
    assert wf.order == ("extract", "classify", "tag")
    assert wf.ancestors["tag"] == {"extract", "classify"}
    assert wf.key == "t@1.0.0"
    step = wf.step("classify")
    assert (step.timeout, step.retries, step.on_failure.action, step.when) == (
        30.0,
        0,
        "fail",
        None,
    )


def test_explicit_needs_make_a_dag_in_any_order() -> None:
    wf = validate_workflow(
        spec(
            {"id": "join", "type": "tag", "needs": ["left", "right"], "with": {"tags": ["j"]}},
            {"id": "right", "type": "hash", "needs": ["root"]},
            {"id": "left", "type": "hash", "needs": ["root"]},
            {"id": "root", "type": "extract", "needs": []},
        )
    )
    # topological; ties go to the earlier in the spec
    assert wf.order == ("root", "right", "left", "join")
    assert wf.ancestors["join"] == {"root", "left", "right"}


def test_route_targets_are_handlers_outside_the_chain() -> None:
    wf = validate_workflow(
        spec(
            EXTRACT,
            {"id": "classify", "type": "classify", "on_failure": "route:fallback"},
            {"id": "fallback", "type": "tag", "with": {"tags": ["unclassified"]}},
            {"id": "last", "type": "tag", "with": {"tags": ["x"]}},
        )
    )
    assert wf.step("fallback").handler
    assert wf.step("fallback").needs == ()
    # the step after a handler follows the previous step of the chain
    assert wf.step("last").needs == ("classify",)
    assert wf.routers == {"fallback": ("classify",)}


def test_json_and_yaml_agree(tmp_path: Path) -> None:
    data = spec(
        EXTRACT,
        {
            "id": "pii",
            "type": "detect_pii",
            "when": 'document.source == "inbox"',
            "timeout": 5,
            "retries": 2,
            "on_failure": "continue",
            "with": {"kinds": ["email"], "patterns": {"ticket": "TCK-\\d+"}},
        },
        match={"glob": "*.txt", "content_type": "text/*", "source": ["inbox", "http"]},
    )
    (tmp_path / "a.json").write_text(json.dumps(data))
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(data))
    a, b = load_workflow(tmp_path / "a.json"), load_workflow(tmp_path / "a.yaml")
    assert a.spec == b.spec
    assert a.match.glob == ["*.txt"]
    assert a.match.content_type == ["text/*"]
    assert parse_workflow(json.dumps(data)).spec == a.spec  # format guessed from '{'


def test_builtin_workflows_are_valid() -> None:
    names = {w.key for w in builtin_workflows()}
    assert names == {"intake@1.0.0", "invoice-pii@1.0.0"}


# --- every problem, with its path ------------------------------------------------------------


def test_every_problem_is_listed_with_its_path() -> None:
    found = problems(
        spec(
            EXTRACT,
            {"id": "classify", "type": "clasify"},
            {"id": "pii", "type": "detect_pii", "needs": ["clasify"], "when": "classify.label =="},
            {"id": "pii", "type": "tag", "with": {"tags": ["x"]}},
        )
    )
    assert set(found) == {"steps[1].type", "steps[2].needs[0]", "steps[2].when", "steps[3].id"}
    assert "unknown step 'clasify'" in found["steps[2].needs[0]"][0]
    assert "did you mean 'classify'" in found["steps[2].needs[0]"][0]


def test_summary_counts_problems() -> None:
    with pytest.raises(SpecError) as info:
        validate_workflow(spec({"id": "a", "type": "nope"}, {"id": "a", "type": "nope"}))
    assert info.value.summary == "workflow spec ('t') is invalid: 3 problems"


def test_unknown_step_type() -> None:
    msg = one(spec({"id": "a", "type": "clasify"}), "steps[0].type")
    assert "unknown step type 'clasify'" in msg
    assert "did you mean 'classify'" in msg
    assert "ai.*" in msg  # the known types are listed
    assert "unknown step type 'ai'" in one(spec({"id": "a", "type": "ai"}), "steps[0].type")
    assert "AI.summarize" in one(spec({"id": "a", "type": "AI.summarize"}), "steps[0].type")


def test_remote_types_take_any_name_under_their_prefix() -> None:
    wf = validate_workflow(
        spec(
            {"id": "a", "type": "ai.summarize"},
            {"id": "b", "type": "chain.anchor"},
            {"id": "c", "type": "quantum.qaoa.maxcut"},
        )
    )
    assert all(s.remote for s in wf.steps)


def test_duplicate_and_reserved_ids() -> None:
    found = problems(
        spec(EXTRACT, {"id": "extract", "type": "hash"}, {"id": "document", "type": "hash"})
    )
    assert found["steps[1].id"] == ["duplicate id 'extract' (first used by steps[0])"]
    assert "reserved" in found["steps[2].id"][0]
    assert "not a step id" in one(spec({"id": "has space", "type": "hash"}), "steps[0].id")
    assert "not a step id" in one(spec({"id": "a.b", "type": "hash"}), "steps[0].id")


def test_unknown_self_and_repeated_needs() -> None:
    found = problems(
        spec(EXTRACT, {"id": "h", "type": "hash", "needs": ["nope", "h", "extract", "extract"]})
    )
    assert found["steps[1].needs[0]"] == ["unknown step 'nope'"]
    assert found["steps[1].needs[1]"] == ["a step cannot need itself"]
    assert found["steps[1].needs[3]"] == ["'extract' is listed twice"]


def test_cycles_are_named() -> None:
    found = problems(
        spec(
            {"id": "a", "type": "hash", "needs": ["c"]},
            {"id": "b", "type": "hash", "needs": ["a"]},
            {"id": "c", "type": "hash", "needs": ["b"]},
            {"id": "d", "type": "hash", "needs": ["e"]},
            {"id": "e", "type": "hash", "needs": ["d"]},
        )
    )
    assert found == {
        "steps[1].needs[0]": ["cycle a -> c -> b -> a (each step needs the next)"],
        "steps[4].needs[0]": ["cycle d -> e -> d (each step needs the next)"],
    }


def test_a_cycle_through_an_implicit_need() -> None:
    # b needs a by default (the previous step); a needs b explicitly
    msg = one(
        spec({"id": "a", "type": "hash", "needs": ["b"]}, {"id": "b", "type": "hash"}),
        "steps[1].needs",
    )
    assert "cycle" in msg
    assert "a" in msg
    assert "b" in msg


@pytest.mark.parametrize(
    ("when", "words"),
    [
        ("classify.label ==", "expected a value, found the end (at column 18)"),
        ("classify.label = 'x'", "compare with '=='"),
        ("clasify.label == 'x'", "references unknown step 'clasify' (did you mean 'classify'?)"),
        ("later.x == 1", "references step 'later', which is not among the needs of 'check'"),
        ("check.x == 1", "references the output of its own step 'check'"),
        ("document.nmae == 'a'", "document has no field 'nmae'"),
        ("lower == 'a'", "lower is a function"),
        ("a.b and", "expected a value"),
    ],
)
def test_bad_when(when: str, words: str) -> None:
    data = spec(
        EXTRACT,
        CLASSIFY,
        {"id": "check", "type": "tag", "when": when, "with": {"tags": ["x"]}},
        {"id": "later", "type": "hash"},
    )
    assert words in one(data, "steps[2].when")


def test_when_may_read_ancestors_through_other_steps_and_the_document() -> None:
    validate_workflow(
        spec(
            EXTRACT,
            CLASSIFY,
            {"id": "h", "type": "hash"},
            {
                "id": "t",
                "type": "tag",
                "when": 'extract.chars > 0 and classify.label == "memo" and document.metadata.x == 1',
                "with": {"tags": ["x"]},
            },
        )
    )


@pytest.mark.parametrize(
    ("step", "path", "words"),
    [
        (
            {"type": "detect_pii", "with": {"kinds": ["ssn"]}},
            "steps[1].with.kinds[0]",
            "'email', 'iban', 'card' or 'phone'",
        ),
        (
            {"type": "detect_pii", "with": {"patterns": {"x": "("}}},
            "steps[1].with.patterns.x",
            "not a valid regular expression",
        ),
        (
            {"type": "detect_pii", "with": {"patterns": {"x": "a*"}}},
            "steps[1].with.patterns.x",
            "matches the empty string",
        ),
        (
            {"type": "detect_pii", "with": {"patterns": {"email": "x"}}},
            "steps[1].with",
            "redefine built-in kinds: email",
        ),
        (
            {"type": "detect_pii", "with": {"bogus": 1}},
            "steps[1].with.bogus",
            "unknown key (allowed: kinds, patterns, text, max_spans)",
        ),
        (
            {"type": "extract", "with": {"max_pages": 0}},
            "steps[1].with.max_pages",
            "greater than or equal to 1",
        ),
        (
            {"type": "extract", "with": {"max_pages": "3"}},
            "steps[1].with.max_pages",
            "valid integer",
        ),
        ({"type": "hash", "with": {"of": "bytes"}}, "steps[1].with.of", "'content' or 'text'"),
        ({"type": "tag", "with": {}}, "steps[1].with", "give 'tags', 'rules' or both"),
        (
            {"type": "tag", "with": {"rules": [{"when": "x ==", "tags": ["a"]}]}},
            "steps[1].with.rules[0].when",
            "expected a value",
        ),
        (
            {"type": "tag", "with": {"rules": [{"when": "nope.x", "tags": ["a"]}]}},
            "steps[1].with.rules[0].when",
            "unknown step 'nope'",
        ),
        (
            {"type": "route", "with": {"rules": [{"when": "true"}]}},
            "steps[1].with.rules[0].to",
            "required",
        ),
        (
            {"type": "transform", "with": {"ops": [{"op": "set", "field": "a"}]}},
            "steps[1].with.ops[0]",
            "op 'set' needs value",
        ),
        (
            {"type": "transform", "with": {"ops": [{"op": "delete", "field": "a", "to": "b"}]}},
            "steps[1].with.ops[0]",
            "does not take to",
        ),
        (
            {"type": "transform", "with": {"ops": [{"op": "explode", "field": "a"}]}},
            "steps[1].with.ops[0].op",
            "Input should be",
        ),
        (
            {"type": "transform", "with": {"fields": {"a": "later.x"}}},
            "steps[1].with.fields.a",
            "not among the needs",
        ),
        (
            {"type": "classify", "with": {"text": "extract.text +"}},
            "steps[1].with.text",
            "unexpected character",
        ),
        (
            {
                "type": "ai.summarize",
                "with": {"input": {"a": 1}, "input_from": {"a": "extract.text"}},
            },
            "steps[1].with",
            "both 'input' and 'input_from': a",
        ),
        ({"type": "ai.summarize", "with": {"prompt": "x"}}, "steps[1].with.prompt", "unknown key"),
    ],
)
def test_bad_parameters_for_the_step_type(step: dict[str, Any], path: str, words: str) -> None:
    data = spec(EXTRACT, {"id": "s", **step}, {"id": "later", "type": "hash"})
    assert words in one(data, path)


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("timeout", 0, "greater than 0"),
        ("timeout", "30", "valid number"),
        ("retries", 11, "less than or equal to 10"),
        ("retries", 1.5, "valid integer"),
        ("on_failure", "retry", "'fail', 'continue' or 'route:<step id>'"),
        ("needs", "extract", "valid list"),
        ("when", 1, "valid string"),
        ("with", [], "valid dictionary"),
        (
            "params",
            {},
            "unknown key (allowed: id, type, needs, when, timeout, retries, on_failure, with, description)",
        ),
    ],
)
def test_bad_step_fields(field: str, value: Any, words: str) -> None:
    assert words in one(
        spec(EXTRACT, {"id": "h", "type": "hash", field: value}), f"steps[1].{field}"
    )


def test_bad_routes() -> None:
    found = problems(
        spec(
            {"id": "a", "type": "extract", "on_failure": "route:nope"},
            {"id": "b", "type": "hash", "on_failure": "route:b"},
            {"id": "c", "type": "hash", "needs": ["a"], "on_failure": "route:a"},
        )
    )
    assert found["steps[0].on_failure"] == ["unknown step 'nope'"]
    assert found["steps[1].on_failure"] == ["a step cannot route its failure to itself"]
    assert "among the needs of 'c'" in found["steps[2].on_failure"][0]


@pytest.mark.parametrize(
    ("data", "path", "words"),
    [
        ({"version": "1.0.0", "steps": [EXTRACT]}, "name", "required"),
        ({"name": "t", "steps": [EXTRACT]}, "version", "required"),
        ({"name": "t", "version": 1.0, "steps": [EXTRACT]}, "version", "valid string"),
        ({"name": "t", "version": "1.0", "steps": [EXTRACT]}, "version", "semantic version"),
        ({"name": "t", "version": "1.0.0", "steps": []}, "steps", "at least 1"),
        ({"name": "t", "version": "1.0.0"}, "steps", "required"),
        ({"name": "bad name", "version": "1.0.0", "steps": [EXTRACT]}, "name", "workflow name"),
        (
            spec(EXTRACT, extra=1),
            "extra",
            "unknown key (allowed: name, version, description, match, steps)",
        ),
        (spec(EXTRACT, match={"glob": []}), "match.glob", "at least 1"),
        (spec(EXTRACT, match={"content_type": "text"}), "match.content_type[0]", "content type"),
        (spec(EXTRACT, match={"path": "x"}), "match.path", "allowed: source, glob, content_type"),
        (spec("extract"), "steps[0]", "valid dictionary"),
    ],
)
def test_bad_top_level(data: dict[str, Any], path: str, words: str) -> None:
    assert words in one(data, path)


def test_not_a_map() -> None:
    with pytest.raises(SpecError, match="must be a map"):
        validate_workflow(["a"])


# --- loading and hostile input -----------------------------------------------------------


def test_not_yaml_names_the_line() -> None:
    with pytest.raises(SpecError, match=r"not valid YAML: .* at line 4 column 3"):
        parse_workflow("name: t\nversion: 1.0.0\nsteps: [\n  - a: {")


def test_not_json_names_the_line() -> None:
    with pytest.raises(SpecError, match=r"not valid JSON: .* at line 2 column"):
        parse_workflow('{"name": "t",\n "version" 1}')


def test_duplicate_keys_are_refused() -> None:
    text = "name: t\nversion: 1.0.0\nsteps:\n  - id: a\n    type: hash\n    type: extract\n"
    with pytest.raises(SpecError, match="duplicate key 'type' at line 6"):
        parse_workflow(text)
    with pytest.raises(SpecError, match="duplicate key 'name'"):
        parse_workflow('{"name": "a", "name": "b"}')


def test_empty_and_multi_document_yaml() -> None:
    with pytest.raises(SpecError, match="is empty"):
        parse_workflow("# nothing\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        parse_workflow("name: a\n---\nname: b\n")


def test_python_tags_are_refused() -> None:
    with pytest.raises(SpecError, match="not valid YAML"):
        parse_workflow("name: !!python/object/apply:os.system ['true']\n")


def test_a_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as f:
        f.truncate(50 << 20)  # sparse: 50 MB without writing them
    with pytest.raises(SpecError, match=f"over the {MAX_SPEC_BYTES}-byte limit"):
        load_workflow(big)


def test_a_huge_string_is_refused() -> None:
    with pytest.raises(SpecError, match="over the"):
        parse_workflow("name: " + "x" * (50 << 20))


def test_billion_laughs_is_refused() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    with pytest.raises(SpecError, match="expands to more than"):
        parse_workflow("\n".join(lines))


def test_a_self_referencing_alias_is_refused() -> None:
    with pytest.raises(SpecError, match="refused"):
        parse_workflow("name: &a [*a]\n")


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_deep_nesting_is_refused(fmt: str) -> None:
    shallow = "[" * (MAX_SPEC_DEPTH + 2) + "]" * (MAX_SPEC_DEPTH + 2)
    deep = "[" * 100_000 + "]" * 100_000
    for text in (shallow, deep):
        with pytest.raises(SpecError, match="nest"):
            parse_workflow(
                '{"name": ' + text + "}" if fmt == "json" else "name: " + text, format=fmt
            )  # type: ignore[arg-type]


def test_not_utf8_and_unreadable(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="not UTF-8"):
        parse_workflow(b"name: \xff\n")
    with pytest.raises(SpecError, match="cannot read"):
        load_workflow(tmp_path / "missing.yaml")


def test_yaml_anchors_within_limits_still_work() -> None:
    wf = parse_workflow(
        "name: t\nversion: 1.0.0\nsteps:\n"
        "  - &base {id: a, type: hash, timeout: 5}\n"
        "  - {<<: *base, id: b}\n"
    )
    assert [(s.id, s.timeout) for s in wf.steps] == [("a", 5.0), ("b", 5.0)]
