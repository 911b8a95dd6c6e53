"""The web console at /console: projects, datasets with their masks, models, and "try an image".

Pages are rendered on the server (Jinja2) and call the L4V operations in-process through the protocol
layer (`Dispatcher.invoke`), so every rule is the API's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from server.emulator import Emulator


def create_console(emulator: Emulator) -> ASGIApp:
    """The console as an ASGI app, to be mounted at /console (it links with the scope's root_path)."""
    from server.console.app import build
    from server.console.calls import Calls
    from server.console.media import Media

    settings = emulator.settings
    calls = Calls(lambda: emulator.dispatcher, settings.account, settings.region)
    return build(calls, Media(settings))
