from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import select

from coordinator.api.deps import SessionDep
from coordinator.api.schemas import DocumentDetail, DocumentOut, JobOut, Page
from coordinator.store import Document, Job

router = APIRouter(prefix="/documents", tags=["documents"])

ID_PATTERN = r"^[0-9A-HJKMNP-TV-Z]{26}$"


@router.get("", response_model=Page[DocumentOut])
def list_documents(
    session: SessionDep,
    label: Annotated[str | None, Query(max_length=64)] = None,
    agent: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    after: Annotated[
        str | None,
        Query(pattern=ID_PATTERN, description="cursor: next_cursor of the previous page"),
    ] = None,
) -> Page[DocumentOut]:
    """Documents in id order (ids sort by creation time, so new inserts never shift a page)."""
    q = select(Document).order_by(Document.id).limit(limit + 1)
    if label is not None:
        q = q.where(Document.label == label)
    if agent is not None:
        q = q.where(Document.agent_id == agent)
    if after is not None:
        q = q.where(Document.id > after)
    rows = list(session.scalars(q))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[DocumentOut](
        items=[DocumentOut.model_validate(r) for r in rows],
        next_cursor=rows[-1].id if more else None,
    )


@router.get(
    "/{document_id}",
    response_model=DocumentDetail,
    responses={404: {"description": "no such document"}},
)
def get_document(document_id: str, session: SessionDep) -> DocumentDetail:
    doc = session.get(Document, document_id)
    if doc is None:
        raise HTTPException(status_code=404, detail=f"document {document_id!r} not found")
    jobs = session.scalars(
        select(Job).where(Job.document_id == document_id).order_by(Job.created_at)
    )
    return DocumentDetail(
        **DocumentOut.model_validate(doc).model_dump(),
        jobs=[JobOut.model_validate(j) for j in jobs],
    )
