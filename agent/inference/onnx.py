"""The document classifier: a ``dwc_core.Featurizer`` plus an ONNX model.

A model directory holds ``model.onnx`` and ``manifest.json`` (written by the training
script in ``models/<name>/train.py``). The manifest carries the featurizer's exact
config, so inference featurizes the way training did; the model file's sha256 is
checked before it is loaded.

``predict`` is CPU work: call it off the event loop (``asyncio.to_thread``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

import dwc_core
from agent.errors import ModelError


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class TextClassifier:
    def __init__(self, model_dir: Path, *, threads: int = 1) -> None:
        manifest_path = model_dir / "manifest.json"
        try:
            manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        except FileNotFoundError:
            raise ModelError(
                f"model {model_dir}: no manifest.json (build it with `make models`)"
            ) from None
        except (OSError, ValueError) as e:
            raise ModelError(f"model {model_dir}: unreadable manifest.json: {e}") from None
        try:
            onnx_spec = manifest["onnx"]
            model_path = model_dir / onnx_spec["file"]
            self.labels: list[str] = list(manifest["labels"])
            self.name: str = manifest["name"]
            self.version: str = manifest["version"]
            self.input_name: str = onnx_spec["input"]
            self.prob_output: str = onnx_spec["probabilities_output"]
            expected_sha = onnx_spec["sha256"]
            featurizer_config = json.dumps(manifest["featurizer"])
        except (KeyError, TypeError) as e:
            raise ModelError(f"model {model_dir}: manifest.json lacks {e}") from None
        if not model_path.is_file():
            raise ModelError(
                f"model {model_dir}: {model_path.name} is missing (build it with `make models`)"
            )
        actual_sha = _sha256(model_path)
        if actual_sha != expected_sha:
            raise ModelError(
                f"model {model_path}: sha256 {actual_sha[:12]}... does not match the manifest's {expected_sha[:12]}..."
            )
        try:
            self.featurizer = dwc_core.Featurizer.from_json(featurizer_config)
        except ValueError as e:
            raise ModelError(f"model {model_dir}: {e}") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                str(model_path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime raises its own non-exported types
            raise ModelError(f"model {model_path}: onnxruntime cannot load it: {e}") from None
        shape = self.session.get_inputs()[0].shape
        if shape[-1] != self.featurizer.n_features:
            raise ModelError(
                f"model {model_path}: input width {shape[-1]} != featurizer n_features {self.featurizer.n_features}"
            )

    def predict(self, texts: list[str]) -> list[Prediction]:
        if not texts:
            return []
        features = self.featurizer.transform_batch(texts)
        (probs,) = self.session.run([self.prob_output], {self.input_name: features})
        probs = np.asarray(probs)
        best = probs.argmax(axis=1)
        return [Prediction(self.labels[i], float(probs[row, i])) for row, i in enumerate(best)]
