"""The running emulator's parts, wired together once per process."""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from botocore.model import OperationModel

from server.backend.assembly import Backend
from server.backend.hosting import HostingSettings
from server.backend.scope import Scope
from server.backend.timing import Timing
from server.handlers import bind_handlers
from server.handlers.replays import effect_holds
from server.protocol import signing
from server.protocol.dispatcher import Dispatcher
from server.protocol.idempotency import TOKEN_LIFETIME_SECONDS
from server.s3.client import S3, S3Limits
from server.settings import Settings
from server.spec import errors, service_model
from server.spec.errors import ServiceError
from server.store.client_tokens import ClientTokenTable, TokenLocks
from server.store.database import Database
from server.store.remote import RemoteFiles, parse_storage_url

# The resource each token-carrying operation acts on, for the ConflictException of a reused token.
_TOKEN_RESOURCE = {
    "CreateProject": errors.PROJECT,
    "DeleteProject": errors.PROJECT,
    "CreateDataset": errors.DATASET,
    "DeleteDataset": errors.DATASET,
    "UpdateDatasetEntries": errors.DATASET,
    "CreateModel": errors.MODEL,
    "DeleteModel": errors.MODEL,
    "StartModel": errors.MODEL,
    "StopModel": errors.MODEL,
    "StartModelPackagingJob": errors.MODEL_PACKAGE_JOB,
}


def token_reuse_error(operation: OperationModel, token: str) -> ServiceError:
    return errors.conflict(
        _TOKEN_RESOURCE.get(operation.name, errors.PROJECT),
        token,
        f"Client token {token} was already used with different parameters for {operation.name}",
    )


def open_backend(settings: Settings, database: Database, files_root: Path) -> Backend:
    """The backend as the settings describe it: the server's, and the `train` and `import-model`
    commands' (which write into the same database and file storage, and start no background work)."""
    hosting = HostingSettings(
        device=settings.device,
        threads=settings.inference_threads,
        queue_per_unit=settings.queue_per_unit,
        grow_after=settings.scale_up_after,
        shrink_after=settings.scale_down_after,
        max_units=settings.max_inference_units,
    )
    s3_limits = S3Limits(settings.s3_connect_timeout, settings.s3_read_timeout, settings.s3_max_attempts)
    storage = None
    if settings.storage_url.startswith("s3://"):  # shared by replicas; files_root caches it
        bucket, prefix = parse_storage_url(settings.storage_url)
        storage = RemoteFiles(
            S3(settings.s3_endpoint_url or None, s3_limits), settings.region, bucket, prefix
        )
    return Backend(
        database,
        files_root,
        hosting,
        Timing(immediate=settings.fixture_mode, delays=settings.delays),
        s3_endpoint_url=settings.s3_endpoint_url or None,
        s3_limits=s3_limits,
        dataset_root=Path(settings.dataset_root).expanduser() if settings.dataset_root else None,
        local_bucket=settings.local_bucket,
        training_time_limit=settings.training_time_limit,
        lease_seconds=settings.lease_seconds,
        storage=storage,
        bundle_cache=settings.bundle_cache,
    )


@dataclass
class Emulator:
    settings: Settings
    database: Database
    backend: Backend
    dispatcher: Dispatcher

    scratch: tempfile.TemporaryDirectory | None = None  # model files of an in-memory run

    @classmethod
    def open(cls, settings: Settings) -> Emulator:
        database = Database(settings.storage_dir, settings.database_url)
        scratch = (
            tempfile.TemporaryDirectory(prefix="lookoutvision-emulator-") if settings.in_memory else None
        )
        files_root = Path(scratch.name) if scratch else settings.files_dir
        assert files_root is not None  # a data directory, or the scratch folder of an in-memory run
        backend = open_backend(settings, database, files_root)
        secrets = settings.signing_keys()
        dispatcher = Dispatcher(
            service_model(),
            bind_handlers(backend),
            default_account=settings.account,
            default_region=settings.region,
            tokens=ClientTokenTable(database),
            token_locks=TokenLocks(database),
            token_reuse_error=token_reuse_error,
            replay_holds=lambda context, name, params, body: effect_holds(
                backend, Scope.of(context), name, params, json.loads(body or b"{}")
            ),
            authenticate=partial(signing.verify, secrets=secrets) if secrets else None,
        )
        ClientTokenTable(database).forget_older_than(time.time() - TOKEN_LIFETIME_SECONDS)
        emulator = cls(settings, database, backend, dispatcher, scratch)
        backend.recover()
        if settings.demo:
            from server.demo import demo_dir, install_demo

            install_demo(
                backend, Scope(settings.account, settings.region), folder=demo_dir(settings.demo_dir)
            )
        return emulator

    def error_response(self, error: ServiceError):
        """An AWS-style error answer for the emulator's own endpoints."""
        from server.protocol.asgi import to_response
        from server.protocol.serializing import serialize_error

        return to_response(serialize_error(self.dispatcher.service, error))

    def close(self) -> None:
        self.backend.close()
        if self.scratch is not None:
            self.scratch.cleanup()
