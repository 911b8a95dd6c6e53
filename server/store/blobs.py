"""Dataset images and masks by content (SHA-256), so a dataset no longer depends on where they came from."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

from server.store.paths import DIGEST, UnsafePath
from server.store.remote import RemoteFiles


class Blobs:
    def __init__(self, root: Path, remote: RemoteFiles | None = None) -> None:
        """With `remote` (S3 storage), every blob is also written there, and one missing here is fetched."""
        self.root = root / "blobs"
        self.remote = remote

    def path(self, digest: str) -> Path:
        local = self._local(digest)
        if self.remote is not None and not local.exists():
            self.remote.fetch(f"blobs/{digest[:2]}/{digest}", local)
        return local

    def _local(self, digest: str) -> Path:
        if not DIGEST.fullmatch(digest):  # digests come from the database; still, never a path outside
            raise UnsafePath(f"{digest!r} is not a SHA-256 digest")
        return self.root / digest[:2] / digest

    def put(self, content: bytes) -> str:
        digest = hashlib.sha256(content).hexdigest()
        target = self._local(digest)
        if self.remote is not None:  # shared first: a replica that reads the digest must find it
            self.remote.put(f"blobs/{digest[:2]}/{digest}", content)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = target.parent / f".{digest}.{uuid.uuid4().hex}"
            with open(staging, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(staging, target)
        return digest

    def remove_staging(self) -> None:
        """Files whose writing a crash cut off (blobs/<xx>/.<digest>.<uuid>): never renamed into place."""
        for staging in self.root.glob("*/.*"):
            staging.unlink(missing_ok=True)

    def get(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()

    def wipe(self) -> None:
        from server.store.files import discard_folder

        discard_folder(self.root)
        if self.remote is not None:
            self.remote.delete_folder("blobs")
