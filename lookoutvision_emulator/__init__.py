"""Use lookoutvision-emulator from tests and scripts.

This package never imports the server's own package (import name `server`, a common name in users'
projects): it starts the server as a child process and talks to it over HTTP, so a project with its own
`server` module keeps it.
"""

from lookoutvision_emulator.clients import client, data_path, session
from lookoutvision_emulator.control import RunningEmulator
from lookoutvision_emulator.process import EmulatorProcess

__all__ = ["EmulatorProcess", "RunningEmulator", "client", "data_path", "session"]
