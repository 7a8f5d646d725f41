"""Fixtures of the workflow tests: hand-built PDFs, the real classifier, documents."""

from __future__ import annotations

import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field

from agent.errors import StepError
from agent.inference.onnx import TextClassifier
from agent.workflow import DEFAULT_REGISTRY, Document, Registry, default_registry
from agent.workflow.steps import Classifier, Params, Resources, StepContext, StepType


def _pdf_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(
    pages: list[str], *, compress: bool = False, raw_streams: list[bytes] | None = None
) -> bytes:
    """A minimal PDF with one Helvetica text line per page. ``raw_streams`` replaces
    the page contents with given (uncompressed) bytes, compressed with FlateDecode."""
    contents = raw_streams or [
        f"BT /F1 12 Tf 72 720 Td ({_pdf_string(t)}) Tj ET".encode() for t in pages
    ]
    compress = compress or raw_streams is not None
    n = len(contents)
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(n))
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, content in enumerate(contents):
        objs.append(
            (
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792]"
                f" /Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>"
            ).encode()
        )
        stream = zlib.compress(content) if compress else content
        filt = b" /Filter /FlateDecode" if compress else b""
        objs.append(b"<< /Length %d%s >>\nstream\n" % (len(stream), filt) + stream + b"\nendstream")
    out = b"%PDF-1.4\n"
    offsets = []
    for i, obj in enumerate(objs, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


@pytest.fixture(scope="session")
def classifier(model_dir: Path) -> TextClassifier:
    return TextClassifier(model_dir)


@pytest.fixture
def pdf() -> Callable[..., bytes]:
    return make_pdf


def _context(
    document: Document | None = None,
    *,
    text: str | None = None,
    scope: dict[str, Any] | None = None,
    classifiers: Sequence[Classifier] = (),
    max_remote_text_bytes: int | None = None,
) -> StepContext:
    doc = document or Document("a.txt", (text or "").encode())
    return StepContext(
        "s",
        doc,
        {"document": doc.fields(), **(scope or {})},
        text,
        Resources(tuple(classifiers), max_remote_text_bytes),
    )


@pytest.fixture
def context() -> Callable[..., StepContext]:
    """Build the StepContext a step runs with: ``context(document, text=, scope=, ...)``."""
    return _context


def run_step(type_name: str, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    step_type = DEFAULT_REGISTRY.get(type_name)
    assert step_type is not None
    assert step_type.run is not None
    return step_type.run(ctx, step_type.params.model_validate(params))


@pytest.fixture
def step() -> Callable[[str, dict[str, Any], StepContext], dict[str, Any]]:
    """Run a built-in step type: ``step("hash", {"of": "text"}, ctx)``."""
    return run_step


class ProbeParams(Params):
    fail: int = 0  # fail this many times first (a transient RuntimeError)
    permanent: bool = False  # fail with a StepError (not retried)
    block: bool = False  # wait until the test releases it (for timeouts)
    out: dict[str, Any] = Field(default_factory=dict)


class Probe:
    """A step type for engine tests: counts its runs per step id and reports what it
    was given (scope keys, upstream text)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.order: list[str] = []
        self.release = threading.Event()
        self._lock = threading.Lock()

    def run(self, ctx: StepContext, p: ProbeParams) -> dict[str, Any]:
        with self._lock:
            self.calls[ctx.step_id] += 1
            self.order.append(ctx.step_id)
            n = self.calls[ctx.step_id]
        if p.block:
            self.release.wait(10)
        if p.permanent:
            raise StepError("bad input")
        if n <= p.fail:
            raise RuntimeError(f"flaky run {n}")
        return {"n": n, "seen": sorted(ctx.scope), "upstream": ctx.upstream_text, **p.out}


@pytest.fixture
def probe() -> Iterator[Probe]:
    p = Probe()
    yield p
    p.release.set()


@pytest.fixture
def registry(probe: Probe) -> Registry:
    """The built-in step types plus ``probe``."""
    reg = default_registry()
    reg.register(StepType("probe", ProbeParams, probe.run))
    return reg
