"""Train the document-type classifier and export it to ONNX.

Run from the repository root: ``python -m models.doctype.train`` (``make models`` does).
Writes ``model.onnx`` and ``manifest.json`` next to this file. Both are build outputs:
the same corpus, featurizer config and library versions give byte-identical files (no
timestamps, fixed seed, deterministic solver).

The corpus (``data/corpus.jsonl``) is hand-written short texts. The demo documents in
``deploy/demo/documents`` are written apart from it and serve as the held-out set; if
accuracy on them is below ``MIN_HOLDOUT_ACCURACY`` nothing is written and the script
exits with status 2, so a corpus change that breaks the model never ships.

scikit-learn, skl2onnx and onnx (the ``train`` extra) are imported inside the functions
that need them, so ``read_document`` can be imported without them.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np

import dwc_core

MODEL_DIR = Path(__file__).resolve().parent
REPO_ROOT = MODEL_DIR.parents[1]
CORPUS = MODEL_DIR / "data" / "corpus.jsonl"
HOLDOUT_DIR = REPO_ROOT / "deploy" / "demo" / "documents"

# Index order of the classes: the ONNX model's `label` output is an index into this.
LABELS = (
    "invoice",
    "purchase_order",
    "contract",
    "maintenance_report",
    "incident_report",
    "memo",
)
# Word uni- and bigrams carry the vocabulary; character 3-5-grams add robustness to
# OCR errors, inflections and part numbers. skl2onnx stores the weights as an unpacked
# float attribute (5 bytes each), so 2**14 columns x 6 classes make a ~480 KiB file;
# 2**15 scored the same in cross-validation at twice the size.
FEATURIZER_OPTIONS: dict[str, Any] = {
    "n_features": 2**14,
    "word_ngrams": (1, 2),
    "char_ngrams": (3, 5),
    "normalization": "nfkc",
    "lowercase": True,
    "sublinear_tf": True,
    "alternate_sign": False,
    "l2_norm": True,
}
SEED = 1729
# Weak regularisation: the rows are l2-normalised and sparse, and with the default C=1
# the probabilities stay flat (top class often under 0.5) on long documents.
C = 30.0
CV_FOLDS = 5
# Kept at 17 so gateways with an older onnxruntime can load the model.
TARGET_OPSET = 17
MIN_HOLDOUT_ACCURACY = 0.8


class _HtmlText(HTMLParser):
    """Text of an HTML page: tags dropped, <head>, <script> and <style> skipped."""

    _SKIP = frozenset({"head", "script", "style", "template", "noscript"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self._skipping = 0
        elif tag in self._SKIP:
            self._skipping += 1
        self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1
        self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _json_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [s for v in value for s in _json_strings(v)]
    return []


def read_document(path: Path) -> str:
    """The text of a demo document: tags stripped from HTML, string values of JSON
    joined, anything else read as is.

    A small stand-in for ``agent.extract`` so training does not import the agent; it
    differs only in whitespace and Markdown markup, which the featurizer ignores.
    """
    raw = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        parser = _HtmlText()
        parser.feed(raw)
        parser.close()
        raw = "".join(parser.parts)
    elif suffix == ".json":
        raw = "\n".join(_json_strings(json.loads(raw)))
    return " ".join(raw.split())


def load_corpus(path: Path = CORPUS) -> tuple[list[str], list[str]]:
    texts: list[str] = []
    labels: list[str] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if row["label"] not in LABELS:
            raise ValueError(f"{path.name}:{lineno}: unknown label {row['label']!r}")
        texts.append(row["text"])
        labels.append(row["label"])
    return texts, labels


def load_holdout(directory: Path = HOLDOUT_DIR) -> tuple[list[str], list[str], list[str]]:
    """``(file names, texts, labels)`` of the documents listed in ``labels.json``."""
    expected: dict[str, str] = json.loads((directory / "labels.json").read_text())
    names = sorted(expected)
    unknown = {expected[n] for n in names} - set(LABELS)
    if unknown:
        raise ValueError(f"labels.json: unknown labels {sorted(unknown)}")
    return names, [read_document(directory / n) for n in names], [expected[n] for n in names]


def _classifier() -> Any:
    from sklearn.linear_model import LogisticRegression

    # newton-cg on a sparse matrix converges in a few iterations (well under a second);
    # lbfgs needs ~30 slow steps over the 6 x n_features weights. Both are deterministic.
    return LogisticRegression(C=C, solver="newton-cg", max_iter=1000, random_state=SEED)


def cross_validate(x: Any, y: np.ndarray) -> float:
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=SEED)
    return float(cross_val_score(_classifier(), x, y, cv=folds).mean())


def export_onnx(clf: Any, n_features: int) -> tuple[bytes, int]:
    """The fitted classifier as ONNX bytes, and the opset of the default domain."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    model = convert_sklearn(
        clf,
        name="doctype",
        initial_types=[("features", FloatTensorType([None, n_features]))],
        options={id(clf): {"zipmap": False}},
        target_opset=TARGET_OPSET,
    )
    outputs = [o.name for o in model.graph.output]
    if outputs != ["label", "probabilities"]:
        raise RuntimeError(f"unexpected ONNX outputs {outputs}")
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    return model.SerializeToString(), int(opset)


def check_onnx(onnx_bytes: bytes, clf: Any, x: np.ndarray) -> None:
    """Fail unless ONNX Runtime gives sklearn's labels and probabilities on ``x``."""
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    label, probabilities = session.run(["label", "probabilities"], {"features": x})
    mismatched = int((label != clf.predict(x)).sum())
    if mismatched:
        raise RuntimeError(f"ONNX and sklearn disagree on {mismatched} of {len(x)} labels")
    if not np.allclose(probabilities, clf.predict_proba(x), atol=1e-5):
        raise RuntimeError("ONNX and sklearn probabilities differ by more than 1e-5")


def main() -> int:
    from scipy.sparse import csr_matrix

    featurizer = dwc_core.Featurizer(**FEATURIZER_OPTIONS)
    texts, labels = load_corpus()
    x = featurizer.transform_batch(texts)
    y = np.array([LABELS.index(label) for label in labels], dtype=np.int64)
    # ~350 non-zero columns per row: sparse makes fitting an order of magnitude faster.
    x_sparse = csr_matrix(x)

    cv_accuracy = cross_validate(x_sparse, y)
    clf = _classifier().fit(x_sparse, y)

    names, holdout_texts, holdout_labels = load_holdout()
    predicted = clf.predict(featurizer.transform_batch(holdout_texts))
    misses = [
        f"{name} -> {LABELS[p]}"
        for name, p, want in zip(names, predicted, holdout_labels, strict=True)
        if LABELS[p] != want
    ]
    holdout_accuracy = 1 - len(misses) / len(names)
    if holdout_accuracy < MIN_HOLDOUT_ACCURACY:
        print(
            f"error: holdout accuracy {holdout_accuracy:.3f} < {MIN_HOLDOUT_ACCURACY} on "
            f"{HOLDOUT_DIR.relative_to(REPO_ROOT)}; misclassified: {', '.join(misses)}",
            file=sys.stderr,
        )
        return 2

    onnx_bytes, opset = export_onnx(clf, featurizer.n_features)
    check_onnx(onnx_bytes, clf, x)

    counts = Counter(labels)
    manifest = {
        "name": "doctype",
        "version": "1.0.0",
        "task": "text-classification",
        "labels": list(LABELS),
        "featurizer": json.loads(featurizer.config_json()),
        "onnx": {
            "file": "model.onnx",
            "sha256": hashlib.sha256(onnx_bytes).hexdigest(),
            "input": "features",
            "label_output": "label",
            "probabilities_output": "probabilities",
            "opset": opset,
        },
        "training": {
            "samples": len(texts),
            "per_label": {label: counts[label] for label in LABELS},
            "seed": SEED,
            "cv_folds": CV_FOLDS,
            "cv_accuracy": round(cv_accuracy, 4),
            "holdout_accuracy": round(holdout_accuracy, 4),
            "holdout_set": HOLDOUT_DIR.relative_to(REPO_ROOT).as_posix(),
        },
        "dwc_core_version": dwc_core.__version__,
    }
    (MODEL_DIR / "model.onnx").write_bytes(onnx_bytes)
    (MODEL_DIR / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")

    print(
        f"doctype: {len(texts)} samples, {CV_FOLDS}-fold CV accuracy {cv_accuracy:.3f}, "
        f"holdout accuracy {holdout_accuracy:.3f} ({len(names) - len(misses)}/{len(names)}), "
        f"model.onnx {len(onnx_bytes) / 1024:.0f} KiB"
    )
    for miss in misses:
        print(f"  holdout miss: {miss}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
