"""The coordinator's result outbox: publishes finished jobs' results to their agent's
command subject and marks each published only after its PubAck. The envelope id is
fixed when the job finishes (``Job.result_msg_id``), so a retry is a duplicate that
JetStream and the agent's inbox both drop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from agent.logs import kv
from agent.protocol import Envelope, Kind, command_subject
from agent.sync.link import NatsLink
from coordinator.store import Database, Job

log = logging.getLogger("coordinator.results")


class ResultPublisher:
    def __init__(self, db: Database, link: NatsLink, *, batch: int = 128) -> None:
        self.db = db
        self.link = link
        self.batch = batch
        self.wakeup = asyncio.Event()
        self.published = 0

    def notify(self) -> None:
        self.wakeup.set()

    def _pending(self) -> list[tuple[str, str, str, bytes]]:
        with self.db.session() as s:
            jobs = (
                s.query(Job)
                .filter(Job.status.in_(("succeeded", "failed")), Job.result_published_at.is_(None))
                .order_by(Job.finished_at)
                .limit(self.batch)
                .all()
            )
            out = []
            for job in jobs:
                env = Envelope(
                    kind=Kind.JOB_RESULT,
                    agent=job.agent_id,
                    id=job.result_msg_id or job.id,
                    body={
                        "job_id": job.id,
                        "run_id": job.run_id,
                        "status": job.status,
                        "output": job.output or {},
                        "error": job.error,
                    },
                )
                job.result_msg_id = env.id  # the same id on every retry
                out.append((job.id, command_subject(job.agent_id), env.id, env.encode()))
            return out

    def _mark(self, job_ids: list[str]) -> None:
        now = time.time()
        with self.db.session() as s:
            for job_id in job_ids:
                job = s.get(Job, job_id)
                if job is not None:
                    job.result_published_at = now

    async def run(self) -> None:
        while True:
            await self.link.wait_online()
            pending = await asyncio.to_thread(self._pending)
            if not pending:
                self.wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wakeup.wait(), timeout=1.0)
                continue
            done: list[str] = []
            for job_id, subject, msg_id, payload in pending:
                try:
                    await self.link.js.publish(subject, payload, headers={"Nats-Msg-Id": msg_id})
                except Exception as e:
                    log.warning("results.publish_failed", extra=kv(job=job_id, error=repr(e)))
                    await asyncio.sleep(0.5)
                    break
                done.append(job_id)
            await asyncio.to_thread(self._mark, done)
            self.published += len(done)
