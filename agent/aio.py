"""asyncio helpers shared by the agent's and the coordinator's long-running tasks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger("agent.aio")


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]], within: float = 10.0) -> None:
    """Cancel ``tasks`` and wait until all are done, for at most ``within`` seconds.

    Cancellation is repeated while a task is still running: some client libraries
    swallow one ``CancelledError`` inside a pending call (a JetStream fetch, for one),
    and a task that ate it would otherwise block shutdown forever.
    """
    pending = {t for t in tasks if not t.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while pending and loop.time() < deadline:
        for t in pending:
            t.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.2)
    for t in pending:
        log.warning("task.not_cancelled", extra={"dwc_fields": {"task": t.get_name()}})
