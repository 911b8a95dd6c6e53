"""A model version's facts in their own columns, moved out of the `details` JSON (user_version 5)."""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"

# column -> (type, path into the JSON)
_FACTS = {
    "task": (sa.Text, ("task",)),
    "source": (sa.Text, ("source",)),
    "output_bucket": (sa.Text, ("output_config", "S3Location", "Bucket")),
    "output_prefix": (sa.Text, ("output_config", "S3Location", "Prefix")),
    "kms_key_id": (sa.Text, ("kms_key_id",)),
    "f1_score": (sa.Float, ("performance", "F1Score")),
    "recall": (sa.Float, ("performance", "Recall")),
    "precision_score": (sa.Float, ("performance", "Precision")),
    "evaluation_manifest_key": (sa.Text, ("evaluation_manifest", "Key")),
    "evaluation_result_key": (sa.Text, ("evaluation_result", "Key")),
    "evaluation_end": (sa.Float, ("evaluation_end",)),
}


def _extract(dialect: str, column: str, kind: type, path: tuple[str, ...]) -> str:
    """SQL that reads one fact out of the JSON text (the paths are ours, never user input)."""
    if dialect == "sqlite":
        return f"json_extract(details, '$.{'.'.join(path)}')"
    text = f"(CAST(details AS jsonb) #>> '{{{','.join(path)}}}')"
    return f"CAST({text} AS double precision)" if kind is sa.Float else text


def upgrade() -> None:
    for column, (kind, _) in _FACTS.items():
        op.add_column("models", sa.Column(column, kind))
    dialect = op.get_bind().dialect.name
    assignments = ", ".join(
        f"{column} = {_extract(dialect, column, kind, path)}" for column, (kind, path) in _FACTS.items()
    )
    op.execute(f"UPDATE models SET {assignments}")
    op.drop_column("models", "details")
