"""Helpers for people who test L4V code against the emulator."""

from server.testing.clients import client, session
from server.testing.process import EmulatorProcess

__all__ = ["EmulatorProcess", "client", "session"]
