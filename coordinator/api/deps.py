"""Dependencies shared by the routes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from coordinator.service import Coordinator


def get_coordinator(request: Request) -> Coordinator:
    coordinator: Coordinator = request.app.state.coordinator
    return coordinator


def get_session(coordinator: Annotated[Coordinator, Depends(get_coordinator)]) -> Iterator[Session]:
    with coordinator.db.sessions() as session:
        yield session


CoordinatorDep = Annotated[Coordinator, Depends(get_coordinator)]
SessionDep = Annotated[Session, Depends(get_session)]
