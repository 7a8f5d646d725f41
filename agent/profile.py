"""Device profiles: TOML files in ``device-profiles/`` that say what a box may use.

Only the gateway kind is read here (the agent runs on a gateway); sensor and headset
profiles arrive with the IoT and XR work. Errors are one line naming the file and the
field, so ``dwc agent run`` can print them as they are.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.errors import ProfileError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Hardware(_Strict):
    arch: Literal["aarch64", "armv7", "x86_64"]
    cpu_cores: int = Field(ge=1, le=256)
    memory_mb: int = Field(ge=64)
    disk_mb: int = Field(ge=64)


class Budgets(_Strict):
    workers: int = Field(default=2, ge=1, le=64, description="documents processed at once")
    onnx_threads: int = Field(
        default=1, ge=1, le=64, description="intra-op threads per ONNX session"
    )
    max_document_bytes: int = Field(
        default=16 << 20, ge=1024, description="larger files are refused"
    )
    max_queued_documents: int = Field(default=1000, ge=1)
    cache_mb: int = Field(default=64, ge=1)
    disk_budget_mb: int = Field(
        default=1024, ge=16, description="SQLite store + outbox while offline"
    )


class Sync(_Strict):
    heartbeat_seconds: float = Field(default=10.0, gt=0, le=3600)
    outbox_window: int = Field(default=64, ge=1, le=4096, description="publishes in flight")
    max_remote_text_bytes: int = Field(
        default=256 << 10, ge=1024, description="text sent to remote jobs"
    )


class GatewayProfile(_Strict):
    kind: Literal["gateway"]
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    description: str = ""
    hardware: Hardware
    budgets: Budgets = Budgets()
    sync: Sync = Sync()


def load_gateway_profile(path: Path) -> GatewayProfile:
    """Read and validate a gateway profile, or raise ProfileError with one line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(f"profile {path}: file not found") from None
    except IsADirectoryError:
        raise ProfileError(f"profile {path}: is a directory, expected a .toml file") from None
    except PermissionError:
        raise ProfileError(f"profile {path}: permission denied") from None
    except UnicodeDecodeError as e:
        raise ProfileError(f"profile {path}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise ProfileError(f"profile {path}: cannot read: {e.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ProfileError(f"profile {path}: invalid TOML: {e}") from None
    kind = data.get("kind")
    if kind != "gateway":
        raise ProfileError(
            f"profile {path}: kind={kind!r}; an agent runs only with a 'gateway' profile"
        )
    try:
        return GatewayProfile.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        more = f" (and {len(e.errors()) - 1} more)" if len(e.errors()) > 1 else ""
        raise ProfileError(f"profile {path}: {where}: {err['msg']}{more}") from None
