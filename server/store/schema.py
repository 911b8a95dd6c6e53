"""The schema as it is after the newest revision, in SQLAlchemy Core terms, for SQLite and PostgreSQL.

The revisions in schema_history/versions/ say how a database gets here; tests/store/test_migrations.py
checks that both end at exactly this. A new database is created from these tables directly and stamped
at the newest revision (no Alembic import on start-up).
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", LargeBinary, nullable=False),
)

projects = Table(
    "projects",
    metadata,
    Column("account", Text, nullable=False),
    Column("region", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("created", Float, nullable=False),
    Column("last_model_version", Integer, nullable=False, server_default="0"),
    PrimaryKeyConstraint("account", "region", "name"),
)

client_tokens = Table(
    "client_tokens",
    metadata,
    Column("account", Text, nullable=False),
    Column("region", Text, nullable=False),
    Column("operation", Text, nullable=False),
    Column("token", Text, nullable=False),
    Column("fingerprint", Text, nullable=False),
    Column("status", Integer, nullable=False),
    Column("headers", Text, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("created", Float, nullable=False),
    PrimaryKeyConstraint("account", "region", "operation", "token"),
)

models = Table(
    "models",
    metadata,
    Column("account", Text, nullable=False),
    Column("region", Text, nullable=False),
    Column("project", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created", Float, nullable=False),
    Column("status", Text, nullable=False),
    Column("status_message", Text),
    Column("description", Text),
    Column("min_units", Integer),
    Column("max_units", Integer),
    Column("task", Text),
    Column("source", Text),
    Column("output_bucket", Text),
    Column("output_prefix", Text),
    Column("kms_key_id", Text),
    Column("f1_score", Float),
    Column("recall", Float),
    Column("precision_score", Float),
    Column("evaluation_manifest_key", Text),
    Column("evaluation_result_key", Text),
    Column("evaluation_end", Float),
    PrimaryKeyConstraint("account", "region", "project", "version"),
)

model_tags = Table(
    "model_tags",
    metadata,
    Column("account", Text, nullable=False),
    Column("region", Text, nullable=False),
    Column("project", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("key", Text, nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("account", "region", "project", "version", "key"),
    ForeignKeyConstraint(
        ["account", "region", "project", "version"],
        ["models.account", "models.region", "models.project", "models.version"],
        ondelete="CASCADE",
    ),
)

packaging_jobs = Table(
    "packaging_jobs",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),  # orders ListModelPackagingJobs
    Column("account", Text, nullable=False),
    Column("region", Text, nullable=False),
    Column("project", Text, nullable=False),
    Column("job_name", Text, nullable=False),
    Column("model_version", Integer, nullable=False),
    Column("description", Text),
    Column("method", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("status_message", Text),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    Column("configuration", Text, nullable=False),
    Column("output", Text),
    UniqueConstraint("account", "region", "project", "job_name"),
    sqlite_autoincrement=True,  # a deleted job's number is never handed out again
)

datasets = Table(
    "datasets",
    metadata,
    Column("account", Text, nullable=False),
    Column("region", Text, nullable=False),
    Column("project", Text, nullable=False),
    Column("dataset_type", Text, nullable=False),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    Column("status", Text, nullable=False),
    Column("status_message", Text),
    PrimaryKeyConstraint("account", "region", "project", "dataset_type"),
)

dataset_entries = Table(
    "dataset_entries",
    metadata,
    Column("account", Text, nullable=False),
    Column("region", Text, nullable=False),
    Column("project", Text, nullable=False),
    Column("dataset_type", Text, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("source_ref", Text, nullable=False),
    Column("line", Text, nullable=False),
    Column("label", Text),
    Column("created", Float, nullable=False),
    Column("image", Text, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("mask", Text),
    PrimaryKeyConstraint("account", "region", "project", "dataset_type", "source_ref"),
    Index("dataset_entries_by_seq", "account", "region", "project", "dataset_type", "seq"),
)

# Background work in progress and the replica doing it; a lease that is not renewed has lost its replica.
work_leases = Table(
    "work_leases",
    metadata,
    Column("kind", Text, nullable=False),  # dataset_import, training, packaging
    Column("account", Text, nullable=False),
    Column("region", Text, nullable=False),
    Column("project", Text, nullable=False),
    Column("name", Text, nullable=False),  # the dataset type, model version or job name
    Column("owner", Text, nullable=False),  # the replica's id
    Column("expires", Float, nullable=False),
    PrimaryKeyConstraint("kind", "account", "region", "project", "name"),
    Index("work_leases_by_expiry", "expires"),
)

# Tables that hold emulated resources; a reset empties them (meta keeps the token-signing secret).
RESOURCE_TABLES: tuple[Table, ...] = (
    dataset_entries, datasets, packaging_jobs, model_tags, models, projects, client_tokens, work_leases
)  # fmt: skip

# Alembic's own bookkeeping table, as Alembic creates it; kept apart from `metadata` (not our schema).
alembic_version = Table(
    "alembic_version",
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)
