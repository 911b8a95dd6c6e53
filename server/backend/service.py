"""The backend as one object: what handlers are given."""

from __future__ import annotations

from pathlib import Path

from server.backend.hosting import Hosting, HostingSettings
from server.backend.models import Models
from server.backend.projects import Projects
from server.protocol.pagination import PageTokens
from server.store.database import Database
from server.store.files import ModelFiles
from server.store.meta import page_token_secret
from server.store.models import ModelTable
from server.store.projects import ProjectTable


class Backend:
    def __init__(self, database: Database, files_root: Path, hosting: HostingSettings | None = None) -> None:
        self.database = database
        self.page_tokens = PageTokens(page_token_secret(database))
        self.projects = Projects(ProjectTable(database))
        self.files = ModelFiles(files_root)
        model_table = ModelTable(database)
        self.models = Models(model_table, self.projects, self.files)
        self.hosting = Hosting(self.models, model_table, hosting or HostingSettings())

    def reset(self) -> None:
        """Forget every resource in every account and region."""
        self.hosting.close()
        self.database.wipe()
        self.files.wipe()

    def close(self) -> None:
        self.hosting.close()
        self.database.close()
