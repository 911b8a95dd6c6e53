"""Alembic's script folder: the schema's revisions, one per step; never edit one that has shipped."""
