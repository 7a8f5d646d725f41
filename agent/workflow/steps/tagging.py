"""``tag`` and ``route``: labels and a route name for a document, from fixed values and
conditions on earlier outputs. Their outputs are for later steps' ``when`` and for the
caller (the daemon files documents by route)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from agent.workflow.steps.base import ExprStr, Params, StepContext, StepType

__all__ = ["ROUTE", "TAG", "RouteParams", "TagParams"]

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")]


class TagRule(Params):
    when: ExprStr
    tags: list[Name] = Field(min_length=1, max_length=64)


class TagParams(Params):
    tags: list[Name] = Field(default_factory=list, max_length=64)
    """Tags always set."""
    rules: list[TagRule] = Field(default_factory=list, max_length=64)
    """Tags set when a rule's ``when`` holds (every rule is tested)."""

    @model_validator(mode="after")
    def _something(self) -> TagParams:
        if not self.tags and not self.rules:
            raise ValueError("give 'tags', 'rules' or both")
        return self

    def expressions(self) -> list[tuple[tuple[str | int, ...], str]]:
        return [(("rules", i, "when"), r.when) for i, r in enumerate(self.rules)]


def run_tag(ctx: StepContext, p: TagParams) -> dict[str, Any]:
    tags = list(p.tags)
    for rule in p.rules:
        if ctx.evaluate_test(rule.when):
            tags.extend(rule.tags)
    return {"tags": list(dict.fromkeys(tags))}


class RouteRule(Params):
    when: ExprStr
    to: Name


class RouteParams(Params):
    rules: list[RouteRule] = Field(default_factory=list, max_length=64)
    """Tested in order; the first that holds gives the route."""
    default: Name | None = None
    """The route when no rule holds (null: no route)."""

    @model_validator(mode="after")
    def _something(self) -> RouteParams:
        if not self.rules and self.default is None:
            raise ValueError("give 'rules', 'default' or both")
        return self

    def expressions(self) -> list[tuple[tuple[str | int, ...], str]]:
        return [(("rules", i, "when"), r.when) for i, r in enumerate(self.rules)]


def run_route(ctx: StepContext, p: RouteParams) -> dict[str, Any]:
    for i, rule in enumerate(p.rules):
        if ctx.evaluate_test(rule.when):
            return {"route": rule.to, "rule": i}
    return {"route": p.default, "rule": None}


TAG = StepType("tag", TagParams, run_tag, "set tags, always or by condition")
ROUTE = StepType("route", RouteParams, run_route, "choose a route name by condition")
