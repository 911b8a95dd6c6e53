"""The emulator's own endpoints under /_emulator/: health, reset."""
