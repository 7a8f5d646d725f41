"""Structured logging: one event per line, ``key=value`` (default) or JSON.

Log with an event name and fields: ``log.info("document.claimed", extra=kv(doc=..., name=...))``.
Values are quoted when they contain spaces; nothing here ever logs a secret, so never
pass tokens or passwords as fields.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Literal

_FIELDS = "dwc_fields"


def kv(**fields: Any) -> dict[str, Any]:
    """Fields for one log event, for ``extra=``."""
    return {_FIELDS: fields}


def _fmt_value(v: Any) -> str:
    s = v if isinstance(v, str) else json.dumps(v, default=str)
    if s == "" or any(c in s for c in ' ="\n\t'):
        return json.dumps(s)
    return s


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        parts = [
            f"ts={ts}.{int(record.msecs):03d}Z",
            f"level={record.levelname.lower()}",
            f"logger={record.name}",
            f"event={_fmt_value(record.getMessage())}",
        ]
        for k, v in getattr(record, _FIELDS, {}).items():
            parts.append(f"{k}={_fmt_value(v)}")
        if record.exc_info and record.exc_info[1] is not None:
            parts.append(f"error={_fmt_value(repr(record.exc_info[1]))}")
        return " ".join(parts)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": record.created,
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        out.update(getattr(record, _FIELDS, {}))
        if record.exc_info and record.exc_info[1] is not None:
            out["error"] = repr(record.exc_info[1])
        return json.dumps(out, default=str)


def setup(level: str = "info", fmt: Literal["kv", "json"] = "kv") -> None:
    """Configure the root logger for a DWC process (call once, at the entry point)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Third-party chatter stays at warning unless asked for.
    for noisy in ("nats", "asyncio", "uvicorn.access", "aiocoap"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
