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
    _register_agent_client(agent_sub)


# --- dwc agent status | submit | runs | retry ----------------------------------------------------
EXIT_REFUSED = 1
SUBMIT_RETRIES = 5
RETRY_AFTER_CAP_SECONDS = 60.0


def _client(args: argparse.Namespace) -> Any:
    """A client of the running agent's API: ``--api-url``; else ``<data_dir>/api.json``
    (the address the agent wrote when it started listening); else the API settings
    (``DWC_API__HOST``/``DWC_API__PORT``). The token comes from ``DWC_API__TOKEN``."""
    import json

    from agent.client import ApiClient
    from agent.settings import AgentSettings

    settings = build_settings(AgentSettings, {"data_dir": args.data_dir})
    token = settings.api.token.get_secret_value() if settings.api.token else None
    url = args.api_url
    if url is None:
        api_file = settings.data_dir / "api.json"
        try:
            url = json.loads(api_file.read_text())["url"]
        except FileNotFoundError:
            host = settings.api.host
            url = f"http://{'[' + host + ']' if ':' in host else host}:{settings.api.port}"
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"{api_file}: not readable as the agent's API address: {e}") from None
    return ApiClient(str(url), token=token)


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _agent_status(args: argparse.Namespace) -> int:
    s = _client(args).status()
    docs = s.get("documents") or {}
    work = s.get("work") or {}
    rows = [
        ("agent", s["agent"]),
        ("nats", s["nats"]),
        (
            "outbox",
            f"{s['outbox_backlog']} waiting"
            + (f", oldest {_age(s['outbox_oldest_age'])}" if s["outbox_backlog"] else ""),
        ),
        (
            "queue",
            f"{s['queued']} queued"
            + (f" ({work.get('leased', 0)} in progress)" if work else "")
            + (f", {work['dead_letters']} given up" if work.get("dead_letters") else ""),
        ),
        (
            "documents",
            ", ".join(f"{k} {v}" for k, v in sorted(docs.items())) or "none",
        ),
    ]
    for key, value in rows:
        print(f"{key:<10} {value}")
    return 0


def _mib(n: float) -> str:
    return f"{n / (1 << 20):.1f} MiB"


class _Progress:
    """Files done/total and bytes sent: one redrawn line on a terminal, nothing else."""

    def __init__(self, total_files: int, total_bytes: int) -> None:
        self.tty = sys.stderr.isatty()
        self.files, self.total_files = 0, total_files
        self.sent, self.total_bytes = 0, total_bytes
        self.name = ""
        self._drawn_at = 0.0

    def draw(self, *, throttle: bool = False) -> None:
        import time

        if not self.tty:
            return
        now = time.monotonic()
        if throttle and now - self._drawn_at < 0.1:
            return  # at most ten redraws a second while bytes flow
        self._drawn_at = now
        frac = self.sent / self.total_bytes if self.total_bytes else 1.0
        bar = "#" * int(frac * 24)
        line = (
            f"[{bar:<24}] {self.files}/{self.total_files} files"
            f" {_mib(self.sent)}/{_mib(self.total_bytes)} {self.name}"
        )
        sys.stderr.write("\r" + line[:100].ljust(100))
        sys.stderr.flush()

    def add(self, n: int) -> None:
        self.sent += n
        self.draw(throttle=True)

    def clear(self) -> None:
        if self.tty:
            sys.stderr.write("\r" + " " * 100 + "\r")
            sys.stderr.flush()


def _agent_submit(args: argparse.Namespace) -> int:
    import time

    from agent.client import Upload
    from agent.errors import ApiRefused

    paths: list[Path] = args.files
    if args.retries < 0:
        return fail(f"--retries {args.retries}: must be 0 or more")
    for p in paths:
        if not p.is_file():
            return fail(f"{p}: no such file" if not p.exists() else f"{p}: not a regular file")
    client = _client(args)
    progress = _Progress(len(paths), sum(p.stat().st_size for p in paths))
    refused = 0
    for p in paths:
        progress.name = p.name
        sent_before = progress.sent
        attempt = 0
        while True:
            progress.sent = sent_before
            try:
                result: Upload = client.upload(p, on_bytes=progress.add)
            except OSError as e:
                progress.clear()
                return fail(f"{p}: cannot read: {e.strerror or e}")
            if result.status == 401:
                progress.clear()
                raise ApiRefused(401, f"agent API at {client.url}: {result.error} (DWC_API__TOKEN)")
            if result.status != 429 or attempt >= args.retries:
                break
            attempt += 1
            wait = min(result.retry_after or 5.0, RETRY_AFTER_CAP_SECONDS)
            progress.clear()
            print(
                f"{p}: agent busy (429), retry {attempt}/{args.retries} in {wait:g} s",
                file=sys.stderr,
            )
            time.sleep(wait)
        progress.sent = sent_before + p.stat().st_size
        progress.files += 1
        progress.clear()
        if result.accepted:
            print(f"accepted {p}: {result.id}")
        else:
            refused += 1
            print(f"refused  {p}: {result.status} {result.error}")
        sys.stdout.flush()
        progress.draw()
    progress.clear()
    print(f"{len(paths) - refused} of {len(paths)} accepted", file=sys.stderr)
    return EXIT_REFUSED if refused else 0


def _when(ts: float | None) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _agent_runs(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 500:
        return fail(f"--limit {args.limit}: must be between 1 and 500")
    runs = _client(args).runs("failed" if args.failed else None, args.limit)
    header = ("RUN", "DOCUMENT", "WORKFLOW", "STATUS", "STARTED", "ERROR")
    rows = [
        (
            r["id"],
            r.get("document_name") or r["document_id"],
            f"{r['workflow']}/{r['version']}",
            r["status"],
            _when(r.get("started_at")),
            " ".join((r.get("error") or "").split())[:60],
        )
        for r in runs
    ]
    if not rows:
        print("no failed runs" if args.failed else "no runs")
        return 0
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [str(v).ljust(w) for v, w in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]).rstrip())
    return 0


def _agent_retry(args: argparse.Namespace) -> int:
    from agent.errors import ApiRefused

    try:
        out = _client(args).retry(args.run)
    except ApiRefused as e:
        if e.status == 409:
            print(f"dwc: refused: {e}", file=sys.stderr)
            return EXIT_REFUSED
        raise
    print(
        f"run {out['retried_run_id']}: document {out['document_id']} ({out['name']}) "
        f"queued again as run {out['run_id']}"
    )
    return 0


def _api_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--api-url",
        help="the agent's API (default: from <data-dir>/api.json, else DWC_API__HOST/PORT)",
    )
    p.add_argument(
        "--data-dir", type=Path, help="the agent's data dir (default: ./dwc-data, DWC_DATA_DIR)"
    )


def _register_agent_client(agent_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = agent_sub.add_parser(
        "status",
        help="a running agent's state",
        description="Show a running agent's id, NATS link, outbox backlog, queue depth and "
        "documents by status. The API token comes from DWC_API__TOKEN.",
    )
    _api_flags(status)
    status.set_defaults(handler=_agent_status)
    submit = agent_sub.add_parser(
        "submit",
        help="send documents to a running agent",
        description="Upload each file to a running agent (streamed from disk). Exit code 0 "
        "when all were accepted, 1 when some were refused, 2 for usage errors.",
    )
    submit.add_argument("files", nargs="+", type=Path, metavar="FILE")
    submit.add_argument(
        "--retries",
        type=int,
        default=SUBMIT_RETRIES,
        help=f"retries of a file the agent is too busy for (429; default {SUBMIT_RETRIES})",
    )
    _api_flags(submit)
    submit.set_defaults(handler=_agent_submit)
    runs = agent_sub.add_parser(
        "runs", help="recent workflow runs", description="A table of a running agent's runs."
    )
    runs.add_argument("--failed", action="store_true", help="only failed runs")
    runs.add_argument("--limit", type=int, default=20, help="at most N runs (1-500, default 20)")
    _api_flags(runs)
    runs.set_defaults(handler=_agent_runs)
    retry = agent_sub.add_parser(
        "retry",
        help="run a failed run's document again",
        description="Move a failed run's document from failed/ back into processing/ and run "
        "it again as a new run of the same document (the failed run stays as history). "
        "Exit code 1 when the agent refuses (the run did not fail, or its file is gone).",
    )
    retry.add_argument("run", metavar="RUN", help="run id (from `dwc agent runs --failed`)")
    _api_flags(retry)
    retry.set_defaults(handler=_agent_retry)


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
