"""``dwc coordinator ...`` commands, registered into ``dwc`` through the
``dwc.commands`` entry point. Imports only the standard library at registration; the
heavy modules load when a command runs."""

from __future__ import annotations

import argparse
from pathlib import Path


def _serve(args: argparse.Namespace) -> int:
    from agent.cli import build_settings, fail, missing_extra
    from agent.errors import AgentError

    try:
        from coordinator.errors import CoordinatorError
        from coordinator.server import serve
        from coordinator.settings import CoordinatorSettings
    except ImportError as e:
        if (e.name or "").split(".")[0] in ("agent", "coordinator"):
            raise
        return missing_extra(e, "coordinator serve")

    try:
        settings = build_settings(
            CoordinatorSettings,
            {
                "host": args.host,
                "port": args.port,
                "data_dir": args.data_dir,
                "database_url": args.database_url,
                "ray_address": args.ray_address,
                "ray_num_cpus": args.ray_num_cpus,
                "log_level": args.log_level,
                "log_format": args.log_format,
                "nats": {"url": args.nats_url},
            },
        )
    except AgentError as e:
        return fail(str(e))
    try:
        serve(settings)
    except CoordinatorError as e:
        return fail(str(e))
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from agent.cli import build_settings, fail
    from agent.errors import AgentError
    from coordinator.errors import CoordinatorError
    from coordinator.settings import CoordinatorSettings
    from coordinator.store import Database

    try:
        settings = build_settings(
            CoordinatorSettings, {"data_dir": args.data_dir, "database_url": args.database_url}
        )
    except AgentError as e:
        return fail(str(e))
    try:
        db = Database(settings.db_url)
        try:
            revision = db.migrate()
        finally:
            db.close()
    except CoordinatorError as e:
        return fail(str(e))
    print(f"{db.url}: at revision {revision} (head)")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    coord = sub.add_parser(
        "coordinator",
        help="run the coordinator (cluster API, ingest, Ray dispatch)",
        description="Run and manage the DWC coordinator.",
    )
    csub = coord.add_subparsers(dest="coordinator_command", metavar="COMMAND", required=True)
    serve = csub.add_parser(
        "serve",
        help="serve the /api/v3 API and run ingest and dispatch",
        description="Serve the /api/v3 cluster API with uvicorn, consume agent events and job "
        "requests from NATS JetStream, and run jobs on Ray (a local cluster unless --ray-address). "
        "Settings also come from DWC_* environment variables (docs/configuration.md).",
    )
    serve.add_argument("--host", help="bind address (default 127.0.0.1, DWC_HOST)")
    serve.add_argument("--port", type=int, help="API port (default 8700, DWC_PORT)")
    serve.add_argument("--data-dir", type=Path, help="data directory (default ./dwc-coordinator)")
    serve.add_argument(
        "--database-url", help="SQLAlchemy URL (default sqlite:///<data-dir>/coordinator.db)"
    )
    serve.add_argument("--nats-url", help="NATS server URL (default nats://127.0.0.1:4222)")
    serve.add_argument(
        "--ray-address", help="join this Ray cluster instead of starting a local one"
    )
    serve.add_argument("--ray-num-cpus", type=int, help="CPUs of the local Ray cluster")
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    serve.add_argument("--log-format", choices=["kv", "json"])
    serve.set_defaults(handler=_serve)

    migrate = csub.add_parser(
        "migrate",
        help="bring the database schema up to this version",
        description="Apply the store's migrations up to this version's head and print the "
        "revision the database is at. `serve` does the same at start; run this on its own to "
        "upgrade before starting, or to check a database URL. Back up first "
        "(docs/operations.md).",
    )
    migrate.add_argument("--data-dir", type=Path, help="data directory (default ./dwc-coordinator)")
    migrate.add_argument(
        "--database-url", help="SQLAlchemy URL (default sqlite:///<data-dir>/coordinator.db)"
    )
    migrate.set_defaults(handler=_migrate)
