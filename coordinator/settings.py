"""The coordinator's settings: one object per process from ``DWC_*`` environment
variables (nested with ``__``) and command-line overrides. Documented in
docs/configuration.md."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from agent.settings import NatsSettings


class CoordinatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DWC_", env_nested_delimiter="__", extra="ignore")

    host: str = Field(default="127.0.0.1", description="API bind address")
    port: int = Field(default=8700, ge=1, le=65535, description="API port")
    data_dir: Path = Field(
        default=Path("dwc-coordinator"), description="SQLite file and Ray temp files"
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///<data_dir>/coordinator.db"
    )
    nats: NatsSettings = NatsSettings()
    ray_address: str | None = Field(
        default=None, description="join this Ray cluster; default: start a local one"
    )
    ray_num_cpus: int | None = Field(
        default=None, ge=1, description="CPUs of the local Ray cluster"
    )
    ray_object_store_mb: int = Field(
        default=256, ge=64, description="object store of the local Ray cluster"
    )
    dispatch_concurrency: int = Field(default=4, ge=1, le=1024, description="Ray tasks in flight")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["kv", "json"] = "kv"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'coordinator.db'}"
