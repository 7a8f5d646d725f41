"""Models the agent runs locally. Each ``models/<name>/train.py`` builds ``model.onnx``
and ``manifest.json`` in its directory (``make models``).
"""
