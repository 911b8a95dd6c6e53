"""Remembered answers to requests that carried a client token (the protocol layer decides what to replay)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import and_, select

from server.store.database import Database, dialect_insert
from server.store.schema import client_tokens

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
        columns = client_tokens.c
        rows = self.database.query(
            select(columns.fingerprint, columns.status, columns.headers, columns.body).where(
                _key(key), columns.created > newer_than
            )
        )
        if not rows:
            return None
        fingerprint, status, headers, body = rows[0]
        return StoredAnswer(fingerprint, status, json.loads(headers), bytes(body))

    def remember(
        self, key: TokenKey, fingerprint: str, status: int, headers: dict[str, str], body: bytes
    ) -> None:
        values = {
            "fingerprint": fingerprint, "status": status, "headers": json.dumps(headers), "body": body,
            "created": time.time(),
        }  # fmt: skip
        with self.database.transaction() as connection:
            statement = dialect_insert(connection, client_tokens).values(
                account=key[0], region=key[1], operation=key[2], token=key[3], **values
            )
            connection.execute(
                statement.on_conflict_do_update(
                    index_elements=["account", "region", "operation", "token"], set_=values
                )
            )

    def forget_older_than(self, moment: float) -> None:
        with self.database.transaction() as connection:
            connection.execute(client_tokens.delete().where(client_tokens.c.created <= moment))


def _key(key: TokenKey):
    columns = client_tokens.c
    return and_(
        columns.account == key[0],
        columns.region == key[1],
        columns.operation == key[2],
        columns.token == key[3],
    )


class TokenLocks:
    """Requests with the same token run one after the other: in this process (striped locks), and across
    replicas that share a PostgreSQL database (an advisory lock per token), so a token sent to two
    replicas at once does its work once and the second request replays the first answer."""

    def __init__(self, database: Database, stripes: int = 64) -> None:
        self.database = database
        self._locks = [threading.Lock() for _ in range(stripes)]

    @contextmanager
    def for_key(self, key: TokenKey) -> Iterator[None]:
        with (
            self._locks[hash(tuple(key)) % len(self._locks)],
            self.database.exclusive("token\x1f" + "\x1f".join(key)),
        ):
            yield
