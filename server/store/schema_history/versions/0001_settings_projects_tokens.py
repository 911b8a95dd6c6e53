"""Settings, projects, client tokens (SQLite user_version 1)."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "projects",
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("account", "region", "name"),
    )
    op.create_table(
        "client_tokens",
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("operation", sa.Text, nullable=False),
        sa.Column("token", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("headers", sa.Text, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("account", "region", "operation", "token"),
    )
