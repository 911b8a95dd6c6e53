"""Where data comes from and goes to outside the data directory: S3 (any S3-compatible endpoint)."""
