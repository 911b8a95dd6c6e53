"""All configuration in one place: CLI flags override LOOKOUTVISION_EMULATOR_* variables override defaults.

Each setting carries its own help text and, for `serve`, its flag: the command line, its `--help` and
the README's configuration table are all checked against this one table.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from server.backend.timing import KINDS, check_delay
from server.protocol.signing import parse_credentials
from server.store.paths import check_scope

ENV_PREFIX = "LOOKOUTVISION_EMULATOR_"
DEVICES = ("cpu", "cuda", "auto")
AUTH_MODES = ("none", "sigv4")
LOG_LEVELS = ("debug", "info", "warning", "error")
DEFAULT_EDGE_SOCKET = "/tmp/aws.iot.lookoutvision.EdgeAgent.sock"  # where AWS's Edge Agent listened


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """A per-user folder that survives reboots, following each platform's convention."""
    environ = os.environ if environ is None else environ
    home = _home(environ)
    if sys.platform == "win32":
        base = Path(environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "lookoutvision-emulator"


def _home(environ: Mapping[str, str]) -> Path:
    """The home folder as `environ` names it; without it, the account's own (not this process's variables)."""
    named = environ.get("USERPROFILE" if sys.platform == "win32" else "HOME")
    if named:
        return Path(named)
    if sys.platform != "win32":
        import pwd

        return Path(pwd.getpwuid(os.getuid()).pw_dir)
    return Path(os.path.expanduser("~"))


def setting(
    default: Any = MISSING,
    *,
    doc: str,
    flag: bool = False,
    choices: tuple[str, ...] = (),
    shown: str = "",
    factory: Any = MISSING,
) -> Any:
    """A settings field: `doc` is its help text, `flag` gives it a `serve --name` option, `shown` describes
    a default that is computed."""
    metadata = {"doc": doc, "flag": flag, "choices": choices, "shown": shown}
    if factory is not MISSING:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Option:
    """One row of the settings table, as the command line and its help show it."""

    name: str
    kind: str  # bool, int, float, str or Path
    env: str
    flag: str | None
    doc: str
    default: str
    choices: tuple[str, ...]


@dataclass(frozen=True)
class Settings:
    host: str = setting("127.0.0.1", flag=True, doc="address to listen on; 0.0.0.0 accepts other machines")
    port: int = setting(
        5055, flag=True, doc="port to listen on; 0 picks a free one (the ready line shows it)"
    )
    data_dir: Path = setting(
        factory=default_data_dir,
        flag=True,
        doc="where state is kept: the database, dataset images, model bundles",
        shown="$XDG_DATA_HOME/lookoutvision-emulator or ~/.local/share/lookoutvision-emulator",
    )
    in_memory: bool = setting(False, flag=True, doc="keep nothing on disk (throwaway runs and tests)")
    database_url: str = setting(
        "",
        flag=True,
        doc="where state is kept: sqlite:///PATH, or postgresql://USER:PASSWORD@HOST:PORT/DB shared by replicas",
        shown="SQLite in the data directory",
    )
    lease_seconds: float = setting(
        15.0,
        doc="replicas on PostgreSQL: seconds before a lost replica's imports, trainings and jobs are ended",
    )
    storage_url: str = setting(
        "",
        flag=True,
        doc="where dataset images, masks and model bundles are kept: a folder, or s3://BUCKET/PREFIX shared by "
        "replicas (the data directory then caches it)",
        shown="the data directory",
    )
    bundle_cache: int = setting(
        16, doc="with S3 storage: model bundles each replica keeps in its data directory"
    )
    region: str = setting("us-east-1", flag=True, doc="region of requests without a SigV4 credential scope")
    account: str = setting("123456789012", doc="account of requests whose access key is not a 12-digit id")
    device: str = setting("cpu", flag=True, choices=DEVICES, doc="where onnxruntime runs hosted models")
    max_body_bytes: int = setting(
        16 * 1024 * 1024, doc="largest request body (8 MB images and 10 MiB dataset changes fit)"
    )
    inference_threads: int = setting(
        0, doc="onnxruntime threads per inference unit; 0 shares the cores among the minimum units"
    )
    queue_per_unit: int = setting(8, doc="requests waiting per busy unit before ThrottlingException")
    max_inference_units: int = setting(
        16, doc="inference units per model (each an onnxruntime session); more is a quota error"
    )
    scale_up_after: float = setting(0.5, doc="seconds a request waits before another unit is added")
    scale_down_after: float = setting(30.0, doc="quiet seconds before a unit above the minimum is removed")
    demo: bool = setting(False, flag=True, doc="create project 'demo' with its two models hosted")
    demo_dir: str = setting(
        "",
        doc="a folder with the demo bundles",
        shown="the bundles shipped in the package (server/demo_models)",
    )
    fixture_mode: bool = setting(
        False, flag=True, doc="for tests: state changes complete before the call returns, unless delayed"
    )
    delay_hosting: float = setting(0.0, doc="seconds a model stays STARTING_HOSTING at least")
    delay_stopping: float = setting(0.0, doc="seconds a model stays STOPPING_HOSTING at least")
    delay_training: float = setting(0.0, doc="seconds a model stays TRAINING at least")
    delay_dataset_import: float = setting(
        0.0, doc="seconds a dataset stays CREATE/UPDATE_IN_PROGRESS at least"
    )
    delay_packaging: float = setting(0.0, doc="seconds a packaging job stays RUNNING at least")
    s3_endpoint_url: str = setting(
        "",
        flag=True,
        doc="S3-compatible endpoint for manifests, model outputs and packaging",
        shown="boto3's own (AWS_ENDPOINT_URL_S3, its config)",
    )
    s3_connect_timeout: float = setting(5.0, doc="seconds to connect to S3 before the attempt fails")
    s3_read_timeout: float = setting(10.0, doc="seconds without a byte from S3 before the attempt fails")
    s3_max_attempts: int = setting(2, doc="S3 attempts per call, retries included")
    keep_alive_timeout: int = setting(5, doc="seconds an idle client connection stays open")
    body_timeout: float = setting(60.0, doc="seconds a request body may stall before a 408")
    header_timeout: float = setting(
        30.0, doc="seconds a request line and its headers may take; a slower client is disconnected"
    )
    max_header_bytes: int = setting(64 * 1024, doc="all request headers together")
    training_time_limit: float = setting(
        3600.0, doc="seconds before a training process is stopped (TRAINING_FAILED)"
    )
    dataset_root: str = setting(
        "", flag=True, doc="a folder whose manifests, images and masks datasets may read", shown="none"
    )
    local_bucket: str = setting(
        "lookoutvision-local", doc="the S3Object bucket name that means a file below the dataset root"
    )
    credentials: str = setting(
        "", doc="KEY:SECRET,... whose keys may sign L4V calls; turns checking on", shown="none"
    )
    credentials_file: str = setting(
        "", flag=True, doc="a file of KEY:SECRET lines (# comments) whose keys may sign; turns checking on",
        shown="none",
    )  # fmt: skip
    auth: str = setting(
        "none",
        flag=True,
        choices=AUTH_MODES,
        doc="sigv4: L4V calls must be signed, also by this environment's AWS_ACCESS_KEY_ID/SECRET pair",
    )
    log_level: str = setting("info", flag=True, choices=LOG_LEVELS, doc="the least severe messages logged")
    access_log: bool = setting(False, flag=True, doc="log every request: operation, status, milliseconds")
    # The Edge Agent gRPC API (server/edge/): `serve --edge` and `edge serve`
    edge: bool = setting(
        False, flag=True, doc="also serve the Edge Agent gRPC API, with this server's models as components"
    )
    edge_socket: str = setting(
        DEFAULT_EDGE_SOCKET,
        flag=True,
        doc="unix socket of the Edge Agent API; empty: none (then give --edge-tcp)",
    )
    edge_tcp: str = setting(
        "", flag=True, doc="HOST:PORT where the Edge Agent API also listens over TCP (port 0: a free one)",
        shown="none",
    )  # fmt: skip
    edge_max_running: int = setting(
        8, doc="Edge Agent models running at once; StartModel beyond is RESOURCE_EXHAUSTED"
    )

    @classmethod
    def table(cls) -> list[Option]:
        """Every setting with its variable, flag, help text and default, in declaration order."""
        options = []
        for spec in fields(cls):
            default = spec.metadata["shown"] or _shown(spec.default)
            flag = "--" + spec.name.replace("_", "-") if spec.metadata["flag"] else None
            options.append(
                Option(spec.name, str(spec.type), ENV_PREFIX + spec.name.upper(), flag, spec.metadata["doc"],
                       default, spec.metadata["choices"])
            )  # fmt: skip
        return options

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then the environment, then explicit overrides (None means 'not given').

        `environ` (default: this process's environment) is the only environment read, the data directory's
        default included.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in fields(cls):
            text = environ.get(ENV_PREFIX + spec.name.upper())
            if text is not None and text != "":
                values[spec.name] = _convert(spec.name, spec.type, text)
        values.update({key: value for key, value in overrides.items() if value is not None})
        values.setdefault("data_dir", default_data_dir(environ))
        settings = cls(**values)
        settings.check()
        settings.signing_keys(environ)  # a missing file or no key at all must stop start-up, not a request
        return settings

    def check(self) -> None:
        check_database_url(self.database_url)
        if self.database_url and self.in_memory:
            raise ValueError(
                "in_memory and database_url exclude each other: in_memory keeps the database in memory"
            )
        check_storage_url(self.storage_url)
        if self.storage_url and self.in_memory:
            raise ValueError(
                "in_memory and storage_url exclude each other: in_memory keeps files in a scratch folder"
            )
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, not {self.device!r}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, not {self.port}")
        check_scope(self.account, self.region)  # they name folders in the data directory
        parse_credentials(self.credentials)
        if self.log_level not in LOG_LEVELS:
            raise ValueError(f"log_level must be one of {', '.join(LOG_LEVELS)}, not {self.log_level!r}")
        if self.auth not in AUTH_MODES:
            raise ValueError(f"auth must be one of {', '.join(AUTH_MODES)}, not {self.auth!r}")
        if self.s3_connect_timeout <= 0 or self.s3_read_timeout <= 0 or self.s3_max_attempts < 1:
            raise ValueError("s3_connect_timeout and s3_read_timeout must be positive, s3_max_attempts >= 1")
        if self.keep_alive_timeout < 1 or self.body_timeout <= 0 or self.max_header_bytes < 1024:
            raise ValueError("keep_alive_timeout must be >= 1 s, body_timeout > 0, max_header_bytes >= 1024")
        if self.bundle_cache < 1:
            raise ValueError("bundle_cache must be at least 1")
        if self.lease_seconds < 1:
            raise ValueError("lease_seconds must be at least 1")
        if self.header_timeout <= 0:
            raise ValueError("header_timeout must be positive")
        if self.edge_max_running < 1:
            raise ValueError("edge_max_running must be at least 1")
        if self.max_body_bytes < 1:
            raise ValueError("max_body_bytes must be positive")
        if self.inference_threads < 0 or self.queue_per_unit < 0:
            raise ValueError("inference_threads and queue_per_unit must not be negative")
        if self.scale_up_after < 0 or self.scale_down_after < 0:
            raise ValueError("scale_up_after and scale_down_after must not be negative")
        for kind, seconds in self.delays.items():
            check_delay(kind, seconds)

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
        return {kind: getattr(self, f"delay_{kind}") for kind in KINDS}  # one field per kind

    @property
    def storage_dir(self) -> Path | None:
        return None if self.in_memory else Path(self.data_dir).expanduser()

    @property
    def files_dir(self) -> Path | None:
        """Where images, masks and model bundles go (with S3 storage: where they are cached)."""
        if self.storage_url and not self.storage_url.startswith("s3://"):
            return Path(self.storage_url).expanduser()
        return self.storage_dir


DATABASE_SCHEMES = ("sqlite:///", "postgresql://", "postgres://", "postgresql+psycopg://")


def check_database_url(url: str) -> None:
    """A light check at start-up (the store parses the URL fully when it connects)."""
    if url and not url.startswith(DATABASE_SCHEMES):
        raise ValueError(
            f"database_url must start with sqlite:/// or postgresql://, not {url.split(':')[0]!r}"
        )


def check_storage_url(url: str) -> None:
    if url.startswith("s3://"):
        if not url[len("s3://") :].split("/")[0]:
            raise ValueError(f"storage_url {url!r} names no bucket: s3://BUCKET/PREFIX")
    elif "://" in url:
        raise ValueError(
            f"storage_url must be a local folder or s3://BUCKET/PREFIX, not {url.split('://')[0]}://"
        )


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


def _shown(default: Any) -> str:
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default) if default != "" else "none"


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
