"""Type stubs for the compiled extension ``dwc_core._native`` (written by hand).

``tests/core/test_stub.py`` checks that the names here match the built module.
"""

from collections.abc import Sequence
from typing import Literal, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "DwcCoreError",
    "Featurizer",
    "__version__",
    "blake3",
    "content_id",
    "keccak256",
]

__version__: str

class DwcCoreError(Exception):
    """Base class of operational errors raised by dwc_core."""

def content_id(data: bytes | str) -> str:
    """Content id of ``data``: ``"b3:"`` + 64 hex digits of its BLAKE3 digest.

    ``str`` is hashed as UTF-8. Inputs of 64 KiB or more are hashed with the GIL
    released (and, from 1 MiB, on several threads).

    Raises:
        TypeError: ``data`` is neither bytes nor str.
    """

def blake3(data: bytes | str) -> bytes:
    """The 32-byte BLAKE3 digest of ``data`` (``str`` as UTF-8)."""

def keccak256(data: bytes | str) -> bytes:
    """The 32-byte keccak256 digest of ``data`` (Ethereum's hash, not SHA3-256)."""

@final
class Featurizer:
    """Hashes word and character n-grams of a text into a fixed-size float32 vector.

    Immutable and thread-safe. Every option is saved by ``config_json()``, which a model
    manifest stores so training and inference featurize identically. Deterministic
    across runs and platforms (FNV-1a, no seed).
    """

    def __init__(
        self,
        *,
        n_features: int | None = None,
        word_ngrams: tuple[int, int] | None = None,
        char_ngrams: tuple[int, int] | None = None,
        normalization: Literal["none", "nfc", "nfkc"] | None = None,
        lowercase: bool | None = None,
        sublinear_tf: bool | None = None,
        alternate_sign: bool | None = None,
        l2_norm: bool | None = None,
        max_input_bytes: int | None = None,
        idf: npt.NDArray[np.float32] | None = None,
    ) -> None:
        """Defaults: 2**18 features, word 1-2 grams, no char n-grams, NFKC, lower-case,
        sublinear tf, no alternate sign, l2 norm, 16 MiB max input.

        Raises:
            ValueError: an option is out of range, or ``idf`` has the wrong length or
                holds a NaN, infinite or negative weight.
        """

    @staticmethod
    def from_json(config_json: str, *, idf: npt.NDArray[np.float32] | None = None) -> Featurizer:
        """Rebuild from ``config_json()`` output. Unknown keys raise ``ValueError``."""

    def config_json(self) -> str:
        """Every option as a JSON object (what a model manifest stores)."""

    @property
    def n_features(self) -> int: ...
    @property
    def has_idf(self) -> bool: ...
    def tokens(self, text: str | bytes) -> list[str]:
        """The normalised, lower-cased tokens word n-grams are built from."""

    def transform(self, text: str | bytes) -> npt.NDArray[np.float32]:
        """One text -> vector of length ``n_features`` (numpy owns the buffer; no copy).

        Raises:
            ValueError: ``bytes`` that are not valid UTF-8, or a text over
                ``max_input_bytes``.
            TypeError: ``text`` is neither str nor bytes.
        """

    def transform_batch(self, texts: Sequence[str | bytes]) -> npt.NDArray[np.float32]:
        """Many texts -> matrix ``(len(texts), n_features)``; row i equals
        ``transform(texts[i])``. Rows are computed in parallel with the GIL released.

        Raises:
            ValueError, TypeError: as ``transform``, for the first bad text.
        """
