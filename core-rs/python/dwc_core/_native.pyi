"""Type stubs for the compiled extension ``dwc_core._native`` (written by hand).

``tests/core/test_stub.py`` checks that the names here match the built module.
"""

from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar, final, overload

import numpy as np
import numpy.typing as npt

__all__ = [
    "Cache",
    "CacheCorruptionError",
    "CacheRecursionError",
    "CacheStats",
    "DwcCoreError",
    "Featurizer",
    "MerkleTree",
    "__version__",
    "blake3",
    "content_id",
    "keccak256",
    "verify_proof",
    "verify_proof_json",
]

_T = TypeVar("_T")
_D = TypeVar("_D")
_Key = str | bytes | int

__version__: str

class DwcCoreError(Exception):
    """Base class of operational errors raised by dwc_core."""

class CacheRecursionError(DwcCoreError):
    """A ``get_or_compute`` function asked its own cache for the key it is computing
    (on the same thread). Waiting for itself would never end, so this is raised instead."""

class CacheCorruptionError(DwcCoreError):
    """A compressed cache value could not be decompressed (should never happen)."""

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
        idf: npt.NDArray[np.float32] | npt.NDArray[np.float64] | None = None,
    ) -> None:
        """Defaults: 2**18 features, word 1-2 grams, no char n-grams, NFKC, lower-case,
        sublinear tf, no alternate sign, l2 norm, 16 MiB max input.

        ``idf`` may be float32 or float64 (narrowed to float32).

        Raises:
            ValueError: an option is out of range (negative counts included), or ``idf``
                has the wrong length or holds a NaN, infinite or negative weight.
            TypeError: a count is not an int, or ``idf`` is not a 1-D float numpy array.
        """

    @staticmethod
    def from_json(
        config_json: str, *, idf: npt.NDArray[np.float32] | npt.NDArray[np.float64] | None = None
    ) -> Featurizer:
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

    def transform_batch(
        self, texts: list[str | bytes] | tuple[str | bytes, ...]
    ) -> npt.NDArray[np.float32]:
        """Many texts -> matrix ``(len(texts), n_features)``; row i equals
        ``transform(texts[i])``. Rows are computed in parallel with the GIL released.

        Raises:
            ValueError, TypeError: as ``transform``, for the first bad text.
        """

@final
class Cache:
    """A thread-safe in-memory cache with a weight budget, built on moka.

    Policy (moka's): TinyLFU admission with an LRU eviction window, so a burst of
    one-off keys cannot flush the frequently used ones. A consequence: when the cache is
    full, a ``set`` of a new, rarely seen key may be refused admission, and a ``get``
    right after it can miss. Expiry: cache-wide ``ttl`` (from the last write) and
    ``tti`` (from the last read or write), plus a per-entry ``ttl`` given to ``set``; the
    earliest wins.

    Keys are ``str``, ``bytes`` or ``int``. The three kinds never collide (``"1"``,
    ``b"1"`` and ``1`` are three keys); ``True``/``False`` are the ints 1 and 0, as in a
    ``dict``. A ``str`` key with a lone surrogate (not encodable as UTF-8) raises
    ``UnicodeEncodeError``. Values are any Python object, stored by reference (not copied). A ``bytes``
    value of ``compress_threshold`` bytes or more is stored LZ4-compressed when that saves
    at least an eighth of it; ``get`` then returns an equal, new ``bytes`` object.

    Weights (what ``max_weight`` bounds) are computed on the caller's thread before the
    insert, never inside the cache (docs/adr/0002-cache-weighing-outside-moka.md):
    ``bytes`` weigh their stored length, anything else the ``weight`` given to ``set`` or
    else ``weigher(value)``, which defaults to ``sys.getsizeof`` (shallow: a list weighs
    its pointers, not its items; pass ``weight=`` for containers). Weights are ints in
    ``0..2**32-1``.

    Counts such as ``stats().entries``, ``weighted_size``, ``len()`` and the removal
    counters are approximate until pending maintenance runs: moka batches it and runs it
    during later calls, or now with ``run_pending_tasks()``. Lookups themselves are exact:
    a deleted or expired key is never returned.

    Thread-safe; calls other than ``get_or_compute``'s wait hold the GIL only briefly.
    The cache does not take part in cyclic garbage collection: a value that refers back
    to its cache keeps both alive until it is deleted or the cache is cleared.
    """

    def __init__(
        self,
        max_weight: int,
        *,
        ttl: float | None = None,
        tti: float | None = None,
        compress_threshold: int | None = 16384,
        weigher: Callable[[Any], int] | None = None,
    ) -> None:
        """
        Arguments:
            max_weight: the budget, in weight units (bytes for the agent, which passes
                its device profile's cache budget). Must be > 0.
            ttl, tti: cache-wide time-to-live and time-to-idle in seconds, or None.
            compress_threshold: bytes values at least this long are compressed; None
                turns compression off.
            weigher: weighs non-bytes values given without ``weight=``; called on the
                caller's thread, must return an int.

        Raises:
            ValueError: ``max_weight`` is 0, ``ttl``/``tti`` is not a finite number of
                seconds in (0, 100 years], or ``compress_threshold`` is 0.
            OverflowError: ``max_weight`` is negative or over 2**64-1.
            TypeError: ``weigher`` is not callable.
        """

    @property
    def max_weight(self) -> int: ...
    @property
    def compress_threshold(self) -> int | None: ...
    @overload
    def get(self, key: _Key) -> Any | None:
        """The value under ``key`` or ``default``; counted as a hit or a miss.

        Raises:
            TypeError: ``key`` is not str, bytes or int.
        """

    @overload
    def get(self, key: _Key, default: _D) -> Any | _D: ...
    def set(
        self, key: _Key, value: object, ttl: float | None = None, weight: int | None = None
    ) -> None:
        """Insert or replace. ``ttl`` (seconds) applies to this entry only and replaces
        any per-entry TTL the key had; ``None`` leaves only the cache-wide limits. An entry
        heavier than ``max_weight`` is evicted at once.

        Raises:
            ValueError: ``ttl`` is not a finite number of seconds in (0, 100 years], or
                ``weight`` (or the weigher's result) is negative or over 2**32-1.
            TypeError: ``key`` is not str, bytes or int; ``weight`` is not an int.
            Exception: whatever the weigher raises.
        """

    def delete(self, key: _Key) -> bool:
        """Remove ``key``; True if it was present."""

    def contains(self, key: _Key) -> bool:
        """Whether ``key`` is present. Not a read: no hit/miss, no effect on the policy."""

    def __contains__(self, key: _Key, /) -> bool: ...
    def get_or_compute(
        self,
        key: _Key,
        func: Callable[[], _T],
        ttl: float | None = None,
        weight: int | None = None,
    ) -> _T:
        """The value under ``key``; on a miss, ``func()`` is called, its result stored (as
        ``set(key, result, ttl, weight)`` would) and returned.

        Single-flight: when several threads miss the same key at once, ``func`` runs in
        one of them and the others wait (with the GIL released) and get its result. If
        ``func`` raises, nothing is stored and every waiting caller gets that exception.
        The caller that ran ``func`` counts a miss, the others a hit.

        ``func`` must not call ``get_or_compute`` for the same key on this cache: that
        raises ``CacheRecursionError``. Two threads whose functions need each other's keys
        deadlock, as with any pair of locks.

        Raises:
            CacheRecursionError: ``func`` asked for its own key.
            ValueError, TypeError: as ``set``.
            Exception: whatever ``func`` raises.
        """

    def clear(self) -> None:
        """Remove every entry and run pending maintenance (stats are exact afterwards)."""

    def keys(self) -> list[_Key]:
        """The keys present now, in no particular order (a snapshot). Ints outside the
        64-bit range come back as equal ints."""

    def stats(self) -> CacheStats:
        """Counters and sizes now (approximate until ``run_pending_tasks``)."""

    def run_pending_tasks(self) -> None:
        """Run moka's pending maintenance now (evictions, expirations, counters), with
        the GIL released."""

    def __len__(self) -> int:
        """Entries, approximate until ``run_pending_tasks`` (same as ``stats().entries``)."""

@final
class CacheStats:
    """A snapshot of ``Cache.stats()``. Export ``as_dict()`` as metrics."""

    @property
    def hits(self) -> int: ...
    @property
    def misses(self) -> int: ...
    @property
    def evicted_size(self) -> int:
        """Evicted to stay under ``max_weight``, including entries refused admission."""

    @property
    def evicted_expired(self) -> int:
        """Removed because ``ttl``, ``tti`` or a per-entry TTL passed. Per-entry expiry is
        processed on a timer wheel with about one second's resolution, so this count can
        trail the (exact) lookups by a second or so."""

    @property
    def removed_explicit(self) -> int:
        """Removed by ``delete`` or ``clear``."""

    @property
    def replaced(self) -> int:
        """Overwritten by a ``set`` of a key already present."""

    @property
    def weighted_size(self) -> int: ...
    @property
    def entries(self) -> int: ...
    @property
    def hit_ratio(self) -> float:
        """hits / (hits + misses); 0.0 before the first lookup."""

    def as_dict(self) -> dict[str, int]:
        """The eight counters (not ``hit_ratio``) by name."""

@final
class MerkleTree:
    """A Merkle tree over 32-byte leaves, compatible with OpenZeppelin's ``MerkleProof``.

    A parent is ``keccak256(min(a, b) + max(a, b))`` (sorted pair), so the proofs verify
    on-chain with ``MerkleProof.verify(proof, root, leaf)``. The layout is the complete
    binary tree of ``@openzeppelin/merkle-tree`` (``SimpleMerkleTree.of(leaves,
    {sortLeaves: false})`` gives the same root): every internal node has two children, so
    no lone node is ever promoted or duplicated; proofs are ``floor(log2 n)`` or
    ``ceil(log2 n)`` hashes long. One leaf: the root is the leaf, its proof is empty.
    Leaves keep the order given; make them with ``keccak256(data)``. Never use 64 bytes of
    raw data as a leaf's preimage in a contract: an inner node is the keccak256 of 64
    bytes, so such a leaf could pose as a node (OpenZeppelin's StandardMerkleTree hashes
    leaf data twice for this reason).

    Immutable and thread-safe. Trees of 1024 leaves or more are built in parallel with
    the GIL released.
    """

    def __init__(self, leaves: Sequence[bytes]) -> None:
        """
        Raises:
            ValueError: no leaves, or a leaf is not exactly 32 bytes (the message names
                its index).
            TypeError: a leaf is not ``bytes``, or ``leaves`` is a single bytes object.
        """

    @property
    def root(self) -> bytes:
        """The 32-byte root."""

    @property
    def root_hex(self) -> str:
        """The root as ``0x`` and 64 lower-case hex digits."""

    def __len__(self) -> int:
        """Number of leaves."""

    def leaf(self, index: int) -> bytes:
        """Leaf ``index`` (negative counts from the end). Raises IndexError."""

    def proof(self, index: int) -> list[bytes]:
        """Sibling hashes from leaf ``index`` up to the root's child: the ``bytes32[]``
        that ``MerkleProof.verify`` takes. Raises IndexError."""

    def proofs(self) -> list[list[bytes]]:
        """Every leaf's proof, in leaf order (equal to ``[proof(i) for i in range(n)]``;
        the lists share their ``bytes`` objects)."""

    def proof_json(self, index: int) -> str:
        """Leaf ``index``'s proof in DWC's stable JSON form, one line in this key order:
        ``{"format":"dwc-merkle-proof/1","leaf_count":N,"index":I,"leaf":"0x…",
        "proof":["0x…",…],"root":"0x…"}`` with lower-case hex. The same proof always
        gives the same string. Raises IndexError."""

def verify_proof(leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    """Whether ``proof`` leads from ``leaf`` to ``root`` with sorted-pair keccak256
    (what OpenZeppelin's ``MerkleProof.verify`` computes). A wrong proof is ``False``.

    Raises:
        ValueError: ``leaf``, ``root`` or a proof node is not exactly 32 bytes, or the
            proof has more than 32 nodes (no tree of up to 2**32 leaves needs more).
        TypeError: an argument is not bytes (or a sequence of bytes for ``proof``).
    """

def verify_proof_json(proof_json: str, root: bytes) -> bool:
    """Whether a proof made by ``MerkleTree.proof_json`` verifies and its root is
    ``root`` (the one you trust, for example the anchored one).

    Raises:
        ValueError: malformed JSON, unknown keys, another ``format``, hex that is not 32
            bytes, ``index`` outside ``leaf_count``, or a proof whose length does not fit
            that leaf's place in a tree of ``leaf_count`` leaves.
    """
