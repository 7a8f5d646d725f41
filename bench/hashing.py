"""Merkle trees and content ids, against what a Python user would write or install.

* Merkle build + every proof, for 100k and 1M leaves (``--quick``: 10k and 100k), against
  a pure-Python tree with the same OpenZeppelin layout and sorted-pair keccak256, run
  twice: with pycryptodome's keccak (the registry package the tests use) and with
  ``safe-pysha3``'s C ``keccak_256`` (the fastest on PyPI). The pure-Python side shares
  node objects between proofs, as ``MerkleTree.proofs`` does; both produce
  ``list[list[bytes]]``, and their roots are checked equal.
* ``content_id`` throughput (MB/s) on 4 KiB, 1 MiB and 64 MiB inputs against
  ``hashlib.blake2b`` and the ``blake3`` package (``hexdigest`` on both, as
  ``content_id`` returns hex). dwc_core hashes inputs of 1 MiB or more on all cores
  (BLAKE3's tree mode); the ``blake3`` package is single-threaded unless asked.
"""

from __future__ import annotations

import functools
import hashlib
import random
import statistics
import time
from collections.abc import Callable

import blake3 as blake3_pypi
from Crypto.Hash import keccak as _pycryptodome_keccak

from bench.harness import Row
from dwc_core import MerkleTree, content_id

MERKLE_TARGET = 20.0  # issue 4: build + all proofs >= 20x the pure-Python version


def _pycryptodome_keccak256(data: bytes) -> bytes:
    return _pycryptodome_keccak.new(digest_bits=256, data=data).digest()


# The keccak implementations the pure-Python peer runs with: pycryptodome (what the tests
# use) and, when installed, safe-pysha3's C keccak_256, the fastest one on PyPI.
KECCAKS: dict[str, Callable[[bytes], bytes]] = {"pycryptodome": _pycryptodome_keccak256}
try:
    from sha3 import keccak_256 as _pysha3_keccak_256

    KECCAKS["safe-pysha3"] = lambda data: _pysha3_keccak_256(data).digest()
except ImportError:  # pragma: no cover - depends on what is installed
    pass


def py_merkle_proofs(
    leaves: list[bytes], keccak256: Callable[[bytes], bytes]
) -> tuple[bytes, list[list[bytes]]]:
    """The pure-Python peer: OpenZeppelin's array layout, every proof, the root."""
    n = len(leaves)
    tree: list[bytes] = [b""] * (2 * n - 1)
    tree[n - 1 :] = leaves[::-1]
    for i in range(n - 2, -1, -1):
        a, b = tree[2 * i + 1], tree[2 * i + 2]
        tree[i] = keccak256(a + b if a < b else b + a)
    proofs = []
    for k in range(n):
        i = 2 * n - 2 - k
        proof = []
        while i > 0:
            proof.append(tree[i + 1] if i & 1 else tree[i - 1])
            i = (i - 1) >> 1
        proofs.append(proof)
    return tree[0], proofs


def dwc_merkle_proofs(leaves: list[bytes]) -> tuple[bytes, list[list[bytes]]]:
    tree = MerkleTree(leaves)
    return tree.root, tree.proofs()


def _time(fn: Callable[[], object], repeat: int) -> float:
    """Median seconds of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def merkle(quick: bool) -> list[Row]:
    rows = []
    rng = random.Random(4)
    for n in (10_000, 100_000) if quick else (100_000, 1_000_000):
        leaves = [rng.randbytes(32) for _ in range(n)]
        dwc_root, dwc_proofs = dwc_merkle_proofs(leaves)
        for keccak256 in KECCAKS.values():
            py_root, py_proofs = py_merkle_proofs(leaves, keccak256)
            assert py_root == dwc_root
            assert py_proofs[::997] == dwc_proofs[::997]
            del py_proofs
        del dwc_proofs
        repeat = 3 if n >= 1_000_000 else 5
        dwc_s = _time(functools.partial(dwc_merkle_proofs, leaves), repeat)
        for backend, keccak256 in KECCAKS.items():
            py_s = _time(
                functools.partial(py_merkle_proofs, leaves, keccak256),
                1 if n >= 1_000_000 and backend == "pycryptodome" else repeat,
            )
            rows.append(
                Row(
                    f"merkle build+proofs n={n:,}",
                    "leaves/s",
                    n / dwc_s,
                    f"pure Python + {backend}",
                    n / py_s,
                    MERKLE_TARGET,
                    f"leaves/s (dwc {dwc_s:.3f} s, Python {py_s:.3f} s)",
                )
            )
    return rows


def content_ids(quick: bool) -> list[Row]:
    rows = []
    sizes = [4 << 10, 1 << 20, (16 if quick else 64) << 20]
    peers: dict[str, Callable[[bytes], str]] = {
        "hashlib.blake2b": lambda d: hashlib.blake2b(d).hexdigest(),
        "blake3 (PyPI)": lambda d: blake3_pypi.blake3(d).hexdigest(),
    }
    for size in sizes:
        data = random.Random(size).randbytes(size)
        # Enough calls per round for ~16 MiB of input, at least one.
        number = max(1, (16 << 20) // size)
        if quick:
            number = max(1, number // 4)

        def rate(fn: Callable[[bytes], str], data: bytes = data, number: int = number) -> float:
            seconds = _time(lambda: [fn(data) for _ in range(number)], 5)
            return len(data) * number / seconds / 1e6

        dwc = rate(content_id)
        label = f"{size >> 20} MiB" if size >= 1 << 20 else f"{size >> 10} KiB"
        for peer, fn in peers.items():
            rows.append(Row(f"content_id {label}", "MB/s", dwc, peer, rate(fn), None, "MB/s"))
    return rows


def run(quick: bool) -> list[Row]:
    return merkle(quick) + content_ids(quick)
