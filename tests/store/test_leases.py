"""Work leases on a real PostgreSQL: one claimer per expired lease, and work left with no lease ends."""

from __future__ import annotations

import threading

from server.backend.assembly import Backend
from server.backend.datasets import CREATE_FAILED, CREATE_IN_PROGRESS
from server.backend.scope import Scope
from server.store.database import Database
from server.store.datasets import DatasetRecord
from server.store.leases import LeaseTable

KEY = ("123456789012", "us-east-1", "parts", "train")


def test_an_expired_lease_is_claimed_by_exactly_one_replica(postgres):
    url = postgres.new_database()
    databases = [Database(None, url) for _ in range(4)]
    LeaseTable(databases[0]).hold("training", KEY, "gone", expires=1.0)
    LeaseTable(databases[0]).hold("training", (*KEY[:3], "2"), "alive", expires=10**12)
    claimed: list = []
    start = threading.Barrier(len(databases))

    def claim(database: Database) -> None:
        start.wait()
        claimed.extend(LeaseTable(database).claim_expired(now=100.0))

    threads = [threading.Thread(target=claim, args=(database,)) for database in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [(lease.key, lease.owner) for lease in claimed] == [(KEY, "gone")]
    assert LeaseTable(databases[0]).held("training") == {(*KEY[:3], "2")}
    for database in databases:
        database.close()


def test_work_in_progress_with_no_lease_ends_after_two_sweeps(postgres, tmp_path):
    database = Database(None, postgres.new_database())
    backend = Backend(database, tmp_path, lease_seconds=60)
    try:
        assert backend.leases is not None
        backend.projects.create(Scope(*KEY[:2]), "parts")
        # What a replica leaves when it dies between marking the import and taking its lease.
        backend.datasets.table.insert(DatasetRecord(*KEY, 1.0, 1.0, CREATE_IN_PROGRESS))
        backend.leases.sweep()
        assert backend.datasets.table.get(KEY).status == CREATE_IN_PROGRESS  # seen once: it may be starting
        backend.leases.sweep()
        ended = backend.datasets.table.get(KEY)
        assert ended.status == CREATE_FAILED and "replica" in ended.status_message

        # Leased work is left alone, however many sweeps see it.
        backend.datasets.table.insert(DatasetRecord(*KEY[:3], "test", 1.0, 1.0, CREATE_IN_PROGRESS))
        backend.leases.hold("dataset_import", (*KEY[:3], "test"))
        for _ in range(3):
            backend.leases.sweep()
        assert backend.datasets.table.get((*KEY[:3], "test")).status == CREATE_IN_PROGRESS
    finally:
        backend.close()
