"""``dwc``: the one command line of DWC.

``dwc agent run`` lives here. Other command groups (``dwc coordinator ...``,
``dwc demo``) register themselves through the ``dwc.commands`` entry point group, so
the agent never imports the coordinator and a gateway install (no coordinator extra)
still gets a working ``dwc`` that says what to install for the rest.

Errors the user can fix print as one line ``dwc: error: ...`` and exit with code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from agent.errors import AgentError, ConfigError

EXIT_USAGE = 2
OWN_PACKAGES = frozenset({"agent", "coordinator", "dwc_core", "models"})

Handler = Callable[[argparse.Namespace], int]


def fail(message: str) -> int:
    print(f"dwc: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def missing_extra(e: ImportError, command: str, extra: str = "coordinator") -> int:
    """One line for a command whose optional dependencies are not installed."""
    return fail(
        f"`dwc {command}` needs {e.name or e}: install it with `pip install 'dwc[{extra}]'`"
    )


S = TypeVar("S", bound=BaseSettings)


def _given(values: dict[str, Any]) -> dict[str, Any]:
    """The flags that were given: ``None`` (not given) dropped, nested maps included."""
    out = {}
    for k, v in values.items():
        if isinstance(v, dict):
            v = _given(v)
        if v is not None and v != {}:
            out[k] = v
    return out


def build_settings(cls: type[S], flags: dict[str, Any]) -> S:
    """The process's one settings object: ``DWC_*`` environment variables, overridden by
    the flags given (nested sections merge field by field). Raises ConfigError."""
    try:
        return cls(**_given(flags))
    except ValidationError as e:
        raise ConfigError(settings_error(e)) from None


def settings_error(e: ValidationError) -> str:
    err = e.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"setting {where}: {err['msg']}"


# --- dwc agent run ------------------------------------------------------------------------
def _agent_run(args: argparse.Namespace) -> int:
    from agent import logs
    from agent.daemon import Daemon
    from agent.profile import load_gateway_profile
    from agent.settings import AgentSettings

    settings = build_settings(
        AgentSettings,
        {
            "profile": args.profile,
            "agent_id": args.agent_id,
            "data_dir": args.data_dir,
            "inbox_dir": args.inbox,
            "model_dir": args.model_dir,
            "log_level": args.log_level,
            "log_format": args.log_format,
            "nats": {"url": args.nats_url},
            "api": {
                "host": args.api_host,
                "port": args.api_port,
                "enabled": False if args.no_api else None,
            },
        },
    )
    assert settings.profile is not None
    profile = load_gateway_profile(settings.profile)
    _check_data_dir(settings.data_dir)
    logs.setup(settings.log_level, settings.log_format)
    daemon = Daemon(settings, profile)
    daemon.prepare()  # model and folders: fail here, before the loop starts
    asyncio.run(daemon.run())
    return 0


def _check_data_dir(path: Path) -> None:
    from agent.errors import DataDirError

    if path.exists() and not path.is_dir():
        raise DataDirError(f"data dir {path}: exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".dwc-write-test"
        probe.write_bytes(b"")
        probe.unlink()
        next(iter(path.iterdir()), None)
    except PermissionError:
        raise DataDirError(f"data dir {path}: permission denied") from None
    except OSError as e:
        raise DataDirError(f"data dir {path}: not usable: {e.strerror or e}") from None


def _register_agent(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    agent = sub.add_parser(
        "agent",
        help="run and manage the edge agent",
        description="Run and manage the DWC edge agent on a gateway.",
    )
    agent_sub = agent.add_subparsers(dest="agent_command", metavar="COMMAND", required=True)
    run = agent_sub.add_parser(
        "run",
        help="run the agent daemon in the foreground",
        description="Run the agent: watch the inbox folder, run the intake workflow on each "
        "document, store everything in SQLite and sync with the coordinator over NATS. "
        "Settings also come from DWC_* environment variables (docs/configuration.md).",
    )
    run.add_argument(
        "--profile", type=Path, required=True, help="gateway profile (device-profiles/*.toml)"
    )
    run.add_argument(
        "--data-dir", type=Path, help="store and folders (default: ./dwc-data, DWC_DATA_DIR)"
    )
    run.add_argument("--inbox", type=Path, help="watched folder (default: <data-dir>/inbox)")
    run.add_argument("--agent-id", help="unique id in the fleet (default: host name, DWC_AGENT_ID)")
    run.add_argument(
        "--nats-url", help="NATS server URL (default: nats://127.0.0.1:4222, DWC_NATS__URL)"
    )
    run.add_argument(
        "--model-dir", type=Path, help="classifier directory (default: models/doctype)"
    )
    run.add_argument("--api-host", help="local HTTP API address (default 127.0.0.1, DWC_API__HOST)")
    run.add_argument(
        "--api-port", type=int, help="local HTTP API port; 0 = any free one (default 8701)"
    )
    run.add_argument("--no-api", action="store_true", help="do not serve the local HTTP API")
    run.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    run.add_argument("--log-format", choices=["kv", "json"])
    run.set_defaults(handler=_agent_run)


# --- plugin command groups -------------------------------------------------------------------
def _register_plugins(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for ep in sorted(entry_points(group="dwc.commands"), key=lambda e: e.name):
        try:
            register = ep.load()
        except ImportError as e:
            missing = getattr(e, "name", None) or str(e)
            if missing.split(".")[0] in OWN_PACKAGES:
                raise  # a bug in DWC itself, not a missing extra
            p = sub.add_parser(ep.name, help=f"(unavailable: {missing} is not installed)")
            p.set_defaults(
                handler=lambda _a, m=missing, n=ep.name: fail(
                    f"`dwc {n}` needs {m}: install the extra with `pip install 'dwc[coordinator]'`"
                )
            )
            continue
        register(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dwc",
        description="DWC (Document Workflow Chain): edge agents, the coordinator, and the demo.",
    )
    from dwc_core import __version__

    parser.add_argument("--version", action="version", version=f"dwc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _register_agent(sub)
    _register_plugins(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except AgentError as e:
        return fail(str(e))
    except KeyboardInterrupt:
        return 130
