"""agent/profile.py: loading and validating gateway device profiles."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from agent.errors import ConfigError, ProfileError
from agent.profile import GatewayProfile, load_gateway_profile
from agent.settings import REPO_ROOT

PROFILES = REPO_ROOT / "device-profiles"

VALID = """\
kind = "gateway"
name = "test-gw"

[hardware]
arch = "x86_64"
cpu_cores = 2
memory_mb = 512
disk_mb = 1024

[budgets]
workers = 3

[sync]
heartbeat_seconds = 2.5
"""


def _write(tmp_path: Path, text: str | bytes, name: str = "profile.toml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _error(path: Path) -> str:
    with pytest.raises(ProfileError) as info:
        load_gateway_profile(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"profile {path}: ")
    return message


@pytest.mark.parametrize("name", ["gateway-arm-small", "gateway-x86-ipc"])
def test_shipped_profiles_load(name: str) -> None:
    profile = load_gateway_profile(PROFILES / f"{name}.toml")
    assert profile.kind == "gateway"
    assert profile.name == name
    assert profile.budgets.workers >= 1
    assert profile.hardware.cpu_cores >= profile.budgets.onnx_threads


def test_every_shipped_profile_loads() -> None:
    paths = sorted(PROFILES.glob("*.toml"))
    assert len(paths) >= 2
    for path in paths:
        assert load_gateway_profile(path).name == path.stem


def test_valid_profile_values_and_defaults(tmp_path: Path) -> None:
    profile = load_gateway_profile(_write(tmp_path, VALID))
    assert isinstance(profile, GatewayProfile)
    assert profile.hardware.arch == "x86_64"
    assert profile.budgets.workers == 3
    assert profile.budgets.onnx_threads == 1  # default
    assert profile.sync.heartbeat_seconds == 2.5
    assert profile.sync.outbox_window == 64  # default
    assert profile.description == ""


def test_sections_with_defaults_may_be_omitted(tmp_path: Path) -> None:
    text = VALID.split("[budgets]")[0]
    profile = load_gateway_profile(_write(tmp_path, text))
    assert profile.budgets.workers == 2
    assert profile.sync.heartbeat_seconds == 10.0


def test_profile_error_is_a_config_error() -> None:
    assert issubclass(ProfileError, ConfigError)


def test_missing_file(tmp_path: Path) -> None:
    assert _error(tmp_path / "absent.toml").endswith("file not found")


def test_directory(tmp_path: Path) -> None:
    path = tmp_path / "dir.toml"
    path.mkdir()
    assert "is a directory" in _error(path)


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (PermissionError(errno.EACCES, "Permission denied"), "permission denied"),
        (OSError(errno.EIO, "Input/output error"), "cannot read: Input/output error"),
    ],
)
def test_unreadable_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: OSError, shown: str
) -> None:
    # Simulated: the tests may run as root, which reads files whatever their mode.
    path = _write(tmp_path, VALID)

    def read_text(self: Path, *args: object, **kwargs: object) -> str:
        raise error

    monkeypatch.setattr(Path, "read_text", read_text)
    assert _error(path).endswith(shown)


def test_non_utf8_bytes_name_the_offset(tmp_path: Path) -> None:
    path = _write(tmp_path, b'kind = "gateway"\nname = "\xff"\n')
    assert _error(path).endswith("not UTF-8 text (byte 25)")


def test_invalid_toml_names_the_position(tmp_path: Path) -> None:
    path = _write(tmp_path, 'kind = "gateway"\nname = \n')
    message = _error(path)
    assert "invalid TOML" in message
    assert "line 2" in message


@pytest.mark.parametrize(
    ("line", "shown"),
    [('kind = "sensor"', "kind='sensor'"), ("kind = 3", "kind=3"), ("", "kind=None")],
    ids=["wrong", "not-a-string", "missing"],
)
def test_wrong_or_missing_kind(tmp_path: Path, line: str, shown: str) -> None:
    text = VALID.replace('kind = "gateway"', line)
    message = _error(_write(tmp_path, text))
    assert shown in message
    assert "'gateway' profile" in message


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("workers = 3", "workers = 0", "budgets.workers"),
        ("workers = 3", "workers = 65", "budgets.workers"),
        ("workers = 3", 'workers = "many"', "budgets.workers"),
        ("cpu_cores = 2", "cpu_cores = 0", "hardware.cpu_cores"),
        ('arch = "x86_64"', 'arch = "mips"', "hardware.arch"),
        ("heartbeat_seconds = 2.5", "heartbeat_seconds = 0", "sync.heartbeat_seconds"),
        ('name = "test-gw"', 'name = "Has Spaces"', "name"),
    ],
)
def test_out_of_range_or_wrong_value_names_the_field(
    tmp_path: Path, old: str, new: str, field: str
) -> None:
    assert old in VALID
    message = _error(_write(tmp_path, VALID.replace(old, new)))
    assert f": {field}: " in message


def test_unknown_field_names_the_field(tmp_path: Path) -> None:
    text = VALID.replace("workers = 3", "workers = 3\nturbo = true")
    message = _error(_write(tmp_path, text))
    assert ": budgets.turbo: " in message
    assert "Extra inputs are not permitted" in message


def test_unknown_top_level_field(tmp_path: Path) -> None:
    message = _error(_write(tmp_path, 'colour = "red"\n' + VALID))
    assert ": colour: " in message


def test_missing_required_section_names_it(tmp_path: Path) -> None:
    start = VALID.index("[hardware]")
    end = VALID.index("[budgets]")
    message = _error(_write(tmp_path, VALID[:start] + VALID[end:]))
    assert ": hardware: Field required" in message


def test_missing_required_field_in_section(tmp_path: Path) -> None:
    message = _error(_write(tmp_path, VALID.replace("memory_mb = 512\n", "")))
    assert ": hardware.memory_mb: Field required" in message


def test_several_errors_report_the_first_and_a_count(tmp_path: Path) -> None:
    text = VALID.replace("workers = 3", "workers = 0").replace("cpu_cores = 2", "cpu_cores = 0")
    message = _error(_write(tmp_path, text))
    assert message.endswith("(and 1 more)")
