"""The agent's local HTTP API against a running daemon: documents in, status out, and
clear refusals (4xx, never 5xx) that leave nothing half-written."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from agent.errors import ConfigError
from agent.natsd import NatsServer
from agent.profile import load_gateway_profile
from agent.settings import ApiSettings
from coordinator.demo import DEFAULT_DOCUMENTS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

INVOICE = DEFAULT_DOCUMENTS / "invoice_kestrel_pumps.txt"


def leftovers(processing: Path) -> list[str]:
    """Files in processing/ that belong to no queued document (partial uploads)."""
    return [p.name for p in processing.iterdir() if p.name.startswith(".")]


async def test_submit_raw_and_multipart_then_read_status(
    start_agent, nats_server: NatsServer
) -> None:  # type: ignore[no-untyped-def]
    agent = await start_agent(nats_server.url)
    async with httpx.AsyncClient(base_url=agent.api_url, timeout=10) as http:
        raw = await http.post(
            "/v1/documents", params={"name": "inv.txt"}, content=INVOICE.read_bytes()
        )
        assert raw.status_code == 202, raw.text
        with (DEFAULT_DOCUMENTS / "memo_holiday_closure.md").open("rb") as f:
            multi = await http.post(
                "/v1/documents", files={"file": ("memo.md", f, "text/markdown")}
            )
        assert multi.status_code == 202, multi.text
        ids = {raw.json()["id"]: "invoice", multi.json()["id"]: "memo"}
        await agent.eventually(
            lambda: sorted(agent.statuses()) == ["waiting", "waiting"], what="both processed"
        )
        for doc_id, label in ids.items():
            detail = (await http.get(f"/v1/documents/{doc_id}")).json()
            assert detail["status"] == "waiting"
            assert detail["label"] == label
            (run,) = detail["runs"]
            assert [s["step"] for s in run["steps"]] == ["extract", "classify", "summarize.request"]
            assert run["jobs"][0]["type"] == "ai.summarize"
            assert "claim_path" not in detail
        runs = (await http.get("/v1/runs", params={"status": "running"})).json()["items"]
        assert sorted(r["document_name"] for r in runs) == ["inv.txt", "memo.md"]
        health = (await http.get("/healthz")).json()
        assert health["nats"] == "online"
        metrics = (await http.get("/metrics")).text
        assert 'dwc_agent_documents{status="waiting"} 2' in metrics
        assert "dwc_agent_nats_online 1" in metrics
        assert "# TYPE dwc_agent_outbox_published_total counter" in metrics


async def test_bad_requests_are_4xx_and_leave_nothing(start_agent, nats_server: NatsServer) -> None:  # type: ignore[no-untyped-def]
    agent = await start_agent(nats_server.url)
    limit = agent.daemon.profile.budgets.max_document_bytes
    processing = agent.data / "processing"
    async with httpx.AsyncClient(base_url=agent.api_url, timeout=30) as http:
        cases = [
            (await http.post("/v1/documents", content=b"no name"), 400, "needs a name"),
            (
                await http.post("/v1/documents", params={"name": "../../etc/passwd"}, content=b"x"),
                202,
                "",
            ),
            (
                await http.post("/v1/documents", params={"name": ".hidden"}, content=b"x"),
                400,
                "not a valid file name",
            ),
            (
                await http.post("/v1/documents", params={"name": "empty.txt"}, content=b""),
                400,
                "empty",
            ),
            (
                await http.post("/v1/documents", files={"other": ("a.txt", b"x")}),
                400,
                "field named 'file'",
            ),
            (await http.get("/v1/documents/not-an-id"), 404, "not found"),
            (await http.get("/v1/documents/01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404, "not found"),
            (await http.get("/v1/runs", params={"limit": 0}), 422, ""),
            (await http.get("/v1/runs", params={"status": "bogus"}), 422, ""),
        ]
        # Over the size limit: declared (refused before reading) and streamed (no length).
        big = b"a" * (limit + 1)
        cases.append(
            (
                await http.post("/v1/documents", params={"name": "big.txt"}, content=big),
                413,
                "max_document_bytes",
            )
        )

        async def stream():  # type: ignore[no-untyped-def]
            for i in range(0, len(big), 1 << 20):
                yield big[i : i + (1 << 20)]

        cases.append(
            (
                await http.post("/v1/documents", params={"name": "big2.txt"}, content=stream()),
                413,
                "max_document_bytes",
            )
        )
    for resp, code, needle in cases:
        assert resp.status_code == code, (resp.request.url, resp.text)
        assert resp.status_code < 500
        assert needle in resp.text
    # The path-traversal name was reduced to its base name, inside processing/ or done/.
    assert leftovers(processing) == []
    names = [r["name"] for r in agent.query("SELECT name FROM documents")]
    assert names == ["passwd"]


async def test_queue_full_is_429_and_disk_budget_is_507(
    start_agent, nats_server: NatsServer, gateway_profile: Path
) -> None:  # type: ignore[no-untyped-def]
    base = load_gateway_profile(gateway_profile)
    tight = base.model_copy(
        update={
            "budgets": base.budgets.model_copy(update={"max_queued_documents": 1, "workers": 1})
        }
    )
    agent = await start_agent(nats_server.url, profile=tight)
    async with httpx.AsyncClient(base_url=agent.api_url, timeout=10) as http:
        # Pause the document class (cap 0) so the first document stays queued.
        sched = agent.daemon.work.sched
        sched.set_class_limit("document", 0)
        first = await http.post(
            "/v1/documents", params={"name": "a.txt"}, content=INVOICE.read_bytes()
        )
        assert first.status_code == 202
        second = await http.post(
            "/v1/documents", params={"name": "b.txt"}, content=INVOICE.read_bytes()
        )
        assert second.status_code == 429
        assert second.headers["retry-after"] == "5"
        assert "max_queued_documents" in second.json()["error"]
        sched.set_class_limit("document", 1)
        await agent.eventually(lambda: agent.statuses() == ["waiting"], what="the first document")
        # Fill the disk budget with a ballast file the agent counts (processing/ is its own).
        budget = agent.daemon.profile.budgets.disk_budget_mb << 20
        ballast = agent.data / "processing" / ".ballast"
        with ballast.open("wb") as f:
            f.truncate(budget)
        try:
            full = await http.post(
                "/v1/documents", params={"name": "c.txt"}, content=INVOICE.read_bytes()
            )
        finally:
            ballast.unlink()
        assert full.status_code == 507
        assert "disk_budget_mb" in full.json()["error"]
    assert agent.statuses() == ["waiting"]


async def test_token_required_when_set(start_agent, nats_server: NatsServer) -> None:  # type: ignore[no-untyped-def]
    agent = await start_agent(nats_server.url, api=ApiSettings(port=0, token="s3cret-token"))
    async with httpx.AsyncClient(base_url=agent.api_url, timeout=10) as http:
        assert (await http.get("/healthz")).status_code == 200
        denied = await http.get("/metrics")
        assert denied.status_code == 401
        assert denied.headers["www-authenticate"].startswith("Bearer")
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        ok = await http.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200


async def test_off_loopback_without_token_refuses_to_start(
    start_agent, nats_server: NatsServer
) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="not loopback"):
        await start_agent(nats_server.url, api=ApiSettings(host="0.0.0.0", port=0))
    assert os.environ["DWC_API__PORT"] == "0"
