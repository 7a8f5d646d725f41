"""The built doctype model: manifest integrity, ONNX loading, and accuracy on the demo
documents (the held-out set, written apart from the training corpus).

``make test`` builds the model first (``make models``); run alone, these tests fail with
that hint when the build outputs are missing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

import dwc_core
from models.doctype.train import HOLDOUT_DIR, LABELS, MODEL_DIR, read_document

MIN_DEMO_ACCURACY = 0.8


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    path = MODEL_DIR / "manifest.json"
    if not path.is_file() or not (MODEL_DIR / "model.onnx").is_file():
        pytest.fail(f"{MODEL_DIR} has no built model: run `make models` first", pytrace=False)
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def session(manifest: dict[str, Any]) -> ort.InferenceSession:
    model = MODEL_DIR / manifest["onnx"]["file"]
    return ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def featurizer(manifest: dict[str, Any]) -> dwc_core.Featurizer:
    return dwc_core.Featurizer.from_json(json.dumps(manifest["featurizer"]))


@pytest.fixture(scope="module")
def demo_documents() -> list[tuple[str, str, str]]:
    """``(file name, text, expected label)`` for every document in labels.json."""
    expected: dict[str, str] = json.loads((HOLDOUT_DIR / "labels.json").read_text())
    return [(name, read_document(HOLDOUT_DIR / name), expected[name]) for name in sorted(expected)]


def _run(
    session: ort.InferenceSession, manifest: dict[str, Any], features: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    spec = manifest["onnx"]
    label, probabilities = session.run(
        [spec["label_output"], spec["probabilities_output"]], {spec["input"]: features}
    )
    return np.asarray(label), np.asarray(probabilities)


def test_manifest_sha256_matches_model(manifest: dict[str, Any]) -> None:
    data = (MODEL_DIR / manifest["onnx"]["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == manifest["onnx"]["sha256"]


def test_manifest_labels_match_training_order(manifest: dict[str, Any]) -> None:
    assert manifest["labels"] == list(LABELS)
    assert manifest["training"]["per_label"].keys() == set(LABELS)


def test_featurizer_config_round_trips(
    manifest: dict[str, Any], featurizer: dwc_core.Featurizer
) -> None:
    assert json.loads(featurizer.config_json()) == manifest["featurizer"]


def test_onnxruntime_loads_model(
    manifest: dict[str, Any], session: ort.InferenceSession, featurizer: dwc_core.Featurizer
) -> None:
    (features,) = session.get_inputs()
    assert features.name == manifest["onnx"]["input"]
    assert features.type == "tensor(float)"
    assert features.shape[-1] == featurizer.n_features
    outputs = [o.name for o in session.get_outputs()]
    assert outputs == [manifest["onnx"]["label_output"], manifest["onnx"]["probabilities_output"]]


def test_demo_documents_are_classified(
    manifest: dict[str, Any],
    session: ort.InferenceSession,
    featurizer: dwc_core.Featurizer,
    demo_documents: list[tuple[str, str, str]],
) -> None:
    label, probabilities = _run(
        session, manifest, featurizer.transform_batch([text for _, text, _ in demo_documents])
    )
    assert (label == probabilities.argmax(axis=1)).all()
    predicted = [manifest["labels"][i] for i in label]
    misses = [
        f"{name}: {got} (expected {want})"
        for (name, _, want), got in zip(demo_documents, predicted, strict=True)
        if got != want
    ]
    accuracy = 1 - len(misses) / len(demo_documents)
    assert accuracy >= MIN_DEMO_ACCURACY, "\n".join(misses)


def test_probabilities_sum_to_one(
    manifest: dict[str, Any],
    session: ort.InferenceSession,
    featurizer: dwc_core.Featurizer,
    demo_documents: list[tuple[str, str, str]],
) -> None:
    texts = [text for _, text, _ in demo_documents] + ["", "x", "Rechnung Nr. 4471 — Betrag €"]
    _, probabilities = _run(session, manifest, featurizer.transform_batch(texts))
    assert probabilities.shape == (len(texts), len(manifest["labels"]))
    assert probabilities.dtype == np.float32
    assert (probabilities >= 0).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_demo_set_covers_every_label(demo_documents: list[tuple[str, str, str]]) -> None:
    per_label = {label: 0 for label in LABELS}
    for _, _, label in demo_documents:
        per_label[label] += 1
    assert min(per_label.values()) >= 3, per_label
    assert {Path(name).suffix for name, _, _ in demo_documents} >= {".txt", ".md", ".html", ".json"}
