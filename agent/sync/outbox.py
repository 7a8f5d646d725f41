"""The outbox pump: publishes committed outbox rows to JetStream and deletes each row
only after its PubAck. ``Nats-Msg-Id`` is the envelope id, so a row published twice
(after a crash between PubAck and delete) is dropped by the stream's duplicate window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from agent.logs import kv
from agent.store import OutboxRow, Store
from agent.sync.link import NatsLink

log = logging.getLogger("agent.sync.outbox")

Db = Callable[..., Awaitable[Any]]


class OutboxPump:
    def __init__(
        self, store: Store, db: Db, link: NatsLink, *, window: int, timeout: float
    ) -> None:
        self.store = store
        self.db = db
        self.link = link
        self.window = window
        self.timeout = timeout
        self.wakeup = asyncio.Event()
        self.published = 0

    def notify(self) -> None:
        """Tell the pump new rows were committed."""
        self.wakeup.set()

    async def _publish(self, row: OutboxRow) -> Any:
        return await self.link.js.publish(
            row.subject, row.payload, timeout=self.timeout, headers={"Nats-Msg-Id": row.id}
        )

    async def run(self) -> None:
        backoff = 0.2
        while True:
            await self.link.wait_online()
            rows: list[OutboxRow] = await self.db(self.store.outbox_batch, self.window)
            if not rows:
                self.wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wakeup.wait(), timeout=1.0)
                continue
            results = await asyncio.gather(
                *(self._publish(r) for r in rows), return_exceptions=True
            )
            acked = [
                r.seq
                for r, res in zip(rows, results, strict=True)
                if not isinstance(res, BaseException)
            ]
            failed = [
                (r, res)
                for r, res in zip(rows, results, strict=True)
                if isinstance(res, BaseException)
            ]
            await self.db(self.store.outbox_delete, acked)
            self.published += len(acked)
            if failed:
                await self.db(self.store.outbox_attempted, [r.seq for r, _ in failed])
                row, err = failed[0]
                log.warning(
                    "outbox.publish_failed",
                    extra=kv(
                        count=len(failed),
                        first=row.id,
                        subject=row.subject,
                        error=repr(err),
                        retry_in=round(backoff, 2),
                    ),
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            else:
                backoff = 0.2
                log.debug("outbox.published", extra=kv(count=len(acked), at=time.time()))
