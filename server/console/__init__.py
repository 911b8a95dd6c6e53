"""The web console at /console: projects, datasets with their masks, models, and "try an image".

Pages are rendered on the server (Jinja2) and call the L4V operations in-process through the protocol
layer (`Dispatcher.invoke`), so every rule is the API's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from server.emulator import Emulator


class _Console:
    """Built on its first request: Jinja2, Pillow and the pages cost the API's start-up nothing."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is None:
            from server.console.app import build
            from server.console.calls import Calls
            from server.console.media import Media

            settings = self.emulator.settings
            calls = Calls(lambda: self.emulator.dispatcher, settings.account, settings.region)
            self.app = build(calls, Media(settings))
        await self.app(scope, receive, send)


def create_console(emulator: Emulator) -> ASGIApp:
    """The console as an ASGI app, to be mounted at /console (it links with the scope's root_path)."""
    return _Console(emulator)
