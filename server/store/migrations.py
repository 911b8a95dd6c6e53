"""The schema, as an ordered list of steps. The database's `user_version` says how many have run.

Add a step to change the schema; never edit one that has shipped.
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
]

# Tables that hold emulated resources; a reset empties them (meta keeps the token-signing secret).
RESOURCE_TABLES: tuple[str, ...] = ("projects", "client_tokens")
