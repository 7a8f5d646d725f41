"""The /api/v3 cluster API (FastAPI). The only place that deals in HTTP statuses."""

from coordinator.api.app import create_app

__all__ = ["create_app"]
