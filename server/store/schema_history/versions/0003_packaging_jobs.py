"""Model packaging jobs; seq orders ListModelPackagingJobs by creation (user_version 3)."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "packaging_jobs",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("project", sa.Text, nullable=False),
        sa.Column("job_name", sa.Text, nullable=False),
        sa.Column("model_version", sa.Integer, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("method", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("status_message", sa.Text),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
        sa.Column("configuration", sa.Text, nullable=False),
        sa.Column("output", sa.Text),
        sa.UniqueConstraint("account", "region", "project", "job_name"),
        sqlite_autoincrement=True,
    )
