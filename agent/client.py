"""A small client of the agent's local HTTP API (agent/api.py), for ``dwc agent ...``.

Standard library only: a gateway's base install has no HTTP client package. Every call
has a timeout. The bearer token, when given, goes in the ``Authorization`` header and
nowhere else (never in a message or a log line).
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.errors import AgentUnreachable, ApiRefused

TIMEOUT_SECONDS = 10.0
UPLOAD_TIMEOUT_SECONDS = 120.0
CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class Upload:
    """The agent's answer to one document: ``id`` when accepted, else the status code,
    the agent's reason and, for 429, the seconds it asks to wait."""

    status: int
    id: str | None = None
    error: str | None = None
    retry_after: float | None = None

    @property
    def accepted(self) -> bool:
        return self.id is not None


def _error_text(body: bytes, status: int) -> str:
    """The ``error`` (ours) or ``detail`` (FastAPI's) of an error body, else its text."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip()[:300] or f"HTTP {status}"
    if isinstance(data, dict):
        detail = data.get("error", data.get("detail"))
        if isinstance(detail, str):
            return detail
        if detail is not None:
            return json.dumps(detail)[:300]
    return f"HTTP {status}"


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: the caller waits its own default


class ApiClient:
    def __init__(
        self, url: str, *, token: str | None = None, timeout: float = TIMEOUT_SECONDS
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AgentUnreachable(f"agent API URL {url!r} is not an http(s) URL")
        self.url = url.rstrip("/")
        self._parts = parts
        self._token = token
        self.timeout = timeout

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    def _unreachable(self, e: BaseException) -> AgentUnreachable:
        reason = getattr(e, "reason", None) or e
        if isinstance(reason, socket.timeout | TimeoutError):
            reason = f"no answer within {self.timeout:g} s"
        elif isinstance(reason, OSError) and reason.strerror:
            reason = reason.strerror
        return AgentUnreachable(f"agent API at {self.url} is not reachable: {reason}")

    def request(self, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
        """One JSON request. Raises ApiRefused on an error status, AgentUnreachable when
        nothing (or no JSON) answers."""
        query = urllib.parse.urlencode({k: v for k, v in (params or {}).items() if v is not None})
        url = f"{self.url}{path}" + (f"?{query}" if query else "")
        req = urllib.request.Request(url, method=method, headers=self._headers())
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                body = resp.read()
        except urllib.error.HTTPError as e:
            text = _error_text(e.read(), e.code)
            if e.code == 401:
                text = f"agent API at {self.url}: {text} (DWC_API__TOKEN)"
            raise ApiRefused(e.code, text) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            raise self._unreachable(e) from None
        try:
            return json.loads(body)
        except ValueError:
            raise AgentUnreachable(
                f"agent API at {self.url}: {path} did not answer with JSON (is it a DWC agent?)"
            ) from None

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = self.request("GET", "/v1/status")
        return data

    def runs(self, status: str | None, limit: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.request(
            "GET", "/v1/runs", {"status": status, "limit": limit}
        )["items"]
        return items

    def retry(self, run_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self.request(
            "POST", f"/v1/runs/{urllib.parse.quote(run_id, safe='')}/retry"
        )
        return data

    def upload(self, path: Path, *, on_bytes: Callable[[int], None] = lambda _n: None) -> Upload:
        """Send one file as the raw body of ``POST /v1/documents?name=<base name>``,
        streamed from disk in 64 KiB chunks (``on_bytes`` is told each chunk's size).

        ``http.client`` rather than ``urllib.request``: the agent refuses a too-large
        document from its declared length, before reading the body, and may close the
        connection while the body is still being sent. Here a broken send still reads the
        answer the agent gave. Raises AgentUnreachable; OSError when the file can't be read."""
        size = path.stat().st_size
        conn_cls = (
            http.client.HTTPSConnection
            if self._parts.scheme == "https"
            else http.client.HTTPConnection
        )
        conn = conn_cls(
            self._parts.hostname or "", self._parts.port, timeout=UPLOAD_TIMEOUT_SECONDS
        )
        target = f"{self._parts.path.rstrip('/')}/v1/documents?" + urllib.parse.urlencode(
            {"name": path.name}
        )
        try:
            with path.open("rb") as f:
                try:
                    conn.putrequest("POST", target)
                    for k, v in {
                        **self._headers(),
                        "Content-Type": "application/octet-stream",
                        "Content-Length": str(size),
                    }.items():
                        conn.putheader(k, v)
                    conn.endheaders()
                except OSError as e:
                    raise self._unreachable(e) from None
                try:
                    while chunk := f.read(CHUNK_BYTES):
                        conn.send(chunk)
                        on_bytes(len(chunk))
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the agent answered early (a refusal): read it below
                except OSError as e:
                    raise self._unreachable(e) from None
            try:
                resp = conn.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException) as e:
                raise self._unreachable(e) from None
        finally:
            conn.close()
        if resp.status == 202:
            try:
                return Upload(resp.status, id=str(json.loads(body)["id"]))
            except (ValueError, KeyError, TypeError):
                raise AgentUnreachable(
                    f"agent API at {self.url}: unexpected answer to an upload"
                ) from None
        return Upload(
            resp.status,
            error=_error_text(body, resp.status),
            retry_after=_retry_after(resp.getheader("Retry-After")),
        )


__all__ = ["ApiClient", "Upload"]
