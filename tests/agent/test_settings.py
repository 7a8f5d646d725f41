"""agent/settings.py: the agent's one settings object."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from agent import settings as settings_module
from agent.protocol import AGENT_ID_RE
from agent.settings import AgentSettings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from DWC_* variables; start each test without any."""
    for name in list(os.environ):
        if name.upper().startswith("DWC_"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    s = AgentSettings(agent_id="gw-1")
    assert s.data_dir == Path("dwc-data")
    assert s.inbox == Path("dwc-data") / "inbox"
    assert s.nats.url == "nats://127.0.0.1:4222"
    assert s.profile is None
    assert s.log_level == "info"


def test_inbox_follows_data_dir_unless_set(tmp_path: Path) -> None:
    assert AgentSettings(agent_id="a", data_dir=tmp_path).inbox == tmp_path / "inbox"
    other = tmp_path / "drop"
    assert AgentSettings(agent_id="a", data_dir=tmp_path, inbox_dir=other).inbox == other


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DWC_AGENT_ID", "gw-from-env")
    monkeypatch.setenv("DWC_NATS__URL", "nats://10.0.0.5:4222,nats://10.0.0.6:4222")
    monkeypatch.setenv("DWC_NATS__CONNECT_TIMEOUT", "2.5")
    monkeypatch.setenv("DWC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DWC_LOG_LEVEL", "debug")
    s = AgentSettings()
    assert s.agent_id == "gw-from-env"
    assert s.nats.url == "nats://10.0.0.5:4222,nats://10.0.0.6:4222"
    assert s.nats.connect_timeout == 2.5
    assert s.nats.request_timeout == 10.0  # the other nested defaults stay
    assert s.inbox == tmp_path / "inbox"
    assert s.log_level == "debug"


def test_arguments_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DWC_AGENT_ID", "gw-from-env")
    assert AgentSettings(agent_id="gw-arg").agent_id == "gw-arg"


def test_invalid_environment_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DWC_POLL_INTERVAL", "0")
    with pytest.raises(ValidationError, match="poll_interval"):
        AgentSettings(agent_id="gw-1")


@pytest.mark.parametrize(
    "agent_id",
    ["gw 1", "gw.1", "a" * 65, "", "-gw", "_gw", "gw/1", "gw*", "gw>", "gwé"],
    ids=["space", "dot", "65-chars", "empty", "leading-dash", "leading-underscore",
         "slash", "star", "gt", "non-ascii"],
)  # fmt: skip
def test_invalid_agent_ids_are_refused(agent_id: str) -> None:
    with pytest.raises(ValidationError, match="agent_id"):
        AgentSettings(agent_id=agent_id)


def test_invalid_agent_id_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DWC_AGENT_ID", "has.dots")
    with pytest.raises(ValidationError, match="agent_id"):
        AgentSettings()


@pytest.mark.parametrize("agent_id", ["a", "A" * 64, "gw-01_b", "0"])
def test_valid_agent_ids(agent_id: str) -> None:
    assert AgentSettings(agent_id=agent_id).agent_id == agent_id


@pytest.mark.parametrize(
    ("hostname", "expected"),
    [
        ("gateway-7", "gateway-7"),
        ("gw.plant.example.com", "gw-plant-example-com"),
        ("", "agent"),
        ("h" * 100, "h" * 64),
    ],
)
def test_default_agent_id_from_hostname(
    monkeypatch: pytest.MonkeyPatch, hostname: str, expected: str
) -> None:
    monkeypatch.setattr(settings_module.socket, "gethostname", lambda: hostname)
    s = AgentSettings()
    assert s.agent_id == expected
    assert AGENT_ID_RE.match(s.agent_id)


@pytest.mark.parametrize("hostname", ["büro-gw", "_gw", "-gw", "..."])
def test_default_agent_id_is_always_valid(monkeypatch: pytest.MonkeyPatch, hostname: str) -> None:
    # The default must never make a bare `dwc agent run` fail validation.
    monkeypatch.setattr(settings_module.socket, "gethostname", lambda: hostname)
    assert AGENT_ID_RE.match(AgentSettings().agent_id)
