"""Fetch manifests, images and masks: s3:// references through boto3, or files below an allowed root."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from server.s3.client import S3, S3Error

MAX_OBJECT_BYTES = 8 * 1024 * 1024  # the image limit; manifests have their own
MAX_MANIFEST_BYTES = 1024**3


class SourceError(ValueError):
    """A reference that cannot be read; the message says which and why."""


class Sources:
    def __init__(self, s3: S3, region: str, local_root: Path | None, local_bucket: str) -> None:
        self.s3 = s3
        self.region = region
        self.local_root = local_root.resolve() if local_root else None
        self.local_bucket = local_bucket

    def manifest(self, bucket: str, key: str, version: str | None) -> bytes:
        if bucket == self.local_bucket:
            return self._local(key, MAX_MANIFEST_BYTES)
        return self._s3(bucket, key, version, MAX_MANIFEST_BYTES)

    def read(self, reference: str, limit: int = MAX_OBJECT_BYTES) -> bytes:
        """An image or mask: `s3://bucket/key`, `file:///path`, or a path relative to the local root."""
        if reference.startswith("s3://"):
            parts = urlsplit(reference)
            key = parts.path.lstrip("/")
            if not parts.netloc or not key:
                raise SourceError(f"{reference} is not a valid s3:// reference")
            if parts.netloc == self.local_bucket:
                return self._local(key, limit)
            return self._s3(parts.netloc, key, None, limit)
        if reference.startswith("file://"):
            return self._local(unquote(urlsplit(reference).path), limit)
        if "://" in reference:
            raise SourceError(f"{reference}: only s3:// references (or local files) are supported")
        return self._local(reference, limit)

    def _s3(self, bucket: str, key: str, version: str | None, limit: int) -> bytes:
        try:
            return self.s3.get(self.region, bucket, key, version, limit)
        except S3Error as error:
            raise SourceError(str(error)) from None

    def _local(self, path: str, limit: int) -> bytes:
        if self.local_root is None:
            raise SourceError(
                f"{path}: local files are off; start the server with --dataset-root to allow a folder"
            )
        candidate = Path(path)
        resolved = (candidate if candidate.is_absolute() else self.local_root / candidate).resolve()
        if resolved != self.local_root and self.local_root not in resolved.parents:
            raise SourceError(f"{path} is outside the dataset root {self.local_root}")
        if not resolved.is_file():
            raise SourceError(f"{path} does not exist")
        size = resolved.stat().st_size
        if size > limit:
            raise SourceError(f"{path} is {size} bytes; the limit is {limit}")
        return resolved.read_bytes()
