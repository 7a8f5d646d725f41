"""The agent daemon: wires the store, the inbox, the intake pipeline and sync together
on one event loop, and stops cleanly on SIGTERM/SIGINT.

Threads: SQLite runs on one dedicated thread (``db``); ONNX and hashing run in
``asyncio.to_thread``; everything else is asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import dwc_core
from agent.aio import cancel_and_wait
from agent.api import ApiServer, check_bind, write_api_file
from agent.errors import DocumentError, DocumentRefused, RunNotFound, RunNotRetryable
from agent.inference.onnx import TextClassifier
from agent.logs import kv
from agent.metrics import Metrics
from agent.pipeline import VERSION, WORKFLOW, IntakePipeline, summary_key
from agent.profile import GatewayProfile
from agent.protocol import Envelope, Kind, heartbeat_subject, new_id
from agent.settings import AgentSettings
from agent.sources.inbox import CLAIM_SEP, Folders, InboxScanner, original_name
from agent.store import DocStatus, Store
from agent.sync.commands import CommandConsumer
from agent.sync.link import NatsLink
from agent.sync.outbox import OutboxPump
from agent.work import DOCUMENT, WorkQueue

log = logging.getLogger("agent.daemon")
T = TypeVar("T")

STORE_FILE = "agent.db"
API_FILE = "api.json"


class Daemon:
    def __init__(self, settings: AgentSettings, profile: GatewayProfile) -> None:
        self.settings = settings
        self.profile = profile
        self.folders = Folders.under(settings.data_dir, settings.inbox)
        self._db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dwc-store")
        self.stop_event = asyncio.Event()
        self.store: Store | None = None
        self.work: WorkQueue | None = None
        self._retry_lock = asyncio.Lock()

    async def db(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db_thread, functools.partial(fn, *args, **kwargs))

    def prepare(self) -> None:
        """Everything that can fail on bad configuration, before any task starts."""
        self.folders.create()
        if self.settings.api.enabled:
            check_bind(self.settings.api)
        self.classifier = TextClassifier(
            self.settings.model_dir, threads=self.profile.budgets.onnx_threads
        )

    async def run(self) -> None:
        await asyncio.to_thread(self.prepare)
        self.store = await self.db(Store, self.settings.data_dir / STORE_FILE)
        s, b = self.settings, self.profile.budgets
        self.link = NatsLink(s.nats, name=f"dwc-agent-{s.agent_id}")
        self.pump = OutboxPump(
            self.store,
            self.db,
            self.link,
            window=self.profile.sync.outbox_window,
            timeout=s.nats.request_timeout,
        )
        # Model outputs and remote results by content id, within the profile's cache budget.
        self.cache = dwc_core.Cache(b.cache_mb << 20)
        self.commands = CommandConsumer(
            self.store, self.db, self.link, agent_id=s.agent_id, on_applied=self._remember_result
        )
        self.pipeline = IntakePipeline(
            self.store,
            self.db,
            self.classifier,
            agent_id=s.agent_id,
            max_document_bytes=b.max_document_bytes,
            max_remote_text_bytes=self.profile.sync.max_remote_text_bytes,
            on_outbox=self.pump.notify,
            cache=self.cache,
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop_event.set)
        log.info(
            "agent.start",
            extra=kv(
                agent=s.agent_id,
                profile=self.profile.name,
                data_dir=str(s.data_dir),
                inbox=str(self.folders.inbox),
                workers=b.workers,
                model=f"{self.classifier.name}@{self.classifier.version}",
                nats=s.nats.url,
            ),
        )
        self.work = WorkQueue(
            self.store,
            self.db,
            class_limits={DOCUMENT: b.workers},
            takers=b.workers,
        )
        await self.recover()
        tasks = [
            asyncio.create_task(self.link.connect_forever(), name="nats-connect"),
            asyncio.create_task(self.pump.run(), name="outbox"),
            asyncio.create_task(self.commands.run(), name="commands"),
            asyncio.create_task(self.watch_inbox(), name="inbox"),
            asyncio.create_task(self.heartbeat(), name="heartbeat"),
            *(asyncio.create_task(self.worker(i), name=f"worker-{i}") for i in range(b.workers)),
        ]
        if s.api.enabled:
            tasks.append(asyncio.create_task(self.serve_api(), name="api"))
        stopper = asyncio.create_task(self.stop_event.wait())
        try:
            # Tasks run until stopped; one may finish early on purpose (the connect task
            # once connected), but one that fails stops the agent with its error.
            pending: set[asyncio.Task[Any]] = {stopper, *tasks}
            while not stopper.done():
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    if t is not stopper and not t.cancelled() and t.exception() is not None:
                        raise t.exception()  # type: ignore[misc]
        finally:
            log.info("agent.stopping")
            await cancel_and_wait([*tasks, stopper])
            await self.link.close()
            if self.work is not None:
                await self.work.close()
            await self.db(self.store.close)
            self._db_thread.shutdown(wait=True)
            log.info("agent.stopped")

    # --- documents -----------------------------------------------------------------
    async def recover(self) -> None:
        """Restore the work queue, and queue any file in processing/ it does not know
        (claimed just before a crash, or the queue's state was rebuilt)."""
        assert self.work is not None
        await self.work.open()
        files = await asyncio.to_thread(
            lambda: sorted(p.name for p in self.folders.processing.iterdir() if p.is_file())
        )
        missing = [
            name for name in files if not name.endswith(".error") and self.work.status(name) is None
        ]
        await self.work.put(missing)
        if files:
            log.info("agent.recover", extra=kv(files=len(files), requeued=len(missing)))

    async def watch_inbox(self) -> None:
        assert self.work is not None
        scanner = InboxScanner(self.folders, settle_seconds=self.settings.settle_seconds)
        limit = self.profile.budgets.max_queued_documents
        while True:
            room = limit - len(self.work)
            if room > 0:
                claimed = await asyncio.to_thread(scanner.scan, room)
                await self.work.put([p.name for p in claimed])
            await asyncio.sleep(self.settings.poll_interval)

    async def worker(self, n: int) -> None:
        assert self.work is not None
        while True:
            lease = await self.work.take()
            if lease is None:
                continue
            claimed = self.folders.processing / lease.task_id
            keepalive = asyncio.create_task(self._keep_lease(lease))
            try:
                await self.handle(claimed)
            except asyncio.CancelledError:
                raise  # the lease runs out and the task is delivered again after restart
            except Exception as e:
                # A bug or an environment failure, not bad input: retry with backoff, and
                # give up (failed/, with the reason) after the last attempt.
                log.exception(
                    "document.crashed",
                    extra=kv(task=lease.task_id, worker=n, attempt=lease.attempt),
                )
                keepalive.cancel()
                if await self.work.nack(lease, f"{type(e).__name__}: {e}") == "dead_letter":
                    await self._give_up(
                        claimed, f"gave up after {lease.attempt} attempts: {type(e).__name__}: {e}"
                    )
                continue
            finally:
                keepalive.cancel()
            await self.work.ack(lease)

    async def _keep_lease(self, lease: dwc_core.Lease) -> None:
        assert self.work is not None
        while True:
            await asyncio.sleep(self.work.lease_seconds / 3)
            await self.work.extend(lease)

    async def _give_up(self, claimed: Path, reason: str) -> None:
        assert self.store is not None
        existing = await self.db(self.store.find_by_claim, str(claimed))
        if existing is not None:
            await self.db(self.store.fail_document, existing["id"], reason)
        await asyncio.to_thread(
            self._move, claimed, self.folders.failed, original_name(claimed), reason
        )
        log.error("document.given_up", extra=kv(task=claimed.name, reason=reason))

    async def handle(self, claimed: Path) -> None:
        """Run one claimed document to its next resting point. Idempotent: after a crash
        it resumes at the first uncommitted step, and a finished document is only moved."""
        assert self.store is not None
        name = original_name(claimed)
        if not await asyncio.to_thread(claimed.exists):
            if await self.db(self.store.find_by_claim, str(claimed)) is None:
                log.warning("document.vanished", extra=kv(path=str(claimed)))
            return
        doc_id = await self.pipeline.register(
            claimed, name=name, source="inbox", received_at=time.time()
        )
        try:
            outcome = await self.pipeline.process(doc_id, claimed, name)
        except DocumentError as e:
            await self.db(self.store.fail_document, doc_id, str(e))
            await asyncio.to_thread(self._move, claimed, self.folders.failed, name, str(e))
            log.warning("document.failed", extra=kv(doc=doc_id, name=name, reason=str(e)))
            return
        if outcome.status == DocStatus.FAILED:
            await asyncio.to_thread(
                self._move, claimed, self.folders.failed, name, outcome.error or "failed"
            )
        else:
            await asyncio.to_thread(self._move, claimed, self.folders.done, name, None)

    @staticmethod
    def _move(src: Path, folder: Path, name: str, error: str | None) -> None:
        """Move a claimed file out of processing/, keeping its claim id so names never clash."""
        if not src.exists():
            return
        dest = folder / src.name
        if error is not None:
            (folder / f"{src.name}.error").write_text(f"{name}: {error}\n")
        os.replace(src, dest)  # same file system: processing/, done/ and failed/ share data_dir

    async def _remember_result(self, job_id: str, output: dict[str, Any]) -> None:
        """Keep a remote summary by content id, so a duplicate document reuses it."""
        assert self.store is not None
        if not isinstance(output.get("summary"), str):
            return
        content_id = await self.db(self.store.content_id_of_job, job_id)
        if content_id is not None:
            self.cache.set(
                summary_key(content_id), dict(output), weight=len(output["summary"]) + 256
            )

    # --- the local API -----------------------------------------------------------------
    async def serve_api(self) -> None:
        server = ApiServer(self)
        task = asyncio.create_task(server.run())
        try:
            while (url := server.bound()) is None:
                if task.done():
                    await task  # surfaces why it could not start
                    return
                await asyncio.sleep(0.02)
            await asyncio.to_thread(write_api_file, self.settings.data_dir / API_FILE, url)
            log.info("api.listening", extra=kv(url=url, auth=self.settings.api.token is not None))
            await task
        finally:
            server.stop()
            await cancel_and_wait([task], within=5)

    def _disk_used(self) -> int:
        total = 0
        for p in (
            self.settings.data_dir / STORE_FILE,
            self.settings.data_dir / f"{STORE_FILE}-wal",
        ):
            with contextlib.suppress(OSError):
                total += p.stat().st_size
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.folders.processing):
                with contextlib.suppress(OSError):
                    total += entry.stat().st_size
        return total

    async def submit(self, name: str, body: AsyncIterator[bytes], *, source: str) -> str:
        """Take a document from the API: checked against the profile's limits, written to
        processing/ under a temporary name, renamed when complete, registered, queued.
        A refusal leaves nothing behind."""
        assert self.work is not None
        b = self.profile.budgets
        if len(self.work) >= b.max_queued_documents:
            raise DocumentRefused(
                429,
                f"{len(self.work)} documents queued, the profile's max_queued_documents; try again later",
                retry_after=5,
            )
        used = await asyncio.to_thread(self._disk_used)
        if used >= b.disk_budget_mb << 20:
            raise DocumentRefused(
                507,
                f"disk budget reached: {used >> 20} MiB used of disk_budget_mb={b.disk_budget_mb}",
            )
        claim = f"{new_id()}{CLAIM_SEP}{name}"
        part = self.folders.processing / f".{claim}.part"
        final = self.folders.processing / claim
        size = 0
        try:
            with part.open("wb") as f:
                async for chunk in body:
                    size += len(chunk)
                    if size > b.max_document_bytes:
                        raise DocumentRefused(
                            413, f"document is over max_document_bytes={b.max_document_bytes}"
                        )
                    await asyncio.to_thread(f.write, chunk)
            if size == 0:
                raise DocumentRefused(400, "document is empty")
            await asyncio.to_thread(part.rename, final)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        doc_id = await self.pipeline.register(
            final, name=name, source=source, received_at=time.time()
        )
        await self.work.put([claim])
        return doc_id

    async def retry_run(self, run_id: str) -> dict[str, Any]:
        """Run a failed run's document again, as a new run of the same document.

        Only the latest run of a document, in status ``failed``, whose file is still in
        ``failed/`` can be retried (RunNotRetryable otherwise; RunNotFound for an unknown
        id). The file moves back into ``processing/`` under a new claim, its ``.error``
        note is removed (the reason stays in the old run), the document gets a new run
        with its content id and size read again (the file may have been fixed in place),
        and the claim is queued. The old run stays as it was, as history.

        The file is moved before the store is updated: a crash in between leaves an
        unknown file in ``processing/``, which the next start registers as a new
        document, so nothing is lost (the old document stays failed)."""
        assert self.store is not None
        assert self.work is not None
        async with self._retry_lock:  # two retries of one run must not both move the file
            run = await self.db(self.store.run, run_id)
            if run is None:
                raise RunNotFound(f"run {run_id!r} not found")
            if run["status"] != "failed":
                raise RunNotRetryable(
                    f"run {run_id} is {run['status']}, not failed: only a failed run is retried"
                )
            latest = await self.db(self.store.run_for_document, run["document_id"])
            if latest["id"] != run_id:
                raise RunNotRetryable(
                    f"run {run_id} is not the latest run of document {run['document_id']}"
                    f" (run {latest['id']} is)"
                )
            if run["document_status"] != DocStatus.FAILED:
                raise RunNotRetryable(
                    f"run {run_id}: document {run['document_id']} is {run['document_status']}"
                )
            old_claim = Path(run["claim_path"] or "")
            failed_file = self.folders.failed / old_claim.name
            if not old_claim.name or not await asyncio.to_thread(failed_file.is_file):
                raise RunNotRetryable(
                    f"run {run_id}: the file of document {run['document_id']} is not in failed/"
                )
            if len(self.work) >= self.profile.budgets.max_queued_documents:
                raise DocumentRefused(
                    429,
                    f"{len(self.work)} documents queued, the profile's max_queued_documents;"
                    " try again later",
                    retry_after=5,
                )
            name = original_name(old_claim)
            claim = f"{new_id()}{CLAIM_SEP}{name}"
            final = self.folders.processing / claim
            size, content_id = await asyncio.to_thread(
                self._reclaim, failed_file, final, self.profile.budgets.max_document_bytes
            )
            new_run = new_id()
            await self.db(
                self.store.restart_document,
                run["document_id"],
                run_id=new_run,
                claim_path=str(final),
                content_id=content_id,
                size=size,
                workflow=WORKFLOW,
                version=VERSION,
            )
            await self.work.put([claim])
        log.info(
            "run.retried",
            extra=kv(run=run_id, new_run=new_run, doc=run["document_id"], name=name),
        )
        return {
            "run_id": new_run,
            "retried_run_id": run_id,
            "document_id": run["document_id"],
            "name": name,
            "status": DocStatus.PROCESSING,
        }

    @staticmethod
    def _reclaim(failed_file: Path, final: Path, max_bytes: int) -> tuple[int, str]:
        """Move a failed file back into processing/; returns its size and content id."""
        size = failed_file.stat().st_size
        content_id = (
            dwc_core.content_id(failed_file.read_bytes())
            if size <= max_bytes
            else "(not read: over the size limit)"
        )
        os.replace(failed_file, final)
        failed_file.with_name(f"{failed_file.name}.error").unlink(missing_ok=True)
        return size, content_id

    async def document_detail(self, doc_id: str) -> dict[str, Any] | None:
        assert self.store is not None
        detail: dict[str, Any] | None = await self.db(self.store.document_detail, doc_id)
        return detail

    async def list_runs(self, status: str | None, limit: int) -> list[dict[str, Any]]:
        assert self.store is not None
        runs: list[dict[str, Any]] = await self.db(self.store.runs, status, limit)
        return runs

    async def health(self) -> dict[str, Any]:
        assert self.store is not None
        backlog, oldest = await self.db(self.store.outbox_stats)
        return {
            "status": "ok",
            "agent": self.settings.agent_id,
            "nats": "online" if self.link.online else "offline",
            "outbox_backlog": backlog,
            "outbox_oldest_age": round(time.time() - oldest, 3) if oldest else 0.0,
            "queued": len(self.work) if self.work else 0,
        }

    async def status(self) -> dict[str, Any]:
        """``health()`` plus documents by status and the work queue's state."""
        assert self.store is not None
        counts = await self.db(self.store.counts)
        return {
            **await self.health(),
            "documents": counts,
            "work": self.work.stats() if self.work else {},
        }

    async def metrics_text(self) -> str:
        assert self.store is not None
        assert self.work is not None
        counts = await self.db(self.store.counts)
        backlog, oldest = await self.db(self.store.outbox_stats)
        work = self.work.stats()
        m = Metrics()
        m.gauge(
            "dwc_agent_documents",
            "Documents by status.",
            [({"status": k}, v) for k, v in sorted(counts.items())],
        )
        m.gauge("dwc_agent_nats_online", "1 when connected to NATS.", [({}, int(self.link.online))])
        m.gauge("dwc_agent_outbox_backlog", "Messages waiting to be published.", [({}, backlog)])
        m.gauge(
            "dwc_agent_outbox_oldest_age_seconds",
            "Age of the oldest waiting message.",
            [({}, round(time.time() - oldest, 3) if oldest else 0.0)],
        )
        m.counter(
            "dwc_agent_outbox_published_total",
            "Messages published (PubAck received).",
            [({}, self.pump.published)],
        )
        m.counter(
            "dwc_agent_commands_applied_total",
            "Commands and job results applied.",
            [({}, self.commands.applied)],
        )
        m.counter(
            "dwc_agent_commands_duplicate_total",
            "Commands received again and ignored.",
            [({}, self.commands.duplicates)],
        )
        m.counter(
            "dwc_agent_dead_letters_total",
            "Messages refused with a reason.",
            [({}, self.commands.dead_letters)],
        )
        m.gauge(
            "dwc_agent_work_tasks",
            "Work queue tasks by state.",
            [({"state": k}, work[k]) for k in ("pending", "leased", "dead_letters")],
        )
        cache = self.cache.stats()
        m.counter(
            "dwc_agent_cache_hits_total",
            "Cache hits (model outputs, remote results).",
            [({}, cache.hits)],
        )
        m.counter("dwc_agent_cache_misses_total", "Cache misses.", [({}, cache.misses)])
        m.gauge("dwc_agent_cache_entries", "Entries in the cache.", [({}, cache.entries)])
        m.gauge(
            "dwc_agent_cache_weight_bytes",
            "Weighted size of the cache.",
            [({}, cache.weighted_size)],
        )
        m.counter(
            "dwc_agent_work_retries_total", "Work retried after a failure.", [({}, work["retried"])]
        )
        return m.render()

    # --- status ----------------------------------------------------------------------
    async def heartbeat(self) -> None:
        assert self.store is not None
        every = self.profile.sync.heartbeat_seconds
        while True:
            await asyncio.sleep(every)
            if not self.link.online:
                continue
            counts = await self.db(self.store.counts)
            backlog, oldest = await self.db(self.store.outbox_stats)
            env = Envelope(
                kind=Kind.HEARTBEAT,
                agent=self.settings.agent_id,
                body={
                    "documents": counts,
                    "outbox_backlog": backlog,
                    "outbox_oldest_age": round(time.time() - oldest, 3) if oldest else 0.0,
                    "work": self.work.stats() if self.work else {},
                    "profile": self.profile.name,
                },
            )
            with contextlib.suppress(Exception):
                assert self.link.nc is not None
                await self.link.nc.publish(heartbeat_subject(self.settings.agent_id), env.encode())
