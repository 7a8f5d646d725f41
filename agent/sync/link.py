"""The agent's NATS connection: connects in the background with backoff, reconnects
forever, and knows whether the agent is online.

The agent starts and keeps working without NATS; the outbox holds what it cannot send.
"""

from __future__ import annotations

import asyncio
import logging
import random

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext

from agent.logs import kv
from agent.settings import NatsSettings
from agent.sync.streams import ensure_streams

log = logging.getLogger("agent.sync")

MAX_RETRY_SECONDS = 5.0


class NatsLink:
    def __init__(self, settings: NatsSettings, *, name: str) -> None:
        self.settings = settings
        self.name = name
        self.nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._connected = asyncio.Event()

    @property
    def online(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    @property
    def js(self) -> JetStreamContext:
        assert self._js is not None, "not connected yet"
        return self._js

    async def wait_online(self) -> None:
        await self._connected.wait()

    async def _disconnected(self) -> None:
        self._connected.clear()
        log.warning("nats.disconnected")

    async def _reconnected(self) -> None:
        self._connected.set()
        log.info("nats.reconnected")

    async def _error(self, e: Exception) -> None:
        log.debug("nats.error", extra=kv(error=repr(e)))

    async def connect_forever(self) -> None:
        """Connect (retrying with capped exponential backoff), then make sure the streams
        exist. Returns once connected; nats.py reconnects by itself after that."""
        delay = 0.2
        servers = [s.strip() for s in self.settings.url.split(",") if s.strip()]
        while True:
            try:
                nc = await nats.connect(
                    servers=servers,
                    name=self.name,
                    connect_timeout=self.settings.connect_timeout,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=1,
                    allow_reconnect=True,
                    disconnected_cb=self._disconnected,
                    reconnected_cb=self._reconnected,
                    error_cb=self._error,
                )
                js = nc.jetstream(timeout=self.settings.request_timeout)
                await ensure_streams(js)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning(
                    "nats.connect_failed",
                    extra=kv(
                        url=self.settings.url, error=str(e) or repr(e), retry_in=round(delay, 2)
                    ),
                )
                # Capped at MAX_RETRY_SECONDS so catch-up starts soon after the link returns.
                await asyncio.sleep(delay * (0.5 + random.random() / 2))
                delay = min(delay * 2, MAX_RETRY_SECONDS)
                continue
            self.nc, self._js = nc, js
            self._connected.set()
            log.info(
                "nats.connected",
                extra=kv(url=nc.connected_url.netloc if nc.connected_url else None),
            )
            return

    async def close(self) -> None:
        """Flush what is buffered (acks) and close; never raises, bounded in time, also
        when the server is already gone. Callers cancel their consumers first."""
        nc, self.nc = self.nc, None
        self._connected.clear()
        if nc is None or nc.is_closed:
            return
        try:
            if nc.is_connected:
                await nc.flush(timeout=2)
        except Exception as e:
            log.debug("nats.flush_failed", extra=kv(error=repr(e)))
        try:
            await asyncio.wait_for(nc.close(), timeout=5)
        except Exception as e:
            log.debug("nats.close_failed", extra=kv(error=repr(e)))
