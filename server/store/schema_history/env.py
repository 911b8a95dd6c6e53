"""Alembic's entry: run the revisions on the connection the store hands over (server/store/database.py)."""

from alembic import context

from server.store.schema import metadata

context.configure(connection=context.config.attributes["connection"], target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
