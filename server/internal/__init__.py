"""The emulator's own endpoints (typed FastAPI routes): /_emulator/... and the API docs."""
