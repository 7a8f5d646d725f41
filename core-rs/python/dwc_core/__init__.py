"""dwc_core: DWC's hot path in Rust (hashing, featurizer, scheduler; cache to come).

The compiled extension is the private module ``dwc_core._native``; this package is its
public face and owns ``__all__``. It knows nothing of the agent or the coordinator.
"""

from ._native import (
    DeadLetter,
    DuplicateTaskError,
    DwcCoreError,
    Featurizer,
    Lease,
    LeaseError,
    ManualClock,
    Scheduler,
    SchedulerStats,
    SnapshotError,
    __version__,
    blake3,
    content_id,
    keccak256,
)

__all__ = [
    "DeadLetter",
    "DuplicateTaskError",
    "DwcCoreError",
    "Featurizer",
    "Lease",
    "LeaseError",
    "ManualClock",
    "Scheduler",
    "SchedulerStats",
    "SnapshotError",
    "__version__",
    "blake3",
    "content_id",
    "keccak256",
]
