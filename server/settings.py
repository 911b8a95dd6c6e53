"""All configuration in one place: CLI flags override LOOKOUTVISION_EMULATOR_* variables override defaults."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from server.protocol.signing import parse_credentials
from server.store.paths import check_scope

ENV_PREFIX = "LOOKOUTVISION_EMULATOR_"
DEVICES = ("cpu", "cuda", "auto")
AUTH_MODES = ("none", "sigv4")


def default_data_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """A per-user folder that survives reboots, following each platform's convention."""
    home = Path.home()
    if sys.platform == "win32":
        base = Path(environ.get("LOCALAPPDATA", home / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "lookoutvision-emulator"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 5055
    data_dir: Path = field(default_factory=default_data_dir)
    in_memory: bool = False  # keep nothing on disk: for throwaway runs and tests
    region: str = "us-east-1"  # used when a request carries no SigV4 credential scope
    account: str = "123456789012"  # used unless the access key is a 12-digit account id
    device: str = "cpu"  # cpu | cuda | auto: where onnxruntime runs hosted models
    max_body_bytes: int = 16 * 1024 * 1024  # 8 MB images and 10 MiB base64 dataset changes fit
    inference_threads: int = 0  # onnxruntime threads per inference unit; 0 divides the cores among them
    queue_per_unit: int = 8  # requests that may wait per busy unit before ThrottlingException
    max_inference_units: int = 16  # per model: each unit is an onnxruntime session
    scale_up_after: float = 0.5  # seconds a request waits before another unit is added (up to the max)
    scale_down_after: float = 30.0  # quiet seconds before a unit above the minimum is removed
    demo: bool = False  # create project `demo` with the shipped models hosted
    fixture_mode: bool = False  # state changes happen before the call returns, unless given a delay
    delay_hosting: float = 0.0  # seconds a model stays STARTING_HOSTING (at least)
    delay_stopping: float = 0.0  # ... STOPPING_HOSTING
    delay_training: float = 0.0  # ... TRAINING
    delay_dataset_import: float = 0.0  # ... CREATE_IN_PROGRESS / UPDATE_IN_PROGRESS
    delay_packaging: float = 0.0  # ... a packaging job RUNNING
    s3_endpoint_url: str = ""  # S3-compatible endpoint for model outputs and packaging (default: boto3's)
    s3_connect_timeout: float = 5.0  # seconds; an S3 endpoint that never answers fails the call, not hangs
    s3_read_timeout: float = 10.0  # seconds without a byte from S3 before the attempt fails
    s3_max_attempts: int = 2  # S3 attempts per call, retries included (botocore's standard mode)
    keep_alive_timeout: int = 5  # seconds an idle client connection is kept open
    body_timeout: float = 60.0  # seconds a request body may stall before the request is refused (408)
    header_timeout: float = 30.0  # seconds a request line and headers may take; slower: disconnected
    max_header_bytes: int = 64 * 1024  # all request headers; checked before routing (h11 also while parsing)
    training_time_limit: float = 3600.0  # seconds before a training process is stopped and the model fails
    dataset_root: str = ""  # a folder whose files datasets may use (manifests, images, masks); empty: none
    local_bucket: str = (
        "lookoutvision-local"  # an S3Object bucket of this name means a file below dataset_root
    )
    credentials: str = ""  # "KEY:SECRET,...": L4V calls must be SigV4-signed by one of them; empty: unchecked
    credentials_file: str = ""  # a file of KEY:SECRET lines, added to `credentials`
    auth: str = "none"  # sigv4: signatures required, also from this process's AWS_ACCESS_KEY_ID pair
    log_level: str = "info"
    access_log: bool = False

    @classmethod
    def load(cls, environ: Mapping[str, str] = os.environ, **overrides: Any) -> Settings:
        """Defaults, then the environment, then explicit overrides (None means 'not given')."""
        values: dict[str, Any] = {}
        for spec in fields(cls):
            text = environ.get(ENV_PREFIX + spec.name.upper())
            if text is not None and text != "":
                values[spec.name] = _convert(spec.name, spec.type, text)
        values.update({key: value for key, value in overrides.items() if value is not None})
        settings = replace(cls(), **values)
        settings.check()
        settings.signing_keys(environ)  # a missing file or no key at all must stop start-up, not a request
        return settings

    def check(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, not {self.device!r}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, not {self.port}")
        check_scope(self.account, self.region)  # they name folders in the data directory
        parse_credentials(self.credentials)
        if self.auth not in AUTH_MODES:
            raise ValueError(f"auth must be one of {', '.join(AUTH_MODES)}, not {self.auth!r}")
        if self.s3_connect_timeout <= 0 or self.s3_read_timeout <= 0 or self.s3_max_attempts < 1:
            raise ValueError("s3_connect_timeout and s3_read_timeout must be positive, s3_max_attempts >= 1")
        if self.keep_alive_timeout < 1 or self.body_timeout <= 0 or self.max_header_bytes < 1024:
            raise ValueError("keep_alive_timeout must be >= 1 s, body_timeout > 0, max_header_bytes >= 1024")
        if self.header_timeout <= 0:
            raise ValueError("header_timeout must be positive")
        if self.max_body_bytes < 1:
            raise ValueError("max_body_bytes must be positive")
        if self.inference_threads < 0 or self.queue_per_unit < 0:
            raise ValueError("inference_threads and queue_per_unit must not be negative")
        if self.scale_up_after < 0 or self.scale_down_after < 0:
            raise ValueError("scale_up_after and scale_down_after must not be negative")
        for name, seconds in self.delays.items():
            if not 0 <= seconds <= 3600:
                raise ValueError(f"delay_{name} must be 0 to 3600 seconds, not {seconds}")

    def signing_keys(self, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
        """Access key id -> secret that L4V calls must be signed with; empty: signatures are not checked.

        Named credentials (the setting or the file) turn checking on by themselves, as the setting always
        has: keys that were given but not checked would leave the server open by mistake. `auth=sigv4`
        adds the standard AWS variables of the server's own environment (what a container is given),
        and refuses to start with no key at all.
        """
        keys = parse_credentials(self.credentials)
        if self.credentials_file:
            keys.update(read_credentials_file(Path(self.credentials_file).expanduser()))
        if self.auth == "sigv4":
            key, secret = environ.get("AWS_ACCESS_KEY_ID", ""), environ.get("AWS_SECRET_ACCESS_KEY", "")
            if bool(key) != bool(secret):
                raise ValueError(
                    "auth sigv4: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together"
                )
            if key:
                keys[key] = secret
            if not keys:
                raise ValueError(
                    "auth sigv4 needs at least one key: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                    f"--credentials-file or {ENV_PREFIX}CREDENTIALS"
                )
        return keys

    @property
    def delays(self) -> dict[str, float]:
        return {
            "hosting": self.delay_hosting,
            "stopping": self.delay_stopping,
            "training": self.delay_training,
            "dataset_import": self.delay_dataset_import,
            "packaging": self.delay_packaging,
        }

    @property
    def storage_dir(self) -> Path | None:
        return None if self.in_memory else Path(self.data_dir).expanduser()


def read_credentials_file(path: Path) -> dict[str, str]:
    """One KEY:SECRET a line; blank lines and lines starting with # are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read the credentials file {path}: {error}") from None
    keys: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if line and not line.startswith("#"):
            try:
                keys.update(parse_credentials(line))
            except ValueError:
                raise ValueError(f"{path}, line {number}: expected ACCESS_KEY:SECRET") from None
    return keys


def _convert(name: str, kind: Any, text: str) -> Any:
    kind = str(kind)
    try:
        if kind == "bool":
            lowered = text.strip().lower()
            if lowered not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                raise ValueError(text)
            return lowered in ("1", "true", "yes", "on")
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "Path":
            return Path(text)
    except ValueError:
        raise ValueError(f"{ENV_PREFIX}{name.upper()}={text!r} is not a valid {kind}") from None
    return text
