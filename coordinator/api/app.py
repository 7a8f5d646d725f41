"""The FastAPI application: every route under /api/v3, OpenAPI at /api/v3/openapi.json,
interactive docs at /api/v3/docs. The lifespan starts and stops the Coordinator service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.requests import Request

from coordinator.api.routes import agents, documents, health, jobs
from coordinator.service import Coordinator
from coordinator.settings import CoordinatorSettings

PREFIX = "/api/v3"


def create_app(settings: CoordinatorSettings | None = None) -> FastAPI:
    settings = settings or CoordinatorSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        coordinator = Coordinator(settings)
        app.state.coordinator = coordinator
        await coordinator.start()
        try:
            yield
        finally:
            await coordinator.stop()

    from dwc_core import __version__

    app = FastAPI(
        title="DWC coordinator",
        version=__version__,
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # One line naming the problem, plus FastAPI's usual detail list.
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse(
            status_code=422,
            content={
                "error": f"{where}: {first.get('msg', 'invalid request')}",
                "detail": jsonable_encoder(exc.errors()),
            },
        )

    for router in (health.router, agents.router, documents.router, jobs.router):
        app.include_router(router, prefix=PREFIX)
    return app
