"""The backend as one object: what handlers are given."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

from server.backend import statuses
from server.backend.datasets import Datasets
from server.backend.hosting import Hosting, HostingSettings
from server.backend.leases import LOST_REPLICA, WorkLeases
from server.backend.lifecycle import ModelLifecycle
from server.backend.models import Models
from server.backend.packaging import Packaging
from server.backend.projects import Projects
from server.backend.scripted import ScriptedResults
from server.backend.timing import Timing
from server.backend.training import Training
from server.datasets.sources import Sources
from server.s3.client import S3, S3Limits
from server.store.blobs import Blobs
from server.store.database import Database
from server.store.datasets import DatasetTable
from server.store.files import ModelFiles
from server.store.leases import LeaseTable
from server.store.meta import page_token_secret
from server.store.models import ModelKey, ModelTable
from server.store.packaging import JobTable
from server.store.projects import ProjectTable
from server.store.remote import RemoteFiles


class Backend:
    def __init__(
        self,
        database: Database,
        files_root: Path,
        hosting: HostingSettings | None = None,
        timing: Timing | None = None,
        s3_endpoint_url: str | None = None,
        s3_limits: S3Limits | None = None,
        dataset_root: Path | None = None,
        local_bucket: str = "lookoutvision-local",
        training_time_limit: float = 3600.0,
        clock: Callable[[], float] = time.time,
        lease_seconds: float = 15.0,
        storage: RemoteFiles | None = None,
        bundle_cache: int = 16,
    ) -> None:
        """`storage`: S3 storage shared by replicas, `files_root` then caches it (bundles: at most
        `bundle_cache`)."""
        """`clock` gives every timestamp the backend records (tests pass a fake one)."""
        self.database = database
        self.page_token_secret = page_token_secret(database)  # signs List* tokens (handlers/paging.py)
        self.projects = Projects(ProjectTable(database), clock)
        self.files = ModelFiles(files_root, storage, bundle_cache)
        self.files.remove_leftovers()
        model_table = ModelTable(database)
        self.lifecycle = ModelLifecycle(model_table, clock)
        self.models = Models(model_table, self.projects, self.files, self.lifecycle)
        self.timing = timing or Timing(immediate=False, delays={})
        self.scripts = ScriptedResults()
        self.hosting = Hosting(self.models, hosting or HostingSettings(), self.timing, self.scripts)
        s3 = S3(s3_endpoint_url, s3_limits)
        self.packaging = Packaging(JobTable(database), self.models, self.timing, s3, clock)
        self.blobs = Blobs(files_root, storage)
        dataset_table = DatasetTable(database)
        self.datasets = Datasets(
            dataset_table,
            self.projects,
            self.blobs,
            lambda region: Sources(s3, region, dataset_root, local_bucket),
            self.timing,
            clock,
        )
        self.work_dir = files_root / "work"
        self.leases: WorkLeases | None = None
        if database.is_shared:  # replicas: background work is leased (backend/leases.py)
            self.leases = self._lease_work(lease_seconds, clock)
            self.work_dir = files_root / "work" / self.leases.owner  # the other replicas' work is theirs
        self.training = Training(
            self.models, dataset_table, self.blobs, self.timing, s3, training_time_limit, self.work_dir, clock
        )

    def _lease_work(self, seconds: float, clock: Callable[[], float]) -> WorkLeases:
        leases = WorkLeases(LeaseTable(self.database), seconds, clock)
        self.timing.leases = leases
        self.hosting.shared = True
        lifecycle, models = self.lifecycle, self.lifecycle.table

        def model_key(key: tuple[str, str, str, str]) -> ModelKey:
            return ModelKey(key[0], key[1], key[2], int(key[3]))

        def with_status(status: str) -> Callable[[], set[tuple[str, str, str, str]]]:
            return lambda: {
                (r.key.account, r.key.region, r.key.project, str(r.key.version))
                for r in models.with_status((status,))
            }

        leases.on_lost("training", lambda key: lifecycle.training_failed(model_key(key), f"{LOST_REPLICA} during "
                       "training; train again."), with_status(statuses.TRAINING))  # fmt: skip
        leases.on_lost("hosting", lambda key: lifecycle.hosting_failed(model_key(key), f"{LOST_REPLICA} while it "
                       "loaded the model; start it again."), with_status(statuses.STARTING_HOSTING))  # fmt: skip
        leases.on_lost("stopping", lambda key: lifecycle.hosting_stopped(model_key(key)),
                       with_status(statuses.STOPPING_HOSTING))  # fmt: skip
        leases.on_lost("dataset_import", lambda key: self.datasets.lost(key, LOST_REPLICA),
                       self.datasets.in_progress)  # fmt: skip
        leases.on_lost("packaging", lambda key: self.packaging.lost(key, LOST_REPLICA),
                       self.packaging.in_progress)  # fmt: skip
        leases.every_sweep(self.hosting.notice_stopped)
        return leases

    def recover(self) -> None:
        """At server start-up, after a stop or a crash (kill -9): nothing stays in a transitional state,
        and no half-written file is left. Only the server calls this: the CLI's import and train commands
        open the same data directory while a server may be running, and must not touch its work.

        Replicas on a shared database: the other replicas' work goes on; what a lost replica left is
        ended by the lease sweep, and hosted models are loaded on first use, so only this replica's own
        sweep starts here."""
        if self.leases is not None:
            self.leases.start()
            return
        # TRAINING: TRAINING_FAILED; STOPPING_HOSTING: TRAINED; HOSTED, STARTING_HOSTING: host again;
        # DELETING: finish the deletion
        to_host, to_delete = self.lifecycle.recover()
        self.models.finish_deletions(to_delete)
        self.hosting.host_again(to_host)
        self.packaging.recover()  # CREATED, RUNNING: FAILED
        self.datasets.recover()  # CREATE_IN_PROGRESS: CREATE_FAILED; updates: rolled back
        self.files.remove_staging()
        self.blobs.remove_staging()
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def reset(self) -> None:
        """Forget every resource in every account and region, scripted results and changed delays."""
        self.hosting.close()
        self.database.wipe()
        self.files.wipe()
        self.blobs.wipe()
        self.scripts.clear()
        self.timing.restore()

    def close(self) -> None:
        if self.leases is not None:
            self.leases.close()
        self.hosting.close()
        self.database.close()
