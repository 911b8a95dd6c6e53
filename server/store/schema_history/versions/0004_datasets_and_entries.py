"""Datasets and their entries; seq orders entries, images and masks live in blobs/ (user_version 4)."""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

_KEY = ("account", "region", "project", "dataset_type")


def upgrade() -> None:
    op.create_table(
        "datasets",
        *(sa.Column(name, sa.Text, nullable=False) for name in _KEY),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("status_message", sa.Text),
        sa.PrimaryKeyConstraint(*_KEY),
    )
    op.create_table(
        "dataset_entries",
        *(sa.Column(name, sa.Text, nullable=False) for name in _KEY),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("source_ref", sa.Text, nullable=False),
        sa.Column("line", sa.Text, nullable=False),
        sa.Column("label", sa.Text),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("image", sa.Text, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("mask", sa.Text),
        sa.PrimaryKeyConstraint(*_KEY, "source_ref"),
    )
    op.create_index("dataset_entries_by_seq", "dataset_entries", [*_KEY, "seq"])
