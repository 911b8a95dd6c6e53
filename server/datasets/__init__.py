"""Ground Truth manifests and the images and masks they point at (S3, or disk below an allowed root)."""
