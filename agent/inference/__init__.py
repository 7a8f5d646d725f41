"""Local model inference (ONNX Runtime)."""
