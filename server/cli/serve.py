"""`lookoutvision-emulator serve`: settings, the listening socket, logging, and uvicorn."""

from __future__ import annotations

import argparse
import contextlib
import logging
import logging.config
import socket
import sys
from typing import Any

from server.cli.logs import AccessLog, logging_config
from server.settings import Settings

READY_LINE = "lookoutvision-emulator ready on {url}"

log = logging.getLogger("lookoutvision_emulator")


def serve(args: argparse.Namespace) -> int:
    try:
        settings = Settings.load(**{option.name: getattr(args, option.name) for option in _flags()})
    except ValueError as error:
        print(f"lookoutvision-emulator: {error}", file=sys.stderr)
        return 2
    config = logging_config(settings.log_level)
    logging.config.dictConfig(config)
    keys = settings.signing_keys()
    if keys:  # say so, so that an operator can see the port is not open to everyone
        log.info("SigV4 signatures required: %d access keys", len(keys))
    if settings.demo:
        from server.demo import DemoBundlesMissing, demo_dir

        try:  # checked before anything is opened, so the message names the real cause
            demo_dir(settings.demo_dir)
        except DemoBundlesMissing as error:
            print(f"lookoutvision-emulator: --demo: {error}", file=sys.stderr)
            return 1
    try:
        listener = _listen(settings.host, settings.port)
    except OSError as error:
        print(
            f"lookoutvision-emulator: cannot listen on {settings.host}:{settings.port}: {error}",
            file=sys.stderr,
        )
        return 1

    # Imported here so `data-path` and `--help` stay instant.
    import uvicorn

    from server.app import create_app
    from server.cli.slow_clients import head_deadline_protocol
    from server.emulator import Emulator

    try:
        emulator = Emulator.open(settings)
        app: Any = create_app(settings, emulator=emulator)
    except Exception as error:  # a broken data directory must say why, not dump a traceback
        print(f"lookoutvision-emulator: cannot open the data directory: {error}", file=sys.stderr)
        return 1
    edge = None
    if settings.edge:  # the Edge Agent gRPC API in this process, over the same backend
        from server.cli.edge import start_beside

        edge = start_beside(settings, emulator.backend)
        if edge is None:
            emulator.close()
            return 1
    if settings.access_log:
        app = AccessLog(app)
    host, port = listener.getsockname()[:2]
    url = f"http://{_url_host(host)}:{port}"
    uvicorn_config = uvicorn.Config(
        app,
        log_config=config,  # uvicorn's own loggers come out under our names
        log_level=settings.log_level,
        access_log=False,  # AccessLog names the operation; uvicorn's would show only the path
        lifespan="on",
        # Bounds on what a client can hold: idle connections close, and shutdown does not wait forever
        # for them. The header limit applies where uvicorn offers one (its h11 parser).
        timeout_keep_alive=settings.keep_alive_timeout,
        timeout_graceful_shutdown=10,
        h11_max_incomplete_event_size=settings.max_header_bytes,
        http=head_deadline_protocol(settings.header_timeout),  # slow request heads are cut off
    )
    # uvicorn shuts down gracefully on Ctrl-C, then re-raises the signal it caught for callers that want
    # to know. Stopping is what Ctrl-C asks of a server: that is success, not an error.
    try:
        with contextlib.suppress(KeyboardInterrupt):
            _announcing_server(uvicorn_config, READY_LINE.format(url=url)).run(sockets=[listener])
    finally:
        if edge is not None:
            edge.stop()
    return 0


def _flags() -> list[Any]:
    return [option for option in Settings.table() if option.flag is not None]


def _announcing_server(config: Any, line: str) -> Any:
    """uvicorn's server, printing one stable line once it accepts connections."""
    import uvicorn

    class AnnouncingServer(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if not self.should_exit:
                print(line, flush=True)

    return AnnouncingServer(config)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only turns on TCP_NODELAY for sockets that name it, and without
    # it every response waits ~40 ms for the client's delayed ACK.
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    if sys.platform != "win32":
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(2048)
    listener.set_inheritable(True)
    return listener


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
