"""The command consumer: reads this agent's durable consumer on DWC_CMD and applies each
message in one SQLite transaction before acking it, so nothing sent while the agent was
offline is lost and applying a message twice is a no-op. A message that fails to decode
or validate is recorded as a dead letter with the reason, then acked (never retried
forever, never silently dropped).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.msg import Msg

from agent.errors import ProtocolError
from agent.logs import kv
from agent.protocol import Envelope, Kind, agent_consumer_name, command_subject, require
from agent.store import Store
from agent.sync.link import NatsLink
from agent.sync.pull import consume_forever

log = logging.getLogger("agent.sync.commands")

Db = Callable[..., Awaitable[Any]]
MAX_SUMMARY_CHARS = 4000


class CommandConsumer:
    def __init__(
        self,
        store: Store,
        db: Db,
        link: NatsLink,
        *,
        agent_id: str,
        on_applied: Callable[[str, dict[str, Any]], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.db = db
        self.link = link
        self.agent_id = agent_id
        self.on_applied = on_applied
        self.applied = 0
        self.duplicates = 0
        self.dead_letters = 0

    async def run(self) -> None:
        await consume_forever(
            self.link,
            stream="DWC_CMD",
            subject=command_subject(self.agent_id),
            durable=agent_consumer_name(self.agent_id),
            handle=self.handle,
        )

    async def handle(self, msg: Msg) -> None:
        try:
            outcome = await self.apply(msg.data)
        except ProtocolError as e:
            await self.db(self.store.dead_letter, f"nats:{msg.subject}", str(e), msg.data)
            self.dead_letters += 1
            log.warning("commands.dead_letter", extra=kv(subject=msg.subject, reason=str(e)))
            outcome = "dead-letter"
        await msg.ack()
        log.debug("commands.handled", extra=kv(outcome=outcome))

    async def apply(self, data: bytes) -> str:
        env = Envelope.decode(data)
        if env.agent != self.agent_id:
            raise ProtocolError(
                f"message {env.id} is addressed to agent {env.agent!r}, not {self.agent_id!r}"
            )
        if env.kind != Kind.JOB_RESULT:
            raise ProtocolError(f"message {env.id}: unknown command kind {env.kind!r}")
        body = env.body
        job_id = require(body, "job_id", str)
        status = require(body, "status", str)
        if status not in ("succeeded", "failed"):
            raise ProtocolError(f"job {job_id}: status {status!r} is not 'succeeded' or 'failed'")
        output = body.get("output") or {}
        if not isinstance(output, dict):
            raise ProtocolError(f"job {job_id}: output is {type(output).__name__}, expected a map")
        error = body.get("error")
        doc_update: dict[str, Any] = {}
        summary = output.get("summary")
        if isinstance(summary, str):
            doc_update["summary"] = summary[:MAX_SUMMARY_CHARS]
        outcome: str = await self.db(
            self.store.apply_job_result,
            env.id,
            job_id,
            succeeded=status == "succeeded",
            output=output,
            error=str(error)[:1000] if error else None,
            doc_update=doc_update,
        )
        if outcome == "applied":
            self.applied += 1
            if self.on_applied:
                await self.on_applied(job_id, output)
        elif outcome == "duplicate":
            self.duplicates += 1
        else:
            raise ProtocolError(f"job result {env.id} names unknown job {job_id!r}")
        log.info("job.result", extra=kv(job=job_id, status=status, outcome=outcome))
        return outcome
