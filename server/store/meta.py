"""Values the emulator keeps for itself, such as the secret that signs pagination tokens."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from server.store.database import Database, dialect_insert
from server.store.schema import meta


def page_token_secret(database: Database) -> bytes:
    """Created once per database, so tokens stay valid across restarts and replicas."""
    with database.transaction() as connection:
        # The first replica to get here writes it; the others read what it wrote.
        connection.execute(
            dialect_insert(connection, meta)
            .values(key="page_token_secret", value=secrets.token_bytes(32))
            .on_conflict_do_nothing()
        )
        return bytes(
            connection.execute(select(meta.c.value).where(meta.c.key == "page_token_secret")).scalar_one()
        )
