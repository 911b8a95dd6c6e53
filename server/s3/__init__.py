"""S3 (any S3-compatible endpoint): where dataset manifests and images come from, and where evaluation
and packaging files go."""
