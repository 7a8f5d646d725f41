"""The running coordinator: store, NATS link, Ray cluster, ingest, dispatcher and result
publisher, started and stopped together by the API app's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from typing import Any

from agent.aio import cancel_and_wait
from agent.logs import kv
from agent.sync.link import NatsLink
from coordinator.dispatch.ray import Dispatcher, RayCluster
from coordinator.ingest import Ingest
from coordinator.results import ResultPublisher
from coordinator.settings import CoordinatorSettings
from coordinator.store import Database

log = logging.getLogger("coordinator.service")


class Coordinator:
    def __init__(self, settings: CoordinatorSettings) -> None:
        self.settings = settings
        self.db = Database(settings.db_url)
        self.link = NatsLink(settings.nats, name="dwc-coordinator")
        self.ray = RayCluster(settings)
        self.results = ResultPublisher(self.db, self.link)
        self.dispatcher = Dispatcher(
            self.db, concurrency=settings.dispatch_concurrency, on_finished=self.results.notify
        )
        self.ingest = Ingest(self.db, self.link, on_job=self.dispatcher.submit)
        self._tasks: list[asyncio.Task[Any]] = []
        self.ray_error: str | None = None

    async def start(self) -> None:
        revision = await asyncio.to_thread(self.db.migrate)
        self._tasks = [
            asyncio.create_task(self.link.connect_forever(), name="nats-connect"),
            asyncio.create_task(self._start_ray_then_dispatch(), name="dispatch"),
            asyncio.create_task(self.ingest.run(), name="ingest"),
            asyncio.create_task(self.results.run(), name="results"),
        ]
        log.info(
            "coordinator.start",
            extra=kv(
                database=self.db.url,
                schema=revision,
                nats=self.settings.nats.url,
            ),
        )

    async def _start_ray_then_dispatch(self) -> None:
        try:
            await asyncio.to_thread(self.ray.start)
        except Exception as e:
            self.ray_error = f"{type(e).__name__}: {e}"
            log.error("ray.start_failed", extra=kv(error=self.ray_error))
            return
        await self.dispatcher.run()

    async def stop(self) -> None:
        # Ray's native SIGTERM handler arms a 3-second SIGALRM abort before passing the
        # signal on; a clean shutdown (NATS drain, ray.shutdown) can take longer, so
        # cancel that alarm first. See docs/operations.md ("Stopping the coordinator").
        if hasattr(signal, "alarm"):
            signal.alarm(0)
        t0 = time.monotonic()
        await cancel_and_wait(self._tasks)
        await self.link.close()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.ray.stop)
        self.db.close()
        log.info("coordinator.stopped", extra=kv(seconds=round(time.monotonic() - t0, 2)))

    def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            self.db.ping()
            checks["database"] = "ok"
        except Exception as e:
            checks["database"] = f"error: {type(e).__name__}"
        checks["nats"] = "ok" if self.link.online else "connecting"
        checks["ray"] = (
            "ok"
            if self.ray.ready
            else (f"error: {self.ray_error}" if self.ray_error else "starting")
        )
        return checks
