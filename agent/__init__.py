"""DWC agent: the edge daemon.

Takes in documents (watched folder) and, in later releases, device data; runs a
versioned workflow on each locally (content id and featurizer from ``dwc_core``, an ONNX
classifier); keeps everything in SQLite first; syncs with the coordinator over NATS
JetStream. This package never imports ``coordinator``: a gateway installs only the base
dependencies.
"""

__all__: list[str] = []
