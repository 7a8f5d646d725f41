"""Create DWC's JetStream streams idempotently (both sides call this at start)."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from agent.protocol import STREAMS, StreamSpec


def stream_config(spec: StreamSpec) -> StreamConfig:
    return StreamConfig(
        name=spec.name,
        subjects=list(spec.subjects),
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=spec.max_age_seconds,
        duplicate_window=spec.duplicate_window_seconds,
    )


async def ensure_streams(js: JetStreamContext) -> None:
    """Create each stream, or bring an existing one's subjects and limits up to date."""
    for spec in STREAMS:
        config = stream_config(spec)
        try:
            info = await js.stream_info(spec.name)
        except NotFoundError:
            await js.add_stream(config)
            continue
        current = info.config
        if (
            sorted(current.subjects or []) != sorted(config.subjects or [])
            or current.max_age != config.max_age
            or current.duplicate_window != config.duplicate_window
        ):
            await js.update_stream(config)
