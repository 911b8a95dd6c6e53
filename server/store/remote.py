"""Files kept in S3 (`--storage-url s3://bucket/prefix`) so that every replica sees the same images, masks and
model bundles; each replica keeps local copies in its data directory and fetches what it lacks."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from server.s3.client import S3, S3Error


def parse_storage_url(url: str) -> tuple[str, str]:
    """(bucket, prefix) of s3://bucket/prefix; the prefix is empty or ends with '/'."""
    rest = url.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ValueError(f"storage_url {url!r} names no bucket: s3://bucket/prefix")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


class RemoteFiles:
    def __init__(self, s3: S3, region: str, bucket: str, prefix: str = "") -> None:
        self.s3 = s3
        self.region = region
        self.bucket = bucket
        self.prefix = prefix

    def _client(self):
        return self.s3.client(self.region)

    def put(self, name: str, body: bytes) -> None:
        self.s3.put(self.region, self.bucket, self.prefix + name, body, "application/octet-stream")

    def names(self, folder: str) -> list[str]:
        """Names of the objects below `folder/`, relative to it."""
        start = self.prefix + folder.rstrip("/") + "/"
        pages = self._client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start)
        return [item["Key"][len(start) :] for page in pages for item in page.get("Contents", [])]

    def fetch(self, name: str, target: Path) -> None:
        """Download one object to `target`, written aside and renamed into place (never half a file)."""
        from botocore.exceptions import BotoCoreError, ClientError

        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.parent / f".{target.name}.{uuid.uuid4().hex}"
        try:
            self._client().download_file(self.bucket, self.prefix + name, str(staging))
            os.replace(staging, target)
        except (ClientError, BotoCoreError) as error:
            staging.unlink(missing_ok=True)
            raise S3Error(f"cannot read s3://{self.bucket}/{self.prefix}{name}: {error}") from None

    def delete_folder(self, folder: str) -> None:
        names = self.names(folder)
        start = self.prefix + folder.rstrip("/") + "/"
        for offset in range(0, len(names), 1000):  # DeleteObjects takes 1000 keys at a time
            batch = [{"Key": start + name} for name in names[offset : offset + 1000]]
            self._client().delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
