"""Checks on network addresses before a server binds them, so a port in use is one line
naming it rather than a traceback from deep inside a server."""

from __future__ import annotations

import errno
import socket


def bind_problem(host: str, port: int) -> tuple[str, bool] | None:
    """``None`` if ``host:port`` can be bound now, else ``(reason, in_use)``."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        return f"host {host!r}: cannot resolve: {e.strerror}", False
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is already in use", True
            return f"cannot bind {host}:{port}: {e.strerror}", False
    return None
