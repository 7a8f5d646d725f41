"""The agent's settings: one object per process, from ``DWC_*`` environment variables
(nested with ``__``, e.g. ``DWC_NATS__URL``) and command-line overrides.

Every setting is documented in docs/configuration.md.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from agent.protocol import AGENT_ID_RE

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL_DIR = REPO_ROOT / "models" / "doctype"


class NatsSettings(BaseModel):
    url: str = Field(default="nats://127.0.0.1:4222", description="NATS server(s), comma-separated")
    connect_timeout: float = Field(default=5.0, gt=0, description="seconds per connection attempt")
    request_timeout: float = Field(default=10.0, gt=0, description="seconds to wait for a PubAck")


class ApiSettings(BaseModel):
    enabled: bool = Field(default=True, description="serve the local HTTP API")
    host: str = Field(default="127.0.0.1", description="bind address; not loopback needs a token")
    port: int = Field(
        default=8701, ge=0, le=65535, description="0: any free port (see <data_dir>/api.json)"
    )
    token: SecretStr | None = Field(
        default=None, description="bearer token required on every route but /healthz"
    )


def _default_agent_id() -> str:
    """The hostname made into a valid agent id (ASCII, starting with a letter or digit)."""
    host = "".join(
        c if (c.isascii() and c.isalnum()) or c in "-_" else "-" for c in socket.gethostname()
    )
    return (host.lstrip("-_") or "agent")[:64]


class AgentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DWC_", env_nested_delimiter="__", extra="ignore")

    agent_id: str = Field(default_factory=_default_agent_id, description="unique in the fleet")
    profile: Path | None = Field(default=None, description="gateway profile (TOML)")
    data_dir: Path = Field(
        default=Path("dwc-data"), description="SQLite store, inbox, done/, failed/"
    )
    inbox_dir: Path | None = Field(
        default=None, description="watched folder; default <data_dir>/inbox"
    )
    model_dir: Path = Field(
        default=DEFAULT_MODEL_DIR, description="classifier: model.onnx + manifest.json"
    )
    poll_interval: float = Field(default=0.2, gt=0, le=60, description="inbox scan period, seconds")
    settle_seconds: float = Field(
        default=0.2, ge=0, le=60, description="a file must be unchanged this long"
    )
    nats: NatsSettings = NatsSettings()
    api: ApiSettings = ApiSettings()
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["kv", "json"] = "kv"

    @field_validator("agent_id")
    @classmethod
    def _agent_id(cls, v: str) -> str:
        if not AGENT_ID_RE.match(v):
            raise ValueError(
                f"agent_id {v!r} must be 1-64 characters of letters, digits, '-' or '_'"
            )
        return v

    @property
    def inbox(self) -> Path:
        return self.inbox_dir or self.data_dir / "inbox"
