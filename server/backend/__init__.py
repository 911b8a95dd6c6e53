"""The rules and state of Lookout for Vision resources, in plain Python (no web framework)."""
