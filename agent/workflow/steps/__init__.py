"""Step types: a registry mapping a type name to (parameters model, implementation).

``DEFAULT_REGISTRY`` holds the built-in local types (``extract``, ``classify``,
``detect_pii``, ``redact``, ``hash``, ``tag``, ``route``, ``transform``) and resolves every
``ai.*``, ``chain.*`` and ``quantum.*`` name to the remote type. ``default_registry()``
returns a copy to which more types can be added (tests do).
"""

from __future__ import annotations

from agent.workflow.steps.base import (
    REMOTE_PREFIXES,
    Classifier,
    ExprStr,
    Params,
    Registry,
    Resources,
    StepContext,
    StepType,
)
from agent.workflow.steps.classify import CLASSIFY
from agent.workflow.steps.extract import EXTRACT
from agent.workflow.steps.hashing import HASH
from agent.workflow.steps.pii import DETECT_PII, REDACT
from agent.workflow.steps.remote import REMOTE
from agent.workflow.steps.tagging import ROUTE, TAG
from agent.workflow.steps.transform import TRANSFORM

__all__ = [
    "DEFAULT_REGISTRY",
    "REMOTE_PREFIXES",
    "Classifier",
    "ExprStr",
    "Params",
    "Registry",
    "Resources",
    "StepContext",
    "StepType",
    "default_registry",
]

LOCAL_TYPES = (EXTRACT, CLASSIFY, DETECT_PII, REDACT, HASH, TAG, ROUTE, TRANSFORM)


def default_registry() -> Registry:
    return Registry(LOCAL_TYPES, remote=REMOTE)


DEFAULT_REGISTRY = default_registry()
