"""Model bundles, onnxruntime sessions, pre- and post-processing."""
