"""The agent's exceptions: one base and one subclass per kind of failure.

Messages are one line and name the thing at fault (a file, a field, a value), because
the CLI prints them as they are.
"""

from __future__ import annotations


class AgentError(Exception):
    """Base class of every error the agent raises on purpose."""


class ConfigError(AgentError):
    """A setting, profile or command-line value is missing or invalid."""


class ProfileError(ConfigError):
    """A device profile is missing, unreadable or fails validation."""


class DataDirError(ConfigError):
    """The data directory cannot be created, read or written."""


class ProtocolError(AgentError):
    """A wire message cannot be decoded or fails validation (goes to a dead letter)."""


class UnsupportedVersionError(ProtocolError):
    """A wire message has a newer major protocol version than this agent speaks."""


class DocumentError(AgentError):
    """A document cannot be processed (unsupported type, not text, too large ...)."""


class ModelError(AgentError):
    """A model artifact is missing, fails its checksum, or does not match its manifest."""


class NatsServerError(AgentError):
    """The local nats-server could not be started or did not become ready."""


class DocumentRefused(AgentError):
    """A document offered to the agent is refused before anything is written: too large
    (413), the queue is full (429, try again later) or the disk budget is reached (507)."""

    def __init__(self, status: int, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class RunNotFound(AgentError):
    """No run has the id given (``dwc agent retry``, ``POST /v1/runs/{id}/retry``)."""


class RunNotRetryable(AgentError):
    """A run cannot be retried: it did not fail, a later run of its document exists, or
    its document's file is not in ``failed/``."""


class AgentUnreachable(AgentError):
    """The agent's local API does not answer at the URL tried (the message names it)."""


class ApiRefused(AgentError):
    """The agent's local API answered a request with an error status (``status``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class WorkflowError(AgentError):
    """A workflow spec, expression or step cannot be used (see agent/workflow/)."""


class SpecError(WorkflowError):
    """A workflow spec fails validation.

    ``problems`` lists every problem found, each as ``(path, message)`` with the path
    inside the spec (``steps[2].needs[0]``); ``summary`` is one line. ``str()`` is the
    summary followed by one indented line per problem."""

    def __init__(self, summary: str, problems: list[tuple[str, str]] | None = None) -> None:
        self.summary = summary
        self.problems = list(problems or [])
        lines = [
            summary,
            *(f"  {path}: {msg}" if path else f"  {msg}" for path, msg in self.problems),
        ]
        super().__init__("\n".join(lines))


class ExpressionError(WorkflowError):
    """An expression does not parse, or fails while being evaluated (a type mismatch).

    ``position`` is the 1-based column of the offending character or token, or None
    when no single place is at fault."""

    def __init__(self, message: str, position: int | None = None) -> None:
        self.reason = message
        self.position = position
        super().__init__(f"{message} (at column {position})" if position else message)


class StepError(WorkflowError):
    """A workflow step failed in a way a retry cannot fix (bad input, bad parameters at
    run time, a limit exceeded). The engine fails the step at once instead of retrying."""
