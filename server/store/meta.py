"""Values the emulator keeps for itself, such as the secret that signs pagination tokens."""

from __future__ import annotations

import secrets

from server.store.database import Database


def page_token_secret(database: Database) -> bytes:
    """Created once per data directory, so tokens stay valid across restarts."""
    with database.transaction() as connection:
        row = connection.execute("SELECT value FROM meta WHERE key = 'page_token_secret'").fetchone()
        if row is not None:
            return bytes(row["value"])
        secret = secrets.token_bytes(32)
        connection.execute("INSERT INTO meta (key, value) VALUES ('page_token_secret', ?)", (secret,))
        return secret
