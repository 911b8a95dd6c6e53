"""The built-in trainer: turns a dataset into a model bundle with numpy and onnx (no torch)."""
