"""The backend as one object: what handlers are given."""

from __future__ import annotations

from server.backend.projects import Projects
from server.protocol.pagination import PageTokens
from server.store.database import Database
from server.store.meta import page_token_secret
from server.store.projects import ProjectTable


class Backend:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.page_tokens = PageTokens(page_token_secret(database))
        self.projects = Projects(ProjectTable(database))

    def reset(self) -> None:
        """Forget every resource in every account and region."""
        self.database.wipe()
