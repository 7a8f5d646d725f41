"""dwc_core: DWC's hot path in Rust (scheduler, cache, hashing and Merkle proofs, featurizer).

The compiled extension is the private module ``dwc_core._native``; this package is its
public face and owns ``__all__``. It knows nothing of the agent or the coordinator.
"""

from ._native import (
    Cache,
    CacheCorruptionError,
    CacheRecursionError,
    CacheStats,
    DeadLetter,
    DuplicateTaskError,
    DwcCoreError,
    Featurizer,
    Lease,
    LeaseError,
    ManualClock,
    MerkleTree,
    Scheduler,
    SchedulerStats,
    SnapshotError,
    __version__,
    blake3,
    content_id,
    keccak256,
    verify_proof,
    verify_proof_json,
)

__all__ = [
    "Cache",
    "CacheCorruptionError",
    "CacheRecursionError",
    "CacheStats",
    "DeadLetter",
    "DuplicateTaskError",
    "DwcCoreError",
    "Featurizer",
    "Lease",
    "LeaseError",
    "ManualClock",
    "MerkleTree",
    "Scheduler",
    "SchedulerStats",
    "SnapshotError",
    "__version__",
    "blake3",
    "content_id",
    "keccak256",
    "verify_proof",
    "verify_proof_json",
]
