"""The coordinator's exceptions: one base, one subclass per kind of failure. Only
``coordinator/api/`` maps them to HTTP statuses."""

from __future__ import annotations


class CoordinatorError(Exception):
    """Base class of every error the coordinator raises on purpose."""


class ConfigError(CoordinatorError):
    """A setting or command-line value is missing or invalid."""


class PortInUseError(ConfigError):
    """The API port is already taken by another process."""


class NotFound(CoordinatorError):
    """A resource the caller named does not exist."""


class DispatchError(CoordinatorError):
    """A job could not be dispatched or failed in a way worth reporting."""


class StoreError(CoordinatorError):
    """The database URL is invalid, the database cannot be reached, or its schema cannot
    be brought to this version's."""


class UnknownRevisionError(StoreError):
    """The database's schema is at a migration this version does not know (it was
    migrated by a newer DWC)."""
