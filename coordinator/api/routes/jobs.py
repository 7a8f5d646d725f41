from __future__ import annotations

from fastapi import APIRouter, HTTPException
from sqlalchemy import func, select

from coordinator.api.deps import SessionDep
from coordinator.api.schemas import JobOut, Stats
from coordinator.store import Agent, DeadLetter, Document, Job

router = APIRouter(tags=["jobs"])


@router.get(
    "/jobs/{job_id}", response_model=JobOut, responses={404: {"description": "no such job"}}
)
def get_job(job_id: str, session: SessionDep) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise HTTPException(status_code=404, detail=f"job {job_id!r} not found")
    return job


@router.get("/stats", response_model=Stats, tags=["stats"])
def stats(session: SessionDep) -> Stats:
    """Fleet-wide counts."""
    by_label = session.execute(select(Document.label, func.count()).group_by(Document.label)).all()
    by_status = session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
    return Stats(
        agents=session.scalar(select(func.count()).select_from(Agent)) or 0,
        documents=session.scalar(select(func.count()).select_from(Document)) or 0,
        documents_by_label={str(k): v for k, v in by_label},
        jobs_by_status={k: v for k, v in by_status},
        dead_letters=session.scalar(select(func.count()).select_from(DeadLetter)) or 0,
    )
