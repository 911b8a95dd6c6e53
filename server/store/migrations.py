"""The schema's history before Alembic: the SQLite steps that `PRAGMA user_version` counted.

Frozen: change the schema with a new Alembic revision in schema_history/versions/ (and schema.py).
Step N here is revision N there (`"000N"`); a SQLite database at user_version N is stamped at that
revision and upgraded. Tests build old data directories from these steps.
"""

MIGRATIONS: list[str] = [
    # 1: settings, projects, client tokens
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value BLOB NOT NULL
    );
    CREATE TABLE projects (
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        name TEXT NOT NULL,
        created REAL NOT NULL,
        PRIMARY KEY (account, region, name)
    );
    CREATE TABLE client_tokens (
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        operation TEXT NOT NULL,
        token TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        status INTEGER NOT NULL,
        headers TEXT NOT NULL,
        body BLOB NOT NULL,
        created REAL NOT NULL,
        PRIMARY KEY (account, region, operation, token)
    );
    """,
    # 2: model versions (a per-project counter that never goes back) and their tags
    """
    ALTER TABLE projects ADD COLUMN last_model_version INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE models (
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        project TEXT NOT NULL,
        version INTEGER NOT NULL,
        created REAL NOT NULL,
        status TEXT NOT NULL,
        status_message TEXT,
        description TEXT,
        details TEXT NOT NULL DEFAULT '{}',
        min_units INTEGER,
        max_units INTEGER,
        PRIMARY KEY (account, region, project, version)
    );
    CREATE TABLE model_tags (
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        project TEXT NOT NULL,
        version INTEGER NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (account, region, project, version, key),
        FOREIGN KEY (account, region, project, version)
            REFERENCES models (account, region, project, version) ON DELETE CASCADE
    );
    """,
    # 3: model packaging jobs (seq orders ListModelPackagingJobs by creation)
    """
    CREATE TABLE packaging_jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        project TEXT NOT NULL,
        job_name TEXT NOT NULL,
        model_version INTEGER NOT NULL,
        description TEXT,
        method TEXT NOT NULL,
        status TEXT NOT NULL,
        status_message TEXT,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        configuration TEXT NOT NULL,
        output TEXT,
        UNIQUE (account, region, project, job_name)
    );
    """,
    # 4: datasets and their entries (seq orders entries; images and masks live in blobs/ by content)
    """
    CREATE TABLE datasets (
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        project TEXT NOT NULL,
        dataset_type TEXT NOT NULL,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        status TEXT NOT NULL,
        status_message TEXT,
        PRIMARY KEY (account, region, project, dataset_type)
    );
    CREATE TABLE dataset_entries (
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        project TEXT NOT NULL,
        dataset_type TEXT NOT NULL,
        seq INTEGER NOT NULL,
        source_ref TEXT NOT NULL,
        line TEXT NOT NULL,
        label TEXT,
        created REAL NOT NULL,
        image TEXT NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        mask TEXT,
        PRIMARY KEY (account, region, project, dataset_type, source_ref)
    );
    CREATE INDEX dataset_entries_by_seq ON dataset_entries (account, region, project, dataset_type, seq);
    """,
    # 5: a model version's facts in their own columns, moved out of the `details` JSON
    """
    ALTER TABLE models ADD COLUMN task TEXT;
    ALTER TABLE models ADD COLUMN source TEXT;
    ALTER TABLE models ADD COLUMN output_bucket TEXT;
    ALTER TABLE models ADD COLUMN output_prefix TEXT;
    ALTER TABLE models ADD COLUMN kms_key_id TEXT;
    ALTER TABLE models ADD COLUMN f1_score REAL;
    ALTER TABLE models ADD COLUMN recall REAL;
    ALTER TABLE models ADD COLUMN precision_score REAL;
    ALTER TABLE models ADD COLUMN evaluation_manifest_key TEXT;
    ALTER TABLE models ADD COLUMN evaluation_result_key TEXT;
    ALTER TABLE models ADD COLUMN evaluation_end REAL;
    UPDATE models SET
        task = json_extract(details, '$.task'),
        source = json_extract(details, '$.source'),
        output_bucket = json_extract(details, '$.output_config.S3Location.Bucket'),
        output_prefix = json_extract(details, '$.output_config.S3Location.Prefix'),
        kms_key_id = json_extract(details, '$.kms_key_id'),
        f1_score = json_extract(details, '$.performance.F1Score'),
        recall = json_extract(details, '$.performance.Recall'),
        precision_score = json_extract(details, '$.performance.Precision'),
        evaluation_manifest_key = json_extract(details, '$.evaluation_manifest.Key'),
        evaluation_result_key = json_extract(details, '$.evaluation_result.Key'),
        evaluation_end = json_extract(details, '$.evaluation_end');
    ALTER TABLE models DROP COLUMN details;
    """,
]

# The newest Alembic revision; tests/store/test_migrations.py checks it against schema_history/.
HEAD_REVISION = "0006"


def revision_of_user_version(user_version: int) -> str:
    """The Alembic revision a SQLite database at `user_version` is at (1..5 from before Alembic; after
    that, each revision sets user_version to its own number)."""
    if not 1 <= user_version <= int(HEAD_REVISION):
        raise ValueError(f"no revision for user_version {user_version}")
    return f"{user_version:04d}"
