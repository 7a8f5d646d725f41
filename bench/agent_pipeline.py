"""The agent's document path end to end, on one core, against a plain Python baseline.

Every document goes ingest -> extract -> content id + featurize -> classify (ONNX) ->
SQLite commits -> outbox rows, through the agent's own code. Three ways of running it,
each in its own process pinned to CPU 0 (``os.sched_setaffinity``) with one ONNX
Runtime thread (the profile's ``onnx_threads``) and ``RAYON_NUM_THREADS=1``:

* **daemon**: a real ``Daemon`` (the ``gateway-arm-small`` profile, NATS not reachable,
  so the outbox only fills). Documents are renamed into its inbox; the time runs from
  the first rename to the commit of the last document's ``summarize.request`` step
  (status ``waiting``), read from the store.
* **pipeline core**: ``IntakePipeline.register`` + ``process`` awaited in a loop over
  claimed files, with the store called inline on the loop (no store thread), and again
  with the daemon's single store thread; the difference to the daemon is the daemon's
  own machinery (inbox scans, work queue, file moves, thread hops).
* **peer**: the same work written the obvious way: read, decode, stdlib HTML/JSON text,
  ``hashlib.sha256``, scikit-learn ``HashingVectorizer`` (word 1-2 + char_wb 3-5 grams,
  2**14 buckets, sublinear tf, l2) and a ``LogisticRegression`` fitted on the model's
  corpus (``models/doctype/data/corpus.jsonl``, unpickled in the peer process), then one
  ``sqlite3`` transaction per document (WAL, ``synchronous=NORMAL``, as the agent) with
  the document, its step results and two outbox rows (event and job request).

Documents (~4 KB) are the shipped demo documents (``deploy/demo/documents``) padded
with sentences of the same class from the corpus and a seeded reference line, so every
content id differs and the agent's model-output cache never hits (the run prints the
hit count).

Besides documents/s (wall time), each process's CPU time per document is reported
(utime + stime of all its threads): the machine is shared, and CPU time moves less with
other work on the core than wall time does. RSS: the daemon once idle with the model
loaded (``VmRSS`` from ``/proc``), and the peer process after it imported scikit-learn
and unpickled its model. Printed too: each stage of the agent's work timed alone and
synchronously (where the time goes), the peer's stages, and voluntary context switches
per document (round trips between threads).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import os
import pickle
import random
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from bench.harness import Row

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLES = REPO_ROOT / "deploy" / "demo" / "documents"
CORPUS = REPO_ROOT / "models" / "doctype" / "data" / "corpus.jsonl"
MODEL_DIR = REPO_ROOT / "models" / "doctype"
PROFILE = REPO_ROOT / "device-profiles" / "gateway-arm-small.toml"

CPU = 0  # every measured process runs on this core only
DOC_BYTES = 4096  # documents are padded to about this size
TARGET_DOCS_PER_S = 1000.0  # issue 5: >= 1,000 docs/s on 1 core
TARGET_RSS_MB = 100.0  # issue 5: agent RSS idle with models loaded <= 100 MB
PEER = "Python: sklearn + sqlite3"
ONE_THREAD_ENV = {
    "RAYON_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


# --- documents -----------------------------------------------------------------------------
def _corpus_sentences() -> dict[str, list[str]]:
    by_label: dict[str, list[str]] = {}
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            by_label.setdefault(row["label"], []).append(row["text"])
    return by_label


def _pad(name: str, text: str, extra: list[str]) -> str:
    """``text`` (a sample in the format its name says) with ``extra`` paragraphs added
    where that format keeps them as text."""
    suffix = Path(name).suffix
    if suffix == ".json":
        data = json.loads(text)
        data["notes"] = extra
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if suffix == ".html":
        paras = "".join(f"<p>{p}</p>\n" for p in extra)
        at = text.rfind("</body>")
        return text[:at] + paras + text[at:] if at >= 0 else text + paras
    if suffix == ".md":
        return text.rstrip() + "\n\n## Notes\n\n" + "\n\n".join(extra) + "\n"
    return text.rstrip() + "\n\n" + "\n\n".join(extra) + "\n"


def documents(n: int, seed: int = 2024) -> list[tuple[str, bytes]]:
    """``n`` documents of about ``DOC_BYTES``, deterministic from ``seed``, every one
    with distinct content: ``(file name, bytes)``."""
    rng = random.Random(seed)
    labels: dict[str, str] = json.loads((SAMPLES / "labels.json").read_text())
    samples = sorted(labels)
    sentences = _corpus_sentences()
    out = []
    for i in range(n):
        sample = samples[i % len(samples)]
        base = (SAMPLES / sample).read_text(encoding="utf-8")
        pool = sentences[labels[sample]]
        extra = [f"Reference BX-{i:07d}-{rng.getrandbits(32):08x}, batch {rng.randint(1, 999)}."]
        while len(_pad(sample, base, extra).encode()) < DOC_BYTES - 150:
            extra.append(rng.choice(pool))
        out.append((f"{i:06d}-{sample}", _pad(sample, base, extra).encode()))
    return out


def write_documents(docs: list[tuple[str, bytes]], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in docs:
        (folder / name).write_bytes(data)


# --- process helpers -----------------------------------------------------------------------
def _pin() -> None:
    os.sched_setaffinity(0, {CPU})


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DWC_")}
    env.update(ONE_THREAD_ENV)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of every thread of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _context_switches(pid: int) -> int:
    """Voluntary context switches of the live threads of ``pid``: each time a thread
    waits (for another thread, a lock, I/O). Preemption by other work is not counted."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    total += int(line.split()[1])
    return total


def _settled_rss_mb(pid: int, *, at_least: float = 2.0, within: float = 30.0) -> float:
    """VmRSS of ``pid`` once it has stopped changing (two reads 0.5 s apart within 1%)."""
    time.sleep(at_least)
    deadline = time.monotonic() + within
    prev = _status_kb(pid, "VmRSS")
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = _status_kb(pid, "VmRSS")
        if abs(now - prev) <= prev / 100:
            return now / 1024
        prev = now
    return prev / 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(*args: str, log: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.agent_pipeline", *args],
        env=_child_env(),
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
    )


def _bench_profile() -> Any:
    from agent.profile import load_gateway_profile

    profile = load_gateway_profile(PROFILE)
    budgets = profile.budgets.model_copy(update={"onnx_threads": 1})
    return profile.model_copy(update={"budgets": budgets})


# --- (a) the daemon --------------------------------------------------------------------------
def _serve(data_dir: Path, nats_url: str) -> None:
    """Child: run the agent daemon as ``dwc agent run`` does, on one core."""
    _pin()
    from agent import logs
    from agent.daemon import Daemon
    from agent.settings import AgentSettings, ApiSettings, NatsSettings

    settings = AgentSettings(
        agent_id="bench",
        data_dir=data_dir,
        model_dir=MODEL_DIR,
        # Documents are renamed into the inbox complete, so no settling is needed.
        settle_seconds=0.0,
        nats=NatsSettings(url=nats_url, connect_timeout=1),
        api=ApiSettings(port=0),
    )
    logs.setup("info", "kv")  # stderr goes to a file, as under a service manager
    daemon = Daemon(settings, _bench_profile())
    daemon.prepare()
    asyncio.run(daemon.run())


def _store_query(db: Path, sql: str) -> Any:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql).fetchone()
    finally:
        conn.close()


def _cache_hits(data_dir: Path) -> float:
    url = json.loads((data_dir / "api.json").read_text())["url"]
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as r:
        text = r.read().decode()
    m = re.search(r"^dwc_agent_cache_hits_total(?:\{\})? (\S+)$", text, re.MULTILINE)
    return float(m.group(1)) if m else math.nan


def measure_daemon(docs: list[tuple[str, bytes]], work: Path) -> dict[str, float]:
    """Start a daemon, read its idle RSS, drop ``docs`` into its inbox and time them."""
    data = work / "agent"
    staging = data / "staging"  # same file system as the inbox, so renames are atomic
    write_documents(docs, staging)
    proc = _spawn("serve", str(data), f"nats://127.0.0.1:{_free_port()}", log=work / "agent.log")
    try:
        deadline = time.monotonic() + 60
        while not (data / "api.json").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"agent did not start; see {work / 'agent.log'}")
            time.sleep(0.05)
        idle_rss = _settled_rss_mb(proc.pid)
        db = data / "agent.db"
        names = sorted(p.name for p in staging.iterdir())
        cpu0, switches0 = _cpu_seconds(proc.pid), _context_switches(proc.pid)
        t0 = time.time()
        for name in names:
            os.rename(staging / name, data / "inbox" / name)
        deadline = time.monotonic() + 600
        while True:
            waiting, failed = _store_query(
                db,
                "SELECT count(*) FILTER (WHERE status = 'waiting'),"
                " count(*) FILTER (WHERE status = 'failed') FROM documents",
            )
            if failed:
                raise RuntimeError(f"{failed} documents failed; see {work / 'agent.log'}")
            if waiting == len(docs):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"agent stopped or stalled; see {work / 'agent.log'}")
            time.sleep(0.1)
        cpu, switches = _cpu_seconds(proc.pid) - cpu0, _context_switches(proc.pid) - switches0
        (t_end,) = _store_query(
            db, "SELECT max(committed_at) FROM step_results WHERE step = 'summarize.request'"
        )
        (outbox,) = _store_query(db, "SELECT count(*) FROM outbox")
        if outbox != 2 * len(docs):
            raise RuntimeError(f"expected {2 * len(docs)} outbox rows, found {outbox}")
        return {
            "docs_per_s": len(docs) / (t_end - t0),
            "idle_rss_mb": idle_rss,
            "rss_after_mb": _status_kb(proc.pid, "VmRSS") / 1024,
            "peak_rss_mb": _status_kb(proc.pid, "VmHWM") / 1024,
            "cache_hits": _cache_hits(data),
            "cpu_share": cpu / (time.time() - t0),
            "cpu_ms_per_doc": cpu / len(docs) * 1e3,
            "switches_per_doc": switches / len(docs),
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- (b) the pipeline core ---------------------------------------------------------------------
async def _core_loop(files: Path, store_path: Path, store_thread: bool) -> dict[str, float]:
    from concurrent.futures import ThreadPoolExecutor

    import dwc_core
    from agent.inference.onnx import TextClassifier
    from agent.pipeline import IntakePipeline
    from agent.sources.inbox import original_name
    from agent.store import DocStatus, Store

    b = _bench_profile().budgets
    executor = ThreadPoolExecutor(max_workers=1) if store_thread else None

    async def db(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if executor is None:
            return fn(*args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, lambda: fn(*args, **kwargs))

    store = Store(store_path)
    cache = dwc_core.Cache(b.cache_mb << 20)
    pipeline = IntakePipeline(
        store,
        db,
        TextClassifier(MODEL_DIR, threads=b.onnx_threads),
        agent_id="bench",
        max_document_bytes=b.max_document_bytes,
        max_remote_text_bytes=_bench_profile().sync.max_remote_text_bytes,
        on_outbox=lambda: None,
        cache=cache,
    )
    paths = sorted(os.scandir(files), key=lambda e: e.name)
    switches0 = _context_switches(os.getpid())
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    for entry in paths:
        path = Path(entry.path)
        name = original_name(path)
        doc_id = await pipeline.register(path, name=name, source="bench", received_at=time.time())
        outcome = await pipeline.process(doc_id, path, name)
        if outcome.status != DocStatus.WAITING:
            raise RuntimeError(f"{name}: {outcome}")
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    switches = _context_switches(os.getpid()) - switches0
    (outbox,) = store.conn.execute("SELECT count(*) FROM outbox").fetchone()
    if outbox != 2 * len(paths):
        raise RuntimeError(f"expected {2 * len(paths)} outbox rows, found {outbox}")
    store.close()
    if executor is not None:
        executor.shutdown()
    return {
        "docs_per_s": len(paths) / elapsed,
        "cache_hits": cache.stats().hits,
        "cpu_ms_per_doc": cpu / len(paths) * 1e3,
        "switches_per_doc": switches / len(paths),
    }


def _stages(files: Path, store_path: Path) -> dict[str, float]:
    """Microseconds per document of each stage of the agent's work, each timed alone and
    called synchronously (no event loop, no threads): where the time goes."""
    import dwc_core
    from agent.extract import extract_text
    from agent.inference.onnx import TextClassifier
    from agent.protocol import Envelope, Kind, event_subject, job_subject, new_id
    from agent.sources.inbox import original_name
    from agent.store import Store

    clf = TextClassifier(MODEL_DIR, threads=1)
    store = Store(store_path)
    paths = sorted(files.iterdir())
    stages = (
        "read file",
        "content id (BLAKE3)",
        "extract text",
        "featurize (word 1-2 + char 3-5)",
        "classify (ONNX run)",
        "build + encode envelopes",
        "SQLite: 4 commits",
        "SQLite: 4 reads",
    )
    totals = dict.fromkeys(stages, 0.0)
    for path in paths:
        name = original_name(path)
        marks = [time.perf_counter()]
        data = path.read_bytes()
        marks.append(time.perf_counter())
        content_id = dwc_core.content_id(data)
        marks.append(time.perf_counter())
        text, media_type = extract_text(name, data)
        marks.append(time.perf_counter())
        x = clf.featurizer.transform_batch([text])
        marks.append(time.perf_counter())
        clf.session.run([clf.prob_output], {clf.input_name: x})
        marks.append(time.perf_counter())
        doc_id, run_id, job_id = new_id(), new_id(), new_id()
        event = Envelope(Kind.DOCUMENT_PROCESSED, "bench", {"document_id": doc_id})
        job = Envelope(Kind.JOB_REQUEST, "bench", {"job_id": job_id, "text": text})
        rows = [
            (event.id, event_subject("bench", event.kind), event.kind, event.encode()),
            (job.id, job_subject("bench"), job.kind, job.encode()),
        ]
        marks.append(time.perf_counter())
        store.add_document(
            doc_id=doc_id,
            run_id=run_id,
            content_id=content_id,
            name=name,
            source="bench",
            media_type=media_type,
            size=len(data),
            claim_path=str(path),
            workflow="intake",
            version="1",
            received_at=time.time(),
        )
        store.commit_step(run_id, "extract", {"media_type": media_type, "chars": len(text)})
        store.commit_step(
            run_id, "classify", {"label": "x"}, doc_update={"label": "x", "confidence": 0.5}
        )
        store.commit_step(
            run_id,
            "summarize.request",
            {"job_id": job_id},
            doc_update={"status": "waiting"},
            outbox=rows,
            job=(job_id, "ai.summarize"),
        )
        marks.append(time.perf_counter())
        # The reads IntakePipeline makes: register's claim lookup, process's run state.
        store.find_by_claim(str(path))
        store.document(doc_id)
        store.run_for_document(doc_id)
        store.step_results(run_id)
        marks.append(time.perf_counter())
        for stage, t0, t1 in zip(stages, marks[:-1], marks[1:], strict=True):
            totals[stage] += t1 - t0
    store.close()
    return {k: v / len(paths) * 1e6 for k, v in totals.items()}


def _core(files: Path, work: Path) -> None:
    """Child: the pipeline core twice (store inline, store on its own thread), then the
    stage breakdown; one JSON line on stdout."""
    _pin()
    from agent import logs

    logs.setup("info", "kv")  # as the daemon logs; stderr goes to a file
    out = {
        "inline": asyncio.run(_core_loop(files, work / "inline.db", store_thread=False)),
        "thread": asyncio.run(_core_loop(files, work / "thread.db", store_thread=True)),
        "stages_us": _stages(files, work / "stages.db"),
        "rss_after_mb": _status_kb(os.getpid(), "VmRSS") / 1024,
    }
    print(json.dumps(out), flush=True)


def measure_core(docs: list[tuple[str, bytes]], work: Path) -> dict[str, Any]:
    files = work / "claimed"
    # Claimed names, as the inbox gives them: <id>__<original name>.
    write_documents([(f"{i:08d}__{name}", data) for i, (name, data) in enumerate(docs)], files)
    proc = _spawn("core", str(files), str(work), log=work / "core.log")
    out, _ = proc.communicate(timeout=1200)
    if proc.returncode != 0:
        raise RuntimeError(f"pipeline core failed; see {work / 'core.log'}")
    result: dict[str, Any] = json.loads(out)
    return result


# --- (c) the peer ------------------------------------------------------------------------------
class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self._skip += tag in ("script", "style", "head")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("script", "style", "head") and self._skip > 0

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _json_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [s for v in value for s in _json_strings(v)]
    return []


def peer_text(name: str, data: bytes) -> str:
    raw = data.decode("utf-8-sig")
    if name.endswith(".html"):
        parser = _HtmlText()
        parser.feed(raw)
        raw = " ".join(parser.parts)
    elif name.endswith(".json"):
        raw = "\n".join(_json_strings(json.loads(raw)))
    return " ".join(raw.split())


class PeerModel:
    """HashingVectorizer features (the agent's n-grams and buckets) + LogisticRegression."""

    def __init__(self) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer
        from sklearn.linear_model import LogisticRegression

        common: dict[str, Any] = {"n_features": 2**14, "alternate_sign": False, "norm": None}
        self.word = HashingVectorizer(ngram_range=(1, 2), **common)
        self.char = HashingVectorizer(analyzer="char_wb", ngram_range=(3, 5), **common)
        # The agent's training settings (models/doctype/train.py).
        self.clf = LogisticRegression(C=30.0, solver="newton-cg", max_iter=1000)
        self.labels: list[str] = []

    def features(self, texts: list[str]) -> Any:
        import numpy as np
        from sklearn.preprocessing import normalize

        x = self.word.transform(texts) + self.char.transform(texts)
        x.data = 1.0 + np.log(x.data)  # sublinear tf, as the agent's featurizer
        return normalize(x, copy=False)

    def fit(self) -> PeerModel:
        rows = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
        self.labels = sorted({r["label"] for r in rows})
        y = [self.labels.index(r["label"]) for r in rows]
        self.clf.fit(self.features([r["text"] for r in rows]), y)
        return self

    def predict(self, x: Any) -> tuple[str, float]:
        """The label and probability of one featurized document."""
        probs = self.clf.predict_proba(x)[0]
        best = int(probs.argmax())
        return self.labels[best], float(probs[best])


PEER_SCHEMA = """
CREATE TABLE documents (id TEXT PRIMARY KEY, content_id TEXT, name TEXT, size INTEGER,
    status TEXT, label TEXT, confidence REAL, received_at REAL);
CREATE TABLE step_results (document_id TEXT, step TEXT, output TEXT, committed_at REAL,
    PRIMARY KEY (document_id, step));
CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, subject TEXT,
    payload BLOB, created_at REAL);
"""


def _peer(files: Path, model: Path, db_path: Path) -> None:
    """Child: load the pickled peer model, say ``ready``, wait for a line on stdin, then
    process every file; one JSON line on stdout."""
    _pin()
    import sklearn.linear_model  # noqa: F401  (imported before the model, as an app would)

    peer: PeerModel = pickle.loads(model.read_bytes())
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(PEER_SCHEMA)
    print("ready", flush=True)
    sys.stdin.readline()
    paths = sorted(files.iterdir())
    labels = {}
    stages = ("read + extract", "sha256", "featurize (HashingVectorizer)", "classify", "SQLite")
    totals = dict.fromkeys(stages, 0.0)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    for path in paths:
        received = time.time()
        marks = [time.perf_counter()]
        data = path.read_bytes()
        text = peer_text(path.name, data)
        marks.append(time.perf_counter())
        content_id = hashlib.sha256(data).hexdigest()
        marks.append(time.perf_counter())
        x = peer.features([text])
        marks.append(time.perf_counter())
        label, confidence = peer.predict(x)
        marks.append(time.perf_counter())
        labels[path.name] = label
        doc_id, now = uuid.uuid4().hex, time.time()
        event = {"kind": "document.processed", "document_id": doc_id, "label": label}
        job = {"kind": "job.request", "type": "ai.summarize", "text": text}
        conn.execute("BEGIN")
        conn.execute(
            "INSERT INTO documents VALUES (?, ?, ?, ?, 'waiting', ?, ?, ?)",
            (doc_id, content_id, path.name, len(data), label, confidence, received),
        )
        conn.executemany(
            "INSERT INTO step_results VALUES (?, ?, ?, ?)",
            [
                (doc_id, "extract", json.dumps({"chars": len(text)}), now),
                (doc_id, "classify", json.dumps({"label": label, "confidence": confidence}), now),
                (doc_id, "summarize.request", json.dumps({"job_id": uuid.uuid4().hex}), now),
            ],
        )
        conn.executemany(
            "INSERT INTO outbox (id, subject, payload, created_at) VALUES (?, ?, ?, ?)",
            [
                (uuid.uuid4().hex, "events", json.dumps(event).encode(), now),
                (uuid.uuid4().hex, "jobs", json.dumps(job).encode(), now),
            ],
        )
        conn.execute("COMMIT")
        marks.append(time.perf_counter())
        for stage, m0, m1 in zip(stages, marks[:-1], marks[1:], strict=True):
            totals[stage] += m1 - m0
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    conn.close()
    out = {
        "docs_per_s": len(paths) / elapsed,
        "cpu_ms_per_doc": cpu / len(paths) * 1e3,
        "rss_after_mb": _status_kb(os.getpid(), "VmRSS") / 1024,
        "peak_rss_mb": _status_kb(os.getpid(), "VmHWM") / 1024,
        "labels": labels,
        "stages_us": {k: v / len(paths) * 1e6 for k, v in totals.items()},
    }
    print(json.dumps(out), flush=True)


def measure_peer(docs: list[tuple[str, bytes]], work: Path, model: Path) -> dict[str, Any]:
    files = work / "peer-files"
    write_documents(docs, files)
    proc = _spawn("peer", str(files), str(model), str(work / "peer.db"), log=work / "peer.log")
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise RuntimeError(f"peer did not start; see {work / 'peer.log'}")
    idle_rss = _settled_rss_mb(proc.pid)
    out, _ = proc.communicate("go\n", timeout=1200)
    if proc.returncode != 0:
        raise RuntimeError(f"peer failed; see {work / 'peer.log'}")
    result: dict[str, Any] = json.loads(out)
    result["idle_rss_mb"] = idle_rss
    return result


# --- the benchmark -----------------------------------------------------------------------------
def _agreement(core_db: Path, peer_labels: dict[str, str]) -> float:
    """Share of documents the agent's model and the peer's model label the same."""
    conn = sqlite3.connect(core_db)
    try:
        ours = {
            name.partition("__")[2] or name: label
            for name, label in conn.execute("SELECT name, label FROM documents")
        }
    finally:
        conn.close()
    same = sum(ours.get(n) == label for n, label in peer_labels.items())
    return same / len(peer_labels)


def run(quick: bool) -> list[Row]:
    n_agent = 400 if quick else 4000
    n_peer = 100 if quick else 1000
    rounds = 1 if quick else 3
    docs = documents(n_agent)
    sizes = [len(d) for _, d in docs]
    print(
        f"{len(docs)} documents, {statistics.mean(sizes):,.0f} bytes on average"
        f" ({min(sizes):,}-{max(sizes):,}); peer: the first {n_peer}; {rounds} round(s);"
        f" load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    daemon: list[dict[str, float]] = []
    core: list[dict[str, Any]] = []
    peer: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="dwc-bench-") as tmp:
        work = Path(tmp)
        model = work / "peer-model.pkl"
        model.write_bytes(pickle.dumps(PeerModel().fit()))
        for r in range(rounds):
            rw = work / f"round-{r}"
            daemon.append(measure_daemon(docs, rw / "daemon"))
            core.append(measure_core(docs, rw / "core"))
            peer.append(measure_peer(docs[:n_peer], rw / "peer", model))
            print(
                f"round {r + 1}: daemon {daemon[-1]['docs_per_s']:,.0f} docs/s,"
                f" core {core[-1]['inline']['docs_per_s']:,.0f} docs/s,"
                f" peer {peer[-1]['docs_per_s']:,.0f} docs/s; CPU per document: daemon"
                f" {daemon[-1]['cpu_ms_per_doc']:.2f} ms, core {core[-1]['inline']['cpu_ms_per_doc']:.2f} ms,"
                f" peer {peer[-1]['cpu_ms_per_doc']:.2f} ms;"
                f" load average {os.getloadavg()[0]:.2f}",
                flush=True,
            )
        agree = _agreement(work / "round-0" / "core" / "inline.db", peer[0]["labels"])

    def med(runs: list[dict[str, Any]], *keys: str) -> float:
        vals = []
        for run_ in runs:
            v: Any = run_
            for k in keys:
                v = v[k]
            vals.append(float(v))
        return statistics.median(vals)

    hits = [d["cache_hits"] for d in daemon] + [
        c[m]["cache_hits"] for c in core for m in ("inline", "thread")
    ]
    print(
        f"daemon: core 0 busy {med(daemon, 'cpu_share'):.0%} of the run (this process),"
        f" {med(daemon, 'switches_per_doc'):.0f} voluntary context switches per document;"
        f" pipeline core: {med(core, 'inline', 'switches_per_doc'):.0f} (store inline),"
        f" {med(core, 'thread', 'switches_per_doc'):.0f} (store thread)"
    )
    print(f"model-output cache hits (agent): {sum(hits):.0f} (every document's content differs)")
    print(f"agent and peer models give the same label on {agree:.1%} of the peer's documents")
    stages = {k: med(core, "stages_us", k) for k in core[0]["stages_us"]}
    print("agent work per document, each stage alone (median of rounds):")
    for k, v in stages.items():
        print(f"  {k:36s} {v:8.0f} us")
    print(
        f"  {'sum':36s} {sum(stages.values()):8.0f} us (= {1e6 / sum(stages.values()):,.0f} docs/s)"
    )
    print("peer work per document, in its loop (median of rounds):")
    for k in peer[0]["stages_us"]:
        print(f"  {k:36s} {med(peer, 'stages_us', k):8.0f} us")

    peer_rate = med(peer, "docs_per_s")
    units = "docs/s (target: absolute >= 1,000)"
    rss_unit = "MB (target: absolute <= 100)"
    return [
        Row(
            "daemon: inbox -> waiting, 1 core",
            "throughput",
            med(daemon, "docs_per_s"),
            PEER,
            peer_rate,
            TARGET_DOCS_PER_S,
            units,
        ),
        Row(
            "pipeline core, store inline, 1 core",
            "throughput",
            med(core, "inline", "docs_per_s"),
            PEER,
            peer_rate,
            TARGET_DOCS_PER_S,
            units,
        ),
        Row(
            "pipeline core, store thread, 1 core",
            "throughput",
            med(core, "thread", "docs_per_s"),
            PEER,
            peer_rate,
            None,
            "docs/s",
        ),
        Row(
            "daemon: CPU time per document",
            "cpu time",
            med(daemon, "cpu_ms_per_doc"),
            PEER,
            med(peer, "cpu_ms_per_doc"),
            None,
            "ms (lower is better; 1 ms = 1,000 docs/s)",
        ),
        Row(
            "pipeline core, store inline: CPU time per document",
            "cpu time",
            med(core, "inline", "cpu_ms_per_doc"),
            PEER,
            med(peer, "cpu_ms_per_doc"),
            None,
            "ms (lower is better; 1 ms = 1,000 docs/s)",
        ),
        Row(
            "RSS idle, model loaded",
            "memory",
            med(daemon, "idle_rss_mb"),
            PEER,
            med(peer, "idle_rss_mb"),
            TARGET_RSS_MB,
            rss_unit,
        ),
        Row(
            f"RSS after the run (daemon {n_agent} docs, peer {n_peer})",
            "memory",
            med(daemon, "rss_after_mb"),
            PEER,
            med(peer, "rss_after_mb"),
            None,
            "MB",
        ),
        Row(
            "peak RSS (VmHWM)",
            "memory",
            med(daemon, "peak_rss_mb"),
            PEER,
            med(peer, "peak_rss_mb"),
            None,
            "MB",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    """The child processes' entry point: ``serve``, ``core`` or ``peer``."""
    parser = argparse.ArgumentParser(prog="python -m bench.agent_pipeline")
    sub = parser.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("serve")
    s.add_argument("data_dir", type=Path)
    s.add_argument("nats_url")
    c = sub.add_parser("core")
    c.add_argument("files", type=Path)
    c.add_argument("work", type=Path)
    p = sub.add_parser("peer")
    p.add_argument("files", type=Path)
    p.add_argument("model", type=Path)
    p.add_argument("db", type=Path)
    args = parser.parse_args(argv)
    if args.mode == "serve":
        with contextlib.suppress(KeyboardInterrupt):
            _serve(args.data_dir, args.nats_url)
    elif args.mode == "core":
        _core(args.files, args.work)
    else:
        _peer(args.files, args.model, args.db)
    return 0


if __name__ == "__main__":
    sys.exit(main())
