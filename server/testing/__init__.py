"""Helpers for people who test L4V code against the emulator (they live in `lookoutvision_emulator`)."""

from lookoutvision_emulator import EmulatorProcess, RunningEmulator, client, data_path, session

__all__ = ["EmulatorProcess", "RunningEmulator", "client", "data_path", "session"]
