"""``dwc demo``: one real path through every layer, on this machine.

Starts nats-server (JetStream, temp store), the coordinator (API + local Ray cluster)
and one agent with a gateway profile, drops the sample documents into the agent's inbox,
shows progress, and ends with a table of every document (label, confidence, summary
excerpt, end-to-end latency) and totals. Every process it started is stopped on the way
out, on success, failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from agent.natsd import NatsServer, free_port
from agent.settings import REPO_ROOT
from coordinator.launch import Child, coordinator_ready, dwc_command, http_json, wait_until

DEFAULT_DOCUMENTS = REPO_ROOT / "deploy" / "demo" / "documents"
DEFAULT_PROFILE = REPO_ROOT / "device-profiles" / "gateway-arm-small.toml"
AGENT_ID = "demo-gw-1"


@dataclass
class DocResult:
    name: str
    status: str
    label: str | None
    confidence: float | None
    summary: str | None
    latency: float | None
    expected: str | None = None
    error: str | None = None


@dataclass
class DemoResult:
    workdir: Path
    documents: list[DocResult] = field(default_factory=list)
    coordinator_documents: int = 0
    coordinator_summaries: int = 0
    wall_seconds: float = 0.0
    startup_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        n = len(self.documents)
        return (
            n > 0
            and all(d.status == "done" for d in self.documents)
            and self.coordinator_documents == n
            and self.coordinator_summaries == n
        )


class Progress:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self._last = ""

    def step(self, msg: str) -> None:
        self.clear()
        print(f"  - {msg}", file=self.out, flush=True)

    def bar(self, done: int, total: int, detail: str) -> None:
        width = 30
        filled = int(width * done / total) if total else width
        line = f"  [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {detail}"
        if self.tty:
            print(f"\r{line}\x1b[K", end="", file=self.out, flush=True)
        elif line != self._last:
            print(line, file=self.out, flush=True)
        self._last = line

    def clear(self) -> None:
        if self.tty and self._last:
            print(file=self.out)
            self._last = ""


def _agent_rows(db_path: Path) -> list[sqlite3.Row]:
    if not db_path.exists():
        return []
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute("SELECT * FROM documents ORDER BY received_at"))
    except sqlite3.OperationalError:
        return []  # schema not created yet
    finally:
        conn.close()


def _drop(documents: list[Path], inbox: Path) -> dict[str, float]:
    """Write each document into the inbox atomically (temp name, then rename)."""
    dropped: dict[str, float] = {}
    for src in documents:
        tmp = inbox / f".{src.name}.part"
        shutil.copyfile(src, tmp)
        tmp.rename(inbox / src.name)
        dropped[src.name] = time.time()
    return dropped


def run_demo(
    workdir: Path,
    *,
    documents_dir: Path = DEFAULT_DOCUMENTS,
    profile: Path = DEFAULT_PROFILE,
    timeout: float = 180.0,
    ray_cpus: int = 2,
    out: TextIO = sys.stdout,
) -> DemoResult:
    progress = Progress(out)
    t_start = time.monotonic()
    docs = sorted(p for p in documents_dir.iterdir() if p.is_file() and p.name != "labels.json")
    labels_file = documents_dir / "labels.json"
    expected: dict[str, str] = json.loads(labels_file.read_text()) if labels_file.exists() else {}
    result = DemoResult(workdir=workdir)
    logs = workdir / "logs"
    children: list[Child] = []
    nats = NatsServer(workdir / "nats", log_file=logs / "nats.log")
    print(f"DWC demo: {len(docs)} documents, work dir {workdir}", file=out)
    try:
        nats.start()
        progress.step(f"nats-server with JetStream on {nats.url}")

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        coordinator = Child(
            "coordinator",
            dwc_command(
                "coordinator",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(workdir / "coordinator"),
                "--nats-url",
                nats.url,
                "--ray-num-cpus",
                str(ray_cpus),
            ),
            logs / "coordinator.log",
        )
        children.append(coordinator)
        progress.step(f"coordinator starting on {base}/api/v3 (FastAPI + local Ray cluster) ...")
        wait_until(
            lambda: coordinator_ready(base),
            timeout=120,
            interval=0.25,
            what="the coordinator to be ready",
            child=coordinator,
        )
        progress.step(f"coordinator ready after {time.monotonic() - t_start:.1f}s")

        agent_dir = workdir / "agent"
        agent = Child(
            "agent",
            dwc_command(
                "agent",
                "run",
                "--profile",
                str(profile),
                "--data-dir",
                str(agent_dir),
                "--agent-id",
                AGENT_ID,
                "--nats-url",
                nats.url,
                "--api-port",
                "0",
            ),
            logs / "agent.log",
        )
        children.append(agent)
        db_path = agent_dir / "agent.db"
        wait_until(
            lambda: db_path.exists() and (agent_dir / "inbox").is_dir(),
            timeout=60,
            what="the agent to start",
            child=agent,
        )
        result.startup_seconds = time.monotonic() - t_start
        progress.step(
            f"agent {AGENT_ID} running with profile {profile.stem}; dropping {len(docs)} documents into its inbox"
        )

        t_drop = time.monotonic()
        dropped = _drop(docs, agent_dir / "inbox")
        deadline = time.monotonic() + timeout
        rows: list[sqlite3.Row] = []
        while True:
            rows = _agent_rows(db_path)
            by_status: dict[str, int] = {}
            for r in rows:
                by_status[r["status"]] = by_status.get(r["status"], 0) + 1
            finished = by_status.get("done", 0) + by_status.get("failed", 0)
            detail = (
                ", ".join(f"{k} {v}" for k, v in sorted(by_status.items()))
                or "waiting for the agent"
            )
            progress.bar(finished, len(docs), detail)
            if finished >= len(docs):
                break
            for child in children:
                if not child.alive:
                    raise RuntimeError(
                        f"{child.name} exited with code {child.proc.returncode}:\n{child.tail()}"
                    )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"only {finished} of {len(docs)} documents finished within {timeout:.0f}s"
                )
            time.sleep(0.2)
        progress.clear()
        processing_seconds = time.monotonic() - t_drop

        for r in rows:
            done_at = r["completed_at"]
            result.documents.append(
                DocResult(
                    name=r["name"],
                    status=r["status"],
                    label=r["label"],
                    confidence=r["confidence"],
                    summary=r["summary"],
                    latency=(done_at - dropped[r["name"]])
                    if done_at and r["name"] in dropped
                    else None,
                    expected=expected.get(r["name"]),
                    error=r["error"],
                )
            )
        # The coordinator's view of the same documents.
        wait_until(
            lambda: _coordinator_counts(base, AGENT_ID)[1] >= len(docs),
            timeout=30,
            what="the coordinator to hold every summary",
            child=coordinator,
        )
        result.coordinator_documents, result.coordinator_summaries = _coordinator_counts(
            base, AGENT_ID
        )
        result.wall_seconds = time.monotonic() - t_start
        _report(result, processing_seconds, out)
        return result
    finally:
        progress.clear()
        for child in reversed(children):
            code = child.stop()
            if code not in (0, -15):
                print(f"  ! {child.name} exited with code {code}; see {child.log_path}", file=out)
        nats.close()


def _coordinator_counts(base: str, agent_id: str) -> tuple[int, int]:
    docs = 0
    summaries = 0
    cursor = None
    while True:
        url = f"{base}/api/v3/documents?agent={agent_id}&limit=500" + (
            f"&after={cursor}" if cursor else ""
        )
        status, page = http_json(url)
        if status != 200:
            return docs, summaries
        docs += len(page["items"])
        summaries += sum(1 for d in page["items"] if d["summary"])
        cursor = page["next_cursor"]
        if not cursor:
            return docs, summaries


def _excerpt(text: str | None, width: int) -> str:
    if not text:
        return "-"
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _report(result: DemoResult, processing_seconds: float, out: TextIO) -> None:
    header = ("document", "label", "conf", "summary", "latency")
    rows = []
    for d in result.documents:
        label = d.label or "-"
        if d.expected and d.label and d.expected != d.label:
            label += f" (expected {d.expected})"
        rows.append(
            (
                _excerpt(d.name, 40),
                label if d.status == "done" else f"FAILED: {d.error}",
                f"{d.confidence:.2f}" if d.confidence is not None else "-",
                _excerpt(d.summary, 60),
                f"{d.latency:.2f}s" if d.latency is not None else "-",
            )
        )
    widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=True)]
    print(file=out)
    for i, line in enumerate((header, *rows)):
        print("  ".join(x.ljust(w) for x, w in zip(line, widths, strict=True)).rstrip(), file=out)
        if i == 0:
            print("  ".join("-" * w for w in widths), file=out)
    done = [d for d in result.documents if d.status == "done"]
    lat = sorted(d.latency for d in done if d.latency is not None)
    labelled = [d for d in done if d.expected]
    correct = sum(1 for d in labelled if d.label == d.expected)
    by_label: dict[str, int] = {}
    for d in done:
        by_label[d.label or "-"] = by_label.get(d.label or "-", 0) + 1
    print(file=out)
    print(
        f"documents      {len(done)} done, {len(result.documents) - len(done)} failed, "
        f"{len(result.documents)} total",
        file=out,
    )
    print(f"labels         {', '.join(f'{k} {v}' for k, v in sorted(by_label.items()))}", file=out)
    if labelled:
        print(
            f"accuracy       {correct}/{len(labelled)} match the sample labels "
            f"({100 * correct / len(labelled):.0f}%)",
            file=out,
        )
    if lat:
        p95 = lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))]
        print(
            f"latency        p50 {statistics.median(lat):.2f}s, p95 {p95:.2f}s, max {lat[-1]:.2f}s "
            "(dropped in inbox -> summary stored on the agent)",
            file=out,
        )
    print(
        f"throughput     {len(done) / processing_seconds:.1f} documents/s over {processing_seconds:.1f}s",
        file=out,
    )
    print(
        f"coordinator    {result.coordinator_documents} documents, {result.coordinator_summaries} with summaries",
        file=out,
    )
    print(
        f"wall time      {result.wall_seconds:.1f}s (start-up {result.startup_seconds:.1f}s)",
        file=out,
    )
    print("result         " + ("OK" if result.ok else "INCOMPLETE"), file=out)


def _main(args: argparse.Namespace) -> int:
    from agent.cli import fail

    if not args.documents.is_dir():
        return fail(f"documents {args.documents}: not a directory")
    if not args.profile.is_file():
        return fail(f"profile {args.profile}: file not found")
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        ctx: contextlib.AbstractContextManager[str] = contextlib.nullcontext(str(args.workdir))
    elif args.keep:
        ctx = contextlib.nullcontext(tempfile.mkdtemp(prefix="dwc-demo-"))
    else:
        ctx = tempfile.TemporaryDirectory(prefix="dwc-demo-")
    with ctx as workdir:
        try:
            result = run_demo(
                Path(workdir),
                documents_dir=args.documents,
                profile=args.profile,
                timeout=args.timeout,
                ray_cpus=args.ray_cpus,
            )
        except KeyboardInterrupt:
            print("\ninterrupted; every process the demo started has been stopped", file=sys.stderr)
            return 130
        except (TimeoutError, RuntimeError, OSError) as e:
            print(f"dwc demo: failed: {e}", file=sys.stderr)
            print(
                f"logs: {Path(workdir) / 'logs'}"
                + ("" if args.keep or args.workdir else " (removed; use --keep)"),
                file=sys.stderr,
            )
            return 1
    return 0 if result.ok else 1


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="run NATS, the coordinator and an agent, and process the sample documents",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    p.add_argument(
        "--documents", type=Path, default=DEFAULT_DOCUMENTS, help="folder of documents to drop"
    )
    p.add_argument(
        "--profile", type=Path, default=DEFAULT_PROFILE, help="the agent's gateway profile"
    )
    p.add_argument("--workdir", type=Path, help="keep stores and logs here (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the temp work dir and print its path")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for the documents")
    p.add_argument("--ray-cpus", type=int, default=2, help="CPUs of the local Ray cluster")
    p.set_defaults(handler=_main)
