"""The `lookoutvision-emulator` command: `serve`, `data-path`, `train`, `import-model` and `edge serve`."""

from server.cli.main import main
from server.cli.serve import READY_LINE

__all__ = ["READY_LINE", "main"]
