from __future__ import annotations

from fastapi import APIRouter, Response, status

from coordinator.api.deps import CoordinatorDep
from coordinator.api.schemas import Live, Ready

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", response_model=Live)
def live() -> Live:
    """The process is up and serving."""
    return Live(status="ok")


@router.get("/ready", response_model=Ready, responses={503: {"model": Ready}})
def ready(coordinator: CoordinatorDep, response: Response) -> Ready:
    """Database reachable, NATS connected and Ray started; 503 until all three hold."""
    checks = coordinator.readiness()
    ok = all(v == "ok" for v in checks.values())
    if not ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Ready(ready=ok, checks=checks)
