"""dwc_core: DWC's hot path in Rust (hashing, featurizer; scheduler and cache to come).

The compiled extension is the private module ``dwc_core._native``; this package is its
public face and owns ``__all__``. It knows nothing of the agent or the coordinator.
"""

from ._native import (
    DwcCoreError,
    Featurizer,
    __version__,
    blake3,
    content_id,
    keccak256,
)

__all__ = [
    "DwcCoreError",
    "Featurizer",
    "__version__",
    "blake3",
    "content_id",
    "keccak256",
]
