"""`dwc agent status | submit | runs | retry` as subprocesses against a real daemon."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from agent.natsd import NatsServer, free_port
from agent.profile import GatewayProfile, load_gateway_profile
from agent.settings import ApiSettings
from coordinator.demo import DEFAULT_DOCUMENTS
from coordinator.launch import dwc_command

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

INVOICE = DEFAULT_DOCUMENTS / "invoice_kestrel_pumps.txt"
MEMO = DEFAULT_DOCUMENTS / "memo_holiday_closure.md"
LIMIT = 64 * 1024


def small_profile(path: Path, **budgets: int) -> GatewayProfile:
    base = load_gateway_profile(path)
    update = {"max_document_bytes": LIMIT, **budgets}
    return base.model_copy(update={"budgets": base.budgets.model_copy(update=update)})


async def dwc(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    """``dwc ARGS`` in a thread, so the daemon in this loop keeps serving."""
    env = {k: v for k, v in os.environ.items() if k != "DWC_API__TOKEN"}
    if token is not None:
        env["DWC_API__TOKEN"] = token
    return await asyncio.to_thread(
        subprocess.run,
        dwc_command(*args),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("dwc: error: ")
    for needle in needles:
        assert needle in line, line
    return line


async def test_status_submit_and_runs(
    start_agent, nats_server: NatsServer, gateway_profile: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    agent = await start_agent(nats_server.url, profile=small_profile(gateway_profile))
    url = ["--api-url", agent.api_url]
    status = await dwc("agent", "status", *url)
    assert status.returncode == 0, status.stderr
    lines = dict(line.split(None, 1) for line in status.stdout.splitlines())
    assert lines["agent"] == "gw-test"
    assert lines["nats"] == "online"
    assert lines["documents"] == "none"

    big = tmp_path / "big.txt"
    big.write_bytes(b"word " * (LIMIT // 2))
    sub = await dwc("agent", "submit", str(INVOICE), str(big), str(MEMO), *url)
    assert sub.returncode == 1, sub.stderr
    out = sub.stdout.splitlines()
    assert [line.split()[0] for line in out] == ["accepted", "refused", "accepted"]
    assert "413" in out[1]
    assert "max_document_bytes" in out[1]
    assert "\r" not in sub.stderr  # no progress bar off a terminal
    assert "2 of 3 accepted" in sub.stderr
    await agent.eventually(lambda: agent.statuses() == ["waiting", "waiting"], what="processed")

    # Found through the data dir's api.json this time.
    runs, failed, status = await asyncio.gather(
        dwc("agent", "runs", "--data-dir", str(agent.data)),
        dwc("agent", "runs", "--failed", *url),
        dwc("agent", "status", *url),
    )
    assert runs.returncode == 0, runs.stderr
    header, *rows = runs.stdout.splitlines()
    assert header.split() == ["RUN", "DOCUMENT", "WORKFLOW", "STATUS", "STARTED", "ERROR"]
    assert sorted(r.split()[1] for r in rows) == [INVOICE.name, MEMO.name]
    assert all(r.split()[2:4] == ["intake/1", "running"] for r in rows)
    assert failed.stdout.strip() == "no failed runs"
    assert "waiting 2" in status.stdout
    ok = await dwc("agent", "submit", str(INVOICE), *url)
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["submit", "nope.txt"], ["nope.txt", "no such file"]),
        (["runs", "--limit", "0"], ["--limit"]),
        (["submit", "--retries", "-1", "x"], ["--retries"]),
    ],
)
def test_usage_errors_before_any_request(
    argv: list[str], needles: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from agent.cli import main

    assert main(["agent", *argv, "--api-url", f"http://127.0.0.1:{free_port()}"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("dwc: error: ")
    for needle in needles:
        assert needle in line


async def test_submit_waits_out_a_full_queue(
    start_agent, nats_server: NatsServer, gateway_profile: Path
) -> None:  # type: ignore[no-untyped-def]
    profile = small_profile(gateway_profile, max_queued_documents=1, workers=1)
    agent = await start_agent(nats_server.url, profile=profile)
    sched = agent.daemon.work.sched
    sched.set_class_limit("document", 0)  # the first document stays queued
    url = ["--api-url", agent.api_url]
    no_retry = await dwc("agent", "submit", str(INVOICE), str(MEMO), "--retries", "0", *url)
    assert no_retry.returncode == 1
    assert "429" in no_retry.stdout.splitlines()[1]

    # Refused (429, Retry-After: 5); the queue frees while the command waits, and its
    # second try is accepted.
    proc = await asyncio.create_subprocess_exec(
        *dwc_command("agent", "submit", str(MEMO), *url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    assert proc.stdout is not None
    busy = await asyncio.wait_for(proc.stderr.readline(), timeout=30)
    assert "agent busy (429), retry 1/5 in 5 s" in busy.decode()
    sched.set_class_limit("document", 1)
    out = await asyncio.wait_for(proc.stdout.read(), timeout=30)
    assert await proc.wait() == 0
    assert out.decode().startswith("accepted ")


async def test_retry_a_failed_run(
    start_agent, nats_server: NatsServer, gateway_profile: Path
) -> None:  # type: ignore[no-untyped-def]
    agent = await start_agent(nats_server.url, profile=small_profile(gateway_profile))
    url = ["--api-url", agent.api_url]
    # Dropped into the inbox over the size limit: the document fails, its file in failed/.
    tmp = agent.data / "inbox" / ".report.txt.part"
    tmp.write_bytes(b"word " * (LIMIT // 2))
    tmp.rename(agent.data / "inbox" / "report.txt")
    await agent.eventually(lambda: agent.statuses() == ["failed"], what="the document to fail")
    failed_runs, unknown = await asyncio.gather(
        dwc("agent", "runs", "--failed", *url),
        dwc("agent", "retry", "01ARZ3NDEKTSV4RRFFQ69G5FAV", *url),
    )
    _, row = failed_runs.stdout.splitlines()
    run_id, name, _wf, run_status, *_ = row.split()
    assert (name, run_status) == ("report.txt", "failed")
    assert "max_document_bytes" in row
    one_line_error(unknown, "not found")

    # The reason goes away (the file is cut to size in failed/); the run is retried.
    (failed_file,) = (p for p in (agent.data / "failed").iterdir() if p.suffix == ".txt")
    failed_file.write_text(INVOICE.read_text())
    retried = await dwc("agent", "retry", run_id, *url)
    assert retried.returncode == 0, retried.stderr
    assert f"run {run_id}:" in retried.stdout
    assert "queued again as run" in retried.stdout
    await agent.eventually(lambda: agent.statuses() == ["waiting"], what="the retried run")
    assert list((agent.data / "failed").iterdir()) == []
    runs = agent.query("SELECT id, status, error FROM runs ORDER BY started_at")
    assert [r["status"] for r in runs] == ["failed", "running"]
    assert runs[0]["id"] == run_id
    assert "max_document_bytes" in runs[0]["error"]
    (doc,) = agent.query("SELECT * FROM documents")
    assert doc["label"] == "invoice"
    assert doc["error"] is None

    # The old run is history now, and a running run is not failed: both refused (409).
    again, running = await asyncio.gather(
        dwc("agent", "retry", run_id, *url), dwc("agent", "retry", runs[1]["id"], *url)
    )
    assert again.returncode == 1
    assert "not the latest run" in again.stderr
    assert running.returncode == 1
    assert "not failed" in running.stderr


def test_agent_not_reachable_is_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    proc = subprocess.run(
        dwc_command("agent", "status", "--api-url", url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    one_line_error(proc, url, "not reachable")


async def test_token_from_environment(start_agent, nats_server: NatsServer) -> None:  # type: ignore[no-untyped-def]
    secret = "s3cret-token-value"
    agent = await start_agent(nats_server.url, api=ApiSettings(port=0, token=secret))
    url = ["--api-url", agent.api_url]
    denied, denied_submit, ok, sub = await asyncio.gather(
        dwc("agent", "status", *url),
        dwc("agent", "submit", str(INVOICE), *url),
        dwc("agent", "status", *url, token=secret),
        dwc("agent", "submit", str(INVOICE), *url, token=secret),
    )
    one_line_error(denied, "bearer token")
    one_line_error(denied_submit, "DWC_API__TOKEN")
    assert ok.returncode == 0, ok.stderr
    assert sub.returncode == 0, sub.stderr
    for proc in (denied, denied_submit, ok, sub):
        assert secret not in proc.stdout + proc.stderr
