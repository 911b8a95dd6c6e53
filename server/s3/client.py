"""S3 through boto3, at the endpoint the operator names (or boto3's own: AWS_ENDPOINT_URL_S3, config)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any


class S3Error(Exception):
    """An S3 call failed; the message says which object and why, for a StatusMessage."""


@dataclass(frozen=True)
class S3Limits:
    """botocore's defaults (60 s to connect, 60 s per read, 5 attempts in legacy mode) let an endpoint
    that accepts and never answers hold a dataset import for minutes; these fail it within ~30 s."""

    connect_timeout: float = 5.0
    read_timeout: float = 10.0  # per read, not per transfer: a large, flowing download is not cut off
    max_attempts: int = 2  # the first try and one retry, with botocore's standard back-off


class S3:
    def __init__(self, endpoint_url: str | None = None, limits: S3Limits | None = None) -> None:
        self.endpoint_url = endpoint_url
        self.limits = limits or S3Limits()
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, region: str):
        with self._lock:
            if region not in self._clients:
                import boto3
                from botocore.config import Config

                config = Config(
                    connect_timeout=self.limits.connect_timeout,
                    read_timeout=self.limits.read_timeout,
                    retries={"total_max_attempts": self.limits.max_attempts, "mode": "standard"},
                )
                self._clients[region] = boto3.session.Session().client(
                    "s3", region_name=region, endpoint_url=self.endpoint_url, config=config
                )
            return self._clients[region]

    def put(self, region: str, bucket: str, key: str, body: bytes, content_type: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client(region).put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        except ClientError as error:
            details = error.response.get("Error", {})
            code, message = details.get("Code", "Error"), details.get("Message", "")
            raise S3Error(f"cannot write s3://{bucket}/{key}: {code}: {message}") from None
        except BotoCoreError as error:
            raise S3Error(f"cannot write s3://{bucket}/{key}: {error}") from None

    def get(self, region: str, bucket: str, key: str, version: str | None, limit: int) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        extra = {"VersionId": version} if version else {}
        try:
            answer = self.client(region).get_object(Bucket=bucket, Key=key, **extra)
            size = answer.get("ContentLength") or 0
            if size > limit:
                raise S3Error(f"s3://{bucket}/{key} is {size} bytes; the limit is {limit}")
            return answer["Body"].read()
        except ClientError as error:
            details = error.response.get("Error", {})
            code = details.get("Code", "Error")
            if code in ("NoSuchKey", "404", "NoSuchVersion"):
                raise S3Error(f"s3://{bucket}/{key} does not exist") from None
            raise S3Error(f"cannot read s3://{bucket}/{key}: {code}: {details.get('Message', '')}") from None
        except BotoCoreError as error:
            raise S3Error(f"cannot read s3://{bucket}/{key}: {error}") from None
