"""The agent's local HTTP API (FastAPI, served by uvicorn inside the daemon's loop).

``POST /v1/documents`` takes a document (raw body with ``?name=``, or multipart field
``file``); ``GET /v1/documents/{id}`` (status and step results); ``GET /v1/runs``;
``POST /v1/runs/{id}/retry`` (a failed run's document again, as a new run);
``GET /v1/status`` (health plus counts); ``GET /healthz``; ``GET /metrics`` (Prometheus text format).

Bound to loopback by default. On any other address a bearer token is required
(``DWC_API__TOKEN``) and checked on every route but ``/healthz``. Over a limit the API
refuses clearly and writes nothing: 413 (document too large), 429 with Retry-After
(queue full), 507 (disk budget reached). Bad input is a 4xx, never a 5xx.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from agent.errors import ConfigError, DocumentRefused, RunNotFound, RunNotRetryable
from agent.net import bind_problem
from agent.settings import ApiSettings

if TYPE_CHECKING:
    from agent.daemon import Daemon

ID_PATTERN = r"^[0-9A-HJKMNP-TV-Z]{26}$"
_NAME_OK = re.compile(r"^[^/\\\x00-\x1f]{1,200}$")


def check_bind(api: ApiSettings) -> None:
    """Refuse to serve off loopback without a token, or on a port that is taken."""
    if api.token is None and api.host != "localhost":
        try:
            loopback = ipaddress.ip_address(api.host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ConfigError(
                f"api.host {api.host} is not loopback: set DWC_API__TOKEN to serve there"
            )
    problem = bind_problem(api.host, api.port)
    if problem is not None:
        raise ConfigError(f"api: {problem[0]}")


def clean_name(name: str | None) -> str:
    """A safe file name for a submitted document, or a 400 naming the problem."""
    if not name:
        raise HTTPException(400, "a document needs a name: ?name=... or a multipart file name")
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not base or base.startswith(".") or not _NAME_OK.match(base):
        raise HTTPException(400, f"document name {name[:80]!r} is not a valid file name")
    return base


class _Embedded(uvicorn.Server):
    """uvicorn inside the daemon's loop: the daemon owns the signal handlers."""

    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()


def create_app(daemon: Daemon) -> FastAPI:
    api = daemon.settings.api
    token = api.token.get_secret_value().encode() if api.token else None

    def authorised(request: Request) -> None:
        if token is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token):
            raise HTTPException(
                401,
                "a valid bearer token is required",
                headers={"WWW-Authenticate": 'Bearer realm="dwc-agent"'},
            )

    auth = [Depends(authorised)]
    app = FastAPI(title="DWC agent", docs_url=None, redoc_url=None, openapi_url="/v1/openapi.json")

    @app.exception_handler(DocumentRefused)
    async def _refused(_: Request, e: DocumentRefused) -> JSONResponse:
        headers = {"Retry-After": str(e.retry_after)} if e.retry_after else None
        return JSONResponse({"error": str(e)}, status_code=e.status, headers=headers)

    @app.exception_handler(RunNotFound)
    async def _no_run(_: Request, e: RunNotFound) -> JSONResponse:
        return JSONResponse({"error": str(e)}, status_code=404)

    @app.exception_handler(RunNotRetryable)
    async def _not_retryable(_: Request, e: RunNotRetryable) -> JSONResponse:
        return JSONResponse({"error": str(e)}, status_code=409)

    @app.post("/v1/documents", status_code=202, dependencies=auth)
    async def submit(
        request: Request, name: Annotated[str | None, Query(max_length=400)] = None
    ) -> dict[str, Any]:
        """Queue a document: the raw body (``?name=``) or multipart field ``file``."""
        limit = daemon.profile.budgets.max_document_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit + 64 * 1024:
            raise DocumentRefused(
                413, f"document is {declared} bytes, over max_document_bytes={limit}"
            )
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            form = await request.form(max_files=1, max_fields=4)
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise HTTPException(400, "multipart body has no file field named 'file'")
            doc_name = clean_name(name or upload.filename)

            async def chunks() -> AsyncIterator[bytes]:
                while chunk := await upload.read(64 * 1024):
                    yield chunk

            body = chunks()
        else:
            doc_name = clean_name(name)
            body = request.stream()
        doc_id = await daemon.submit(doc_name, body, source="http")
        return {"id": doc_id, "name": doc_name, "status": "processing"}

    @app.get("/v1/documents/{document_id}", dependencies=auth)
    async def document(document_id: str) -> dict[str, Any]:
        if not re.match(ID_PATTERN, document_id):
            raise HTTPException(404, f"document {document_id[:40]!r} not found")
        found = await daemon.document_detail(document_id)
        if found is None:
            raise HTTPException(404, f"document {document_id!r} not found")
        return found

    @app.get("/v1/runs", dependencies=auth)
    async def runs(
        status_: Annotated[
            str | None, Query(alias="status", pattern="^(running|waiting|succeeded|failed)$")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> dict[str, Any]:
        return {"items": await daemon.list_runs(status_, limit)}

    @app.post("/v1/runs/{run_id}/retry", status_code=202, dependencies=auth)
    async def retry(run_id: str) -> dict[str, Any]:
        """Run a failed run's document again as a new run (Daemon.retry_run)."""
        if not re.match(ID_PATTERN, run_id):
            raise RunNotFound(f"run {run_id[:40]!r} not found")
        return await daemon.retry_run(run_id)

    @app.get("/v1/status", dependencies=auth)
    async def status() -> dict[str, Any]:
        """``/healthz`` plus documents by status and the work queue (``dwc agent status``)."""
        return await daemon.status()

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return await daemon.health()

    @app.get("/metrics", response_class=PlainTextResponse, dependencies=auth)
    async def metrics() -> str:
        return await daemon.metrics_text()

    return app


class ApiServer:
    """The API as a task of the daemon's loop; ``url`` is known once it listens."""

    def __init__(self, daemon: Daemon) -> None:
        api = daemon.settings.api
        config = uvicorn.Config(
            create_app(daemon),
            host=api.host,
            port=api.port,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=3,
        )
        self.server = _Embedded(config)
        self.daemon = daemon
        self.url: str | None = None

    async def run(self) -> None:
        await self.server.serve()

    def bound(self) -> str | None:
        if not self.server.started or not self.server.servers:
            return None
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self) -> None:
        self.server.should_exit = True


def write_api_file(path: Any, url: str) -> None:
    """``<data_dir>/api.json``: where local tools find the API (its port may be 0 = any)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"url": url}) + "\n")
    tmp.replace(path)


__all__ = ["ApiServer", "check_bind", "create_app", "write_api_file"]
