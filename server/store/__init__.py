"""Persistence: one SQLite database in the data directory (or in memory for throwaway runs)."""
