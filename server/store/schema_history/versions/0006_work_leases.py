"""Leases on background work (imports, trainings, packaging), so replicas notice a lost one (user_version 6)."""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "work_leases",
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("project", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("expires", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("kind", "account", "region", "project", "name"),
    )
    op.create_index("work_leases_by_expiry", "work_leases", ["expires"])
