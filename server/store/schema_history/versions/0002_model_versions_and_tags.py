"""Model versions (a per-project counter that never goes back) and their tags (user_version 2)."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

_KEY = ("account", "region", "project", "version")


def upgrade() -> None:
    op.add_column("projects", sa.Column("last_model_version", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "models",
        *(sa.Column(name, sa.Text, nullable=False) for name in _KEY[:3]),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("status_message", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("details", sa.Text, nullable=False, server_default="{}"),
        sa.Column("min_units", sa.Integer),
        sa.Column("max_units", sa.Integer),
        sa.PrimaryKeyConstraint(*_KEY),
    )
    op.create_table(
        "model_tags",
        *(sa.Column(name, sa.Text, nullable=False) for name in _KEY[:3]),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint(*_KEY, "key"),
        sa.ForeignKeyConstraint(_KEY, [f"models.{name}" for name in _KEY], ondelete="CASCADE"),
    )
