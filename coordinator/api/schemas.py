"""Response bodies of the API (pydantic)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict


class _FromRow(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Live(BaseModel):
    status: str


class Ready(BaseModel):
    ready: bool
    checks: dict[str, str]


class AgentOut(_FromRow):
    id: str
    first_seen: float
    last_seen: float
    last_status: dict[str, Any] | None


class JobOut(_FromRow):
    id: str
    agent_id: str
    run_id: str
    document_id: str | None
    type: str
    status: str
    output: dict[str, Any] | None
    error: str | None
    attempts: int
    created_at: float
    started_at: float | None
    finished_at: float | None
    result_published_at: float | None


class DocumentOut(_FromRow):
    id: str
    agent_id: str
    run_id: str
    content_id: str
    name: str
    media_type: str | None
    size: int
    label: str | None
    confidence: float | None
    model: str | None
    workflow: str
    version: str
    summary: str | None
    received_at: float
    created_at: float
    updated_at: float


class DocumentDetail(DocumentOut):
    jobs: list[JobOut]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


class Stats(BaseModel):
    agents: int
    documents: int
    documents_by_label: dict[str, int]
    jobs_by_status: dict[str, int]
    dead_letters: int
