"""Remembered answers to requests that carried a client token (the protocol layer decides what to replay)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from server.store.database import Database

# (account, region, operation, token)
TokenKey = tuple[str, str, str, str]


@dataclass(frozen=True)
class StoredAnswer:
    fingerprint: str
    status: int
    headers: dict[str, str]
    body: bytes


class ClientTokenTable:
    def __init__(self, database: Database) -> None:
        self.database = database

    def recall(self, key: TokenKey, newer_than: float) -> StoredAnswer | None:
        rows = self.database.query(
            "SELECT fingerprint, status, headers, body FROM client_tokens "
            "WHERE account = ? AND region = ? AND operation = ? AND token = ? AND created > ?",
            (*key, newer_than),
        )
        if not rows:
            return None
        row = rows[0]
        return StoredAnswer(row["fingerprint"], row["status"], json.loads(row["headers"]), bytes(row["body"]))

    def remember(
        self, key: TokenKey, fingerprint: str, status: int, headers: dict[str, str], body: bytes
    ) -> None:
        with self.database.transaction() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO client_tokens "
                "(account, region, operation, token, fingerprint, status, headers, body, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*key, fingerprint, status, json.dumps(headers), body, time.time()),
            )

    def forget_older_than(self, moment: float) -> None:
        with self.database.transaction() as connection:
            connection.execute("DELETE FROM client_tokens WHERE created <= ?", (moment,))
