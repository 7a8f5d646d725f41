"""The coordinator's store: SQLAlchemy 2 models and sessions (SQLite by default;
PostgreSQL through ``DWC_DATABASE_URL``)."""

from coordinator.store.db import Database
from coordinator.store.models import Agent, Base, DeadLetter, Document, Event, Job

__all__ = ["Agent", "Base", "Database", "DeadLetter", "Document", "Event", "Job"]
