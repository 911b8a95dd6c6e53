"""The running emulator's parts, wired together once per process."""

from __future__ import annotations

from dataclasses import dataclass

from botocore.model import OperationModel

from server.backend import errors
from server.backend.service import Backend
from server.handlers import bind_handlers
from server.protocol.dispatcher import Dispatcher
from server.protocol.errors import ServiceError
from server.settings import Settings
from server.spec import service_model
from server.store.client_tokens import ClientTokenTable
from server.store.database import Database

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


@dataclass
class Emulator:
    settings: Settings
    database: Database
    backend: Backend
    dispatcher: Dispatcher

    @classmethod
    def open(cls, settings: Settings) -> Emulator:
        database = Database(settings.storage_dir)
        backend = Backend(database)
        dispatcher = Dispatcher(
            service_model(),
            bind_handlers(backend),
            default_account=settings.account,
            default_region=settings.region,
            tokens=ClientTokenTable(database),
            token_reuse_error=token_reuse_error,
        )
        return cls(settings, database, backend, dispatcher)

    def close(self) -> None:
        self.database.close()
