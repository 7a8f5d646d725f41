from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from coordinator.api.deps import SessionDep
from coordinator.api.schemas import AgentOut
from coordinator.store import Agent

router = APIRouter(prefix="/agents", tags=["agents"])


@router.get("", response_model=list[AgentOut])
def list_agents(session: SessionDep) -> list[Agent]:
    """Every agent that has sent an event or a heartbeat, with its last reported status."""
    return list(session.scalars(select(Agent).order_by(Agent.id)))
