"""One thin function per operation: read the validated input, call the backend, shape the output.

Importing the resource modules registers their operations; an operation with no handler answers
NotImplementedException (501) until its issue lands.
"""

from server.handlers import datasets, hosting, models, packaging, projects, tags  # noqa: F401  (registers)
from server.handlers.registry import bind_handlers

__all__ = ["bind_handlers"]
