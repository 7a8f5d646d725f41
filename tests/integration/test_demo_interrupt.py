"""`dwc demo` stops every process it started when interrupted with Ctrl-C (SIGINT)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from coordinator.launch import dwc_command

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, session id) of a live process, or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] == "Z":  # a zombie has exited; only its parent's wait() is missing
        return None
    return int(fields[1]), int(fields[3])


def _processes() -> dict[int, tuple[int, int]]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            out[int(entry)] = st
    return out


def test_ctrl_c_stops_every_child(tmp_path: Path) -> None:
    demo = subprocess.Popen(
        [*dwc_command("demo", "--workdir", str(tmp_path))],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # Wait until the coordinator (and with it Ray) is up, then interrupt.
        log = tmp_path / "logs" / "coordinator.log"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if log.exists() and "ray.started" in log.read_text():
                break
            assert demo.poll() is None, demo.stdout.read() if demo.stdout else ""
            time.sleep(0.2)
        else:
            pytest.fail("the coordinator did not start Ray in time")
        procs = _processes()
        # Each child of the demo leads its own session; everything they start stays in it.
        sessions = {pid for pid, (ppid, _) in procs.items() if ppid == demo.pid}
        members = sessions | {pid for pid, (_, sid) in procs.items() if sid in sessions}
        assert len(sessions) >= 2  # nats-server, coordinator (and maybe the agent already)
        assert len(members) > len(sessions)  # Ray's processes live in the coordinator's session
        demo.send_signal(signal.SIGINT)
        output, _ = demo.communicate(timeout=90)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 130, output
    assert "interrupted" in output
    deadline = time.monotonic() + 15
    left = members
    while left and time.monotonic() < deadline:
        left = {pid for pid in members if _stat(pid) is not None}
        time.sleep(0.2)
    assert not left, f"processes left running: {sorted(left)}"
