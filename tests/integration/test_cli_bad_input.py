"""`dwc` refuses bad input with one line naming the problem and exit code 2, no
traceback, before starting anything."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from agent.natsd import free_port
from coordinator.launch import dwc_command

pytestmark = pytest.mark.integration


def run_dwc(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        dwc_command(*args), capture_output=True, text=True, timeout=timeout, check=False
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("dwc: error: ")
    for needle in needles:
        assert needle in lines[0]


def test_agent_run_missing_profile(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    proc = run_dwc("agent", "run", "--profile", str(missing), "--data-dir", str(tmp_path / "d"))
    assert_one_line_error(proc, str(missing), "not found")


def test_agent_run_malformed_profile(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('kind = "gateway"\nname = [unterminated\n')
    proc = run_dwc("agent", "run", "--profile", str(bad), "--data-dir", str(tmp_path / "d"))
    assert_one_line_error(proc, str(bad), "invalid TOML")


def test_agent_run_invalid_profile_field(tmp_path: Path, gateway_profile: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(gateway_profile.read_text().replace("workers = 2", "workers = 0"))
    proc = run_dwc("agent", "run", "--profile", str(bad), "--data-dir", str(tmp_path / "d"))
    assert_one_line_error(proc, "budgets.workers")


def test_agent_run_data_dir_is_a_file(tmp_path: Path, gateway_profile: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    proc = run_dwc("agent", "run", "--profile", str(gateway_profile), "--data-dir", str(not_a_dir))
    assert_one_line_error(proc, str(not_a_dir), "not a directory")


def test_agent_run_data_dir_under_a_file(tmp_path: Path, gateway_profile: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_dwc(
        "agent", "run", "--profile", str(gateway_profile), "--data-dir", str(blocker / "sub")
    )
    assert_one_line_error(proc, "data dir", str(blocker / "sub"))


def test_agent_run_bad_agent_id(tmp_path: Path, gateway_profile: Path) -> None:
    proc = run_dwc(
        "agent",
        "run",
        "--profile",
        str(gateway_profile),
        "--data-dir",
        str(tmp_path),
        "--agent-id",
        "has spaces",
    )
    assert_one_line_error(proc, "agent_id")


def test_agent_run_missing_model(tmp_path: Path, gateway_profile: Path) -> None:
    proc = run_dwc(
        "agent",
        "run",
        "--profile",
        str(gateway_profile),
        "--data-dir",
        str(tmp_path / "d"),
        "--model-dir",
        str(tmp_path / "no-model"),
    )
    assert_one_line_error(proc, "manifest.json")


def test_coordinator_serve_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run_dwc("coordinator", "serve", "--port", str(port), "--data-dir", str(tmp_path))
    assert_one_line_error(proc, f"port {port}", "in use")


def test_coordinator_serve_bad_port(tmp_path: Path) -> None:
    proc = run_dwc("coordinator", "serve", "--port", "70000", "--data-dir", str(tmp_path))
    assert_one_line_error(proc, "port")


@pytest.mark.parametrize(
    ("command", "url", "needle"),
    [
        ("migrate", "not a url", "not an SQLAlchemy URL"),
        ("migrate", "mysql+nodriver://h/db", "unknown database or driver 'mysql+nodriver'"),
        ("serve", "not a url", "not an SQLAlchemy URL"),
    ],
)
def test_coordinator_bad_database_url(tmp_path: Path, command: str, url: str, needle: str) -> None:
    extra = ["--port", str(free_port())] if command == "serve" else []
    proc = run_dwc(
        "coordinator", command, "--data-dir", str(tmp_path), "--database-url", url, *extra
    )
    assert_one_line_error(proc, needle)


def test_coordinator_migrate_unreachable_database() -> None:
    port = free_port()
    url = f"postgresql+psycopg://dwc:s3cret@127.0.0.1:{port}/dwc?connect_timeout=5"
    proc = run_dwc("coordinator", "migrate", "--database-url", url)
    assert_one_line_error(proc, f"127.0.0.1:{port}", "refused")
    assert "s3cret" not in proc.stderr


def test_unknown_subcommand_is_usage_error() -> None:
    proc = run_dwc("agent", "fly")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("agent",),
        ("agent", "run"),
        ("coordinator",),
        ("coordinator", "serve"),
        ("coordinator", "migrate"),
        ("demo",),
    ],
    ids=lambda a: " ".join(a) or "dwc",
)
def test_help(args: tuple[str, ...]) -> None:
    proc = run_dwc(*args, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: dwc")
