"""dwc_core.Featurizer: single == batch, determinism, Unicode, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dwc_core import Featurizer

GOLDEN_TEXT = "Invoice 42: total due EUR 100, Grüße aus Köln"
# Non-zero buckets of GOLDEN_TEXT under Featurizer(n_features=1024, char_ngrams=(2, 3)).
# Bucket choice is integer hashing only, so it must not change across runs, platforms
# or releases without a deliberate config change (models were trained on these buckets).
GOLDEN_BUCKETS = [
    3, 9, 29, 30, 48, 61, 76, 82, 121, 126, 135, 143, 153, 205, 222, 235, 238, 245, 254,
    279, 289, 300, 324, 345, 354, 366, 367, 372, 374, 439, 453, 460, 469, 471, 476, 482,
    490, 498, 504, 506, 510, 526, 547, 569, 578, 582, 603, 636, 649, 661, 672, 678, 693,
    694, 702, 710, 713, 736, 750, 773, 791, 795, 797, 812, 813, 825, 838, 842, 847, 853,
    859, 878, 905, 910, 919, 933, 939, 947, 950, 951, 955, 957, 958, 968, 983, 985, 993,
]  # fmt: skip

texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=200)


def small(**kw: object) -> Featurizer:
    return Featurizer(n_features=256, **kw)  # type: ignore[arg-type]


@settings(max_examples=50, deadline=None)
@given(st.lists(texts, max_size=12))
def test_batch_rows_equal_single_transforms(batch: list[str]) -> None:
    f = small(char_ngrams=(2, 4), alternate_sign=True)
    matrix = f.transform_batch(batch)
    assert matrix.shape == (len(batch), 256)
    assert matrix.dtype == np.float32
    for row, text in zip(matrix, batch, strict=True):
        np.testing.assert_array_equal(row, f.transform(text))


def test_large_batch_goes_parallel_and_still_matches() -> None:
    f = small(char_ngrams=(3, 3))
    batch = [f"document {i} " * (i % 50) for i in range(400)]
    matrix = f.transform_batch(batch)
    for i in (0, 1, 199, 399):
        np.testing.assert_array_equal(matrix[i], f.transform(batch[i]))


def test_golden_buckets() -> None:
    v = Featurizer(n_features=1024, char_ngrams=(2, 3)).transform(GOLDEN_TEXT)
    assert np.flatnonzero(v).tolist() == GOLDEN_BUCKETS
    assert float(np.linalg.norm(v)) == pytest.approx(1.0, rel=1e-6)


def test_deterministic_across_processes_and_hash_seeds() -> None:
    code = (
        "import json, sys; from dwc_core import Featurizer;"
        "f = Featurizer(n_features=1024, char_ngrams=(2, 3));"
        "print(json.dumps(f.transform(sys.argv[1]).tolist()))"
    )
    here = Featurizer(n_features=1024, char_ngrams=(2, 3)).transform(GOLDEN_TEXT).tolist()
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code, GOLDEN_TEXT],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        assert json.loads(out) == here


def test_same_config_same_vector_and_json_round_trip() -> None:
    f = small(word_ngrams=(1, 3), char_ngrams=(2, 5), normalization="nfc", sublinear_tf=False)
    g = Featurizer.from_json(f.config_json())
    assert g.config_json() == f.config_json()
    np.testing.assert_array_equal(f.transform(GOLDEN_TEXT), g.transform(GOLDEN_TEXT))


def test_unicode_normalisation_and_case() -> None:
    f = small()
    # NFKC folds the "fi" ligature and full-width digits; lower-casing folds case.
    np.testing.assert_array_equal(
        f.transform("\ufb01le \uff32\uff25\uff30\uff2f\uff32\uff34 \uff14\uff12"),
        f.transform("file report 42"),
    )
    # NFC and NFD spellings of the same word featurize alike.
    nfc, nfd = "K\u00f6ln", "Ko\u0308ln"
    np.testing.assert_array_equal(f.transform(nfc), f.transform(nfd))
    assert f.tokens("Grüße, WORLD! x_y 東京") == ["grüße", "world", "x", "y", "東京"]
    # Without normalisation the two spellings differ.
    raw = small(normalization="none")
    assert not np.array_equal(raw.transform(nfc), raw.transform(nfd))


def test_bytes_and_str_agree() -> None:
    f = small()
    np.testing.assert_array_equal(f.transform(GOLDEN_TEXT.encode()), f.transform(GOLDEN_TEXT))


@pytest.mark.parametrize("text", ["", "   ", ",;:!?", "\n\t"])
def test_empty_and_token_free_texts_are_zero_vectors(text: str) -> None:
    v = small().transform(text)
    assert v.shape == (256,)
    assert not v.any()
    assert small().transform_batch([text, "a"])[0].sum() == 0


def test_invalid_utf8_is_a_value_error() -> None:
    f = small()
    with pytest.raises(ValueError, match="not valid UTF-8"):
        f.transform(b"ok \xff\xfe")
    with pytest.raises(ValueError, match="not valid UTF-8"):
        f.transform_batch(["fine", b"\xc3\x28"])
    with pytest.raises(UnicodeEncodeError) as info:
        f.transform("lone surrogate \ud800")
    assert isinstance(info.value, ValueError)


def test_inputs_over_max_input_bytes_are_value_errors() -> None:
    f = small(max_input_bytes=1000)
    f.transform("x" * 1000)
    with pytest.raises(ValueError, match="over the featurizer's max_input_bytes=1000"):
        f.transform("x" * 1001)
    with pytest.raises(ValueError, match="max_input_bytes"):
        f.transform("é" * 501)  # 1002 UTF-8 bytes
    with pytest.raises(ValueError, match="max_input_bytes"):
        f.transform_batch(["ok", "y" * 5000])


def test_huge_input_under_the_default_limit() -> None:
    text = "lorem ipsum dolor " * 60_000  # ~1 MiB, detached path
    v = small().transform(text)
    assert float(np.linalg.norm(v)) == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize(
    "weights",
    [
        np.array([1.0, np.nan, 1.0, 1.0], dtype=np.float32),
        np.array([1.0, np.inf, 1.0, 1.0], dtype=np.float32),
        np.array([1.0, -0.5, 1.0, 1.0], dtype=np.float32),
        np.array([1.0, np.nan, 1.0, 1.0], dtype=np.float64),
        np.array([1.0, 1e300, 1.0, 1.0], dtype=np.float64),  # overflows float32
    ],
)
def test_bad_idf_weights_are_value_errors(weights: np.ndarray) -> None:
    with pytest.raises(ValueError, match="idf weight at index 1"):
        Featurizer(n_features=4, idf=weights)


def test_idf_length_and_type() -> None:
    with pytest.raises(ValueError, match="length 3, expected n_features=4"):
        Featurizer(n_features=4, idf=np.ones(3, dtype=np.float32))
    with pytest.raises(TypeError, match="1-D numpy array"):
        Featurizer(n_features=4, idf=[1.0, 1.0, 1.0, 1.0])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="1-D numpy array"):
        Featurizer(n_features=4, idf=np.ones((2, 2), dtype=np.float32))
    f64 = Featurizer(n_features=4, idf=np.full(4, 2.0))
    assert f64.has_idf


def test_idf_scales_features() -> None:
    plain = Featurizer(n_features=64, l2_norm=False)
    bucket = int(np.flatnonzero(plain.transform("word"))[0])
    idf = np.ones(64, dtype=np.float32)
    idf[bucket] = 3.0
    weighted = Featurizer(n_features=64, l2_norm=False, idf=idf)
    assert weighted.transform("word")[bucket] == pytest.approx(3 * plain.transform("word")[bucket])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_features": 0}, "n_features=0"),
        ({"n_features": -1}, "n_features=-1 must be a non-negative int"),
        ({"n_features": 2**70}, "n_features="),
        ({"n_features": 2**25}, "must be in 1..="),
        ({"word_ngrams": (3, 1)}, "word_ngrams"),
        ({"word_ngrams": (-1, 2)}, "word_ngrams"),
        ({"char_ngrams": (1, 17)}, "char_ngrams"),
        ({"word_ngrams": (0, 0)}, "nothing to featurize"),
        ({"max_input_bytes": 0}, "max_input_bytes"),
        ({"max_input_bytes": -5}, "max_input_bytes"),
        ({"normalization": "nfd"}, "normalization"),
    ],
)
def test_bad_config_is_a_value_error(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Featurizer(**kwargs)  # type: ignore[arg-type]


def test_wrong_types_are_type_errors() -> None:
    f = small()
    with pytest.raises(TypeError, match="expected str or bytes"):
        f.transform(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not one text"):
        f.transform_batch("one text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expected str or bytes"):
        f.transform_batch(["a", None])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="n_features must be an int"):
        Featurizer(n_features=1.5)  # type: ignore[arg-type]


def test_from_json_refuses_bad_documents() -> None:
    for bad in ("{", '{"bogus": 1}', '{"n_features": -3}', '{"n_features": 0}', "[]"):
        with pytest.raises(ValueError, match="invalid featurizer config"):
            Featurizer.from_json(bad)


def test_empty_batch() -> None:
    assert small().transform_batch([]).shape == (0, 256)
