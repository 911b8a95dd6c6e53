"""An S3 endpoint that accepts connections and never answers fails a dataset import within the
configured deadlines, instead of holding it for minutes (botocore's defaults: 60 s per read, retried)."""

from __future__ import annotations

import socket
import time

from lookoutvision_emulator import EmulatorProcess, client
from server.s3.client import S3, S3Limits
from tests.conftest import FAKE_CREDENTIALS, NO_RETRIES


def test_a_silent_s3_endpoint_fails_the_import_in_time(tmp_path):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # the kernel completes the handshakes; nobody ever reads or answers
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        env = {
            **FAKE_CREDENTIALS,
            "LOOKOUTVISION_EMULATOR_S3_ENDPOINT_URL": endpoint,
            "LOOKOUTVISION_EMULATOR_S3_CONNECT_TIMEOUT": "0.5",
            "LOOKOUTVISION_EMULATOR_S3_READ_TIMEOUT": "0.5",
            "LOOKOUTVISION_EMULATOR_S3_MAX_ATTEMPTS": "2",
        }
        with EmulatorProcess(tmp_path, env=env) as emulator:
            lfv = client(emulator.url, config=NO_RETRIES)
            lfv.create_project(ProjectName="p")
            started = time.monotonic()
            source = {"GroundTruthManifest": {"S3Object": {"Bucket": "data", "Key": "train.manifest"}}}
            lfv.create_dataset(ProjectName="p", DatasetType="train", DatasetSource=source)
            while True:
                metadata = lfv.describe_dataset(ProjectName="p", DatasetType="train")["DatasetDescription"]
                if metadata["Status"] != "CREATE_IN_PROGRESS" or time.monotonic() - started > 60:
                    break
                time.sleep(0.1)
            elapsed = time.monotonic() - started
    assert metadata["Status"] == "CREATE_FAILED"
    assert "timeout" in metadata["StatusMessage"].lower(), metadata["StatusMessage"]
    # Two attempts of 0.5 s plus botocore's back-off; the old defaults took 182 s.
    assert elapsed < 15


def test_limits_reach_the_client():
    s3 = S3("http://127.0.0.1:9", S3Limits(connect_timeout=1.5, read_timeout=2.5, max_attempts=3))
    config = s3.client("us-east-1").meta.config
    assert (config.connect_timeout, config.read_timeout) == (1.5, 2.5)
    assert config.retries == {"total_max_attempts": 3, "mode": "standard"}
