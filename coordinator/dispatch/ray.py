"""Running jobs on Ray.

``RayCluster`` starts a local cluster (``ray.init``) or joins ``DWC_RAY_ADDRESS``.
``Dispatcher`` takes queued jobs from the store, runs each as a Ray task with at most
``dispatch_concurrency`` in flight, awaits the ObjectRef without blocking the event loop,
and commits the outcome before telling the result publisher. Jobs left queued or running
by a previous coordinator process are picked up again at start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import ray
from ray.exceptions import RayError, RayTaskError

from agent.logs import kv
from agent.protocol import new_id
from coordinator.dispatch.handlers import run_handler
from coordinator.settings import CoordinatorSettings
from coordinator.store import Database, Document, Job

log = logging.getLogger("coordinator.dispatch")


@ray.remote(num_cpus=0.5, max_retries=2)
def run_job(job_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    return run_handler(job_type, payload)


@ray.remote(num_cpus=0.5)
def _warm_up() -> int:
    """Start a worker and import the handlers, so the first real job does not pay for it."""
    import coordinator.dispatch.handlers  # noqa: F401

    return 0


class RayCluster:
    def __init__(self, settings: CoordinatorSettings) -> None:
        self.settings = settings
        self.started = False

    def start(self) -> None:
        """Blocking (several seconds for a local cluster): call from a thread."""
        s = self.settings
        kwargs: dict[str, Any] = {
            "namespace": "dwc",
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.WARNING,
            "ignore_reinit_error": True,
        }
        if s.ray_address:
            kwargs["address"] = s.ray_address
        else:
            kwargs["num_cpus"] = s.ray_num_cpus
            kwargs["object_store_memory"] = s.ray_object_store_mb * 1024 * 1024
        t0 = time.monotonic()
        ray.init(**kwargs)
        # Warm as many workers as can run at once (0.5 CPU each); ready means warm.
        workers = max(1, int(ray.available_resources().get("CPU", 1) / 0.5))
        ray.get([_warm_up.remote() for _ in range(workers)], timeout=120)
        self.started = True
        log.info(
            "ray.started",
            extra=kv(
                address=s.ray_address or "local",
                cpus=ray.cluster_resources().get("CPU"),
                seconds=round(time.monotonic() - t0, 2),
            ),
        )

    @property
    def ready(self) -> bool:
        return self.started and ray.is_initialized()

    def stop(self) -> None:
        if self.started:
            ray.shutdown()
            self.started = False


class Dispatcher:
    def __init__(self, db: Database, *, concurrency: int, on_finished: Callable[[], None]) -> None:
        self.db = db
        self.concurrency = concurrency
        self.on_finished = on_finished
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.finished = 0

    def submit(self, job_id: str) -> None:
        self.queue.put_nowait(job_id)

    def _unfinished(self) -> list[str]:
        with self.db.session() as s:
            rows = (
                s.query(Job.id)
                .filter(Job.status.in_(("queued", "running")))
                .order_by(Job.created_at)
            )
            return [r.id for r in rows]

    async def run(self) -> None:
        for job_id in await asyncio.to_thread(self._unfinished):
            self.submit(job_id)
        async with asyncio.TaskGroup() as tg:
            for _ in range(self.concurrency):
                tg.create_task(self._worker())

    async def _worker(self) -> None:
        while True:
            job_id = await self.queue.get()
            try:
                await self._run_one(job_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job.dispatch_crashed", extra=kv(job=job_id))

    def _start(self, job_id: str) -> tuple[str, dict[str, Any]] | None:
        with self.db.session() as s:
            job = s.get(Job, job_id)
            if job is None or job.status in ("succeeded", "failed"):
                return None
            job.status, job.started_at, job.attempts = "running", time.time(), job.attempts + 1
            return job.type, dict(job.input)

    def _finish(self, job_id: str, output: dict[str, Any] | None, error: str | None) -> None:
        now = time.time()
        with self.db.session() as s:
            job = s.get(Job, job_id)
            assert job is not None
            job.status = "failed" if error else "succeeded"
            job.output, job.error, job.finished_at = output, error, now
            job.result_msg_id = new_id()
            if job.document_id and output and isinstance(output.get("summary"), str):
                doc = s.get(Document, job.document_id)
                if doc is not None:
                    doc.summary, doc.updated_at = output["summary"], now

    async def _run_one(self, job_id: str) -> None:
        started = await asyncio.to_thread(self._start, job_id)
        if started is None:
            return
        job_type, payload = started
        t0 = time.monotonic()
        output: dict[str, Any] | None = None
        error: str | None = None
        try:
            ref = run_job.remote(job_type, payload)
            output = await asyncio.wrap_future(ref.future())
        except RayTaskError as e:
            cause = e.cause if isinstance(e.cause, BaseException) else e
            error = f"{type(cause).__name__}: {cause}"
        except RayError as e:
            error = f"ray: {type(e).__name__}: {e}"
        await asyncio.to_thread(self._finish, job_id, output, error)
        self.finished += 1
        log.info(
            "job.finished",
            extra=kv(
                job=job_id,
                type=job_type,
                ok=error is None,
                error=error,
                seconds=round(time.monotonic() - t0, 3),
            ),
        )
        self.on_finished()
