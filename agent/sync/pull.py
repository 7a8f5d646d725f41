"""One loop for every durable JetStream pull consumer in DWC (the agent's commands, the
coordinator's events and jobs): subscribe (retrying), fetch, hand each message to a
handler that acks it after its commit, and start over after a disconnect."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from agent.logs import kv
from agent.sync.link import NatsLink

log = logging.getLogger("agent.sync.pull")

# After the first message, what is already waiting is collected for at most this long.
DRAIN_SECONDS = 0.02


async def fetch_ready(sub: JetStreamContext.PullSubscription, batch: int, wait: float) -> list[Msg]:
    """Wait up to ``wait`` seconds for one message, then take what else is ready (up to
    ``batch``) without waiting for a full batch.

    nats.py's ``fetch(batch, timeout)`` holds on to a first message until the batch is
    full or the timeout passes, which would add up to ``wait`` seconds of latency to a
    quiet stream.
    """
    first = await sub.fetch(1, timeout=wait)
    if batch <= 1:
        return first
    try:
        rest = await sub.fetch(batch - 1, timeout=DRAIN_SECONDS)
    except TimeoutError:
        # Both nats.errors.TimeoutError and the plain TimeoutError nats.py also raises
        # when the deadline has passed; either way the first message must not be lost.
        rest = []
    return first + rest


async def consume_forever(
    link: NatsLink,
    *,
    stream: str,
    subject: str,
    durable: str,
    handle: Callable[[Msg], Awaitable[None]],
    batch: int = 64,
    max_ack_pending: int = 1024,
) -> None:
    config = ConsumerConfig(
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        # Redelivery after this long without an ack: handlers ack within milliseconds, and a
        # message caught by a pull request the client already gave up on comes back soon.
        ack_wait=10,
        max_ack_pending=max_ack_pending,
    )
    while True:
        await link.wait_online()
        try:
            sub = await link.js.pull_subscribe(
                subject, durable=durable, stream=stream, config=config
            )
        except Exception as e:
            log.warning(
                "consumer.subscribe_failed", extra=kv(stream=stream, durable=durable, error=repr(e))
            )
            await asyncio.sleep(1.0)
            continue
        while True:
            try:
                msgs = await fetch_ready(sub, batch, wait=1.0)
            except TimeoutError:  # nats.errors.TimeoutError is one too
                continue
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning(
                    "consumer.fetch_failed", extra=kv(stream=stream, durable=durable, error=repr(e))
                )
                await asyncio.sleep(0.5)
                if not link.online:
                    break
                continue
            for msg in msgs:
                await handle(msg)
