"""The `lookoutvision-emulator` command: `serve`, `data-path`, `train` and `import-model`."""

from server.cli.main import READY_LINE, main

__all__ = ["READY_LINE", "main"]
