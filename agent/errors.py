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
