"""Remembered answers to requests that carried a client token (see protocol.idempotency)."""

from __future__ import annotations

import json
import time

from server.protocol.http import HttpResponse
from server.protocol.idempotency import Remembered, TokenKey
from server.store.database import Database


class ClientTokenTable:
    def __init__(self, database: Database) -> None:
        self.database = database

    def recall(self, key: TokenKey, newer_than: float) -> Remembered | None:
        rows = self.database.query(
            "SELECT fingerprint, status, headers, body FROM client_tokens "
            "WHERE account = ? AND region = ? AND operation = ? AND token = ? AND created > ?",
            (key.account, key.region, key.operation, key.token, newer_than),
        )
        if not rows:
            return None
        row = rows[0]
        response = HttpResponse(row["status"], json.loads(row["headers"]), bytes(row["body"]))
        return Remembered(fingerprint=row["fingerprint"], response=response)

    def remember(self, key: TokenKey, fingerprint: str, response: HttpResponse) -> None:
        with self.database.transaction() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO client_tokens "
                "(account, region, operation, token, fingerprint, status, headers, body, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key.account,
                    key.region,
                    key.operation,
                    key.token,
                    fingerprint,
                    response.status,
                    json.dumps(response.headers),
                    response.body,
                    time.time(),
                ),
            )

    def forget_older_than(self, moment: float) -> None:
        with self.database.transaction() as connection:
            connection.execute("DELETE FROM client_tokens WHERE created <= ?", (moment,))
